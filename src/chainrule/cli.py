"""The ``chainrule`` command: train, evaluate, predict, inspect and gradient-check models.

``chainrule train`` with no arguments is the seeds' job: a 2-4-1 tanh/sigmoid network trained
by full-batch gradient descent (learning rate 1.2) on the flower data set.  Every command
answers ``--help`` with examples.  Heavy libraries (NumPy's users, matplotlib, scikit-learn)
are imported inside the commands that need them, so ``chainrule --help`` answers at once.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Sequence
from typing import Any

__all__ = ["main"]

PROG = "chainrule"

_MAIN_EXAMPLES = """\
examples:
  chainrule train                                   # the seeds' 2-4-1 network on the flower set
  chainrule train --data houses.csv --target price --layers 64,32 --epochs 100
  chainrule train --dataset digits --optimizer adam --lr 1e-3 --epochs 30
  chainrule info runs/flower/model.safetensors
  chainrule evaluate runs/flower/model.safetensors --dataset flower
  chainrule predict runs/iris/model.safetensors --data new.csv --out predictions.csv
  chainrule gradcheck runs/flower/model.safetensors --dataset flower
  chainrule demo                                    # the seeds' worked example, step by step

Run 'chainrule COMMAND --help' for each command's options."""

_TRAIN_EXAMPLES = """\
examples:
  chainrule train
      the seeds' job: 2-4-1 tanh/sigmoid network, full-batch gradient descent (lr 1.2,
      10,000 epochs) on the flower set; writes runs/flower/{model.safetensors,loss.png,
      decision_boundary.png,history.csv}
  chainrule train --data iris.csv --target species --layers 16 --epochs 200 --out runs/iris
      your CSV: a header row, numeric feature columns, and the target column (string labels
      are fine for classification; the model remembers them)
  chainrule train --data houses.csv --target price --task regression --loss mse
  chainrule train --dataset digits --layers 64,32 --activation relu --optimizer adam \\
      --lr 1e-3 --epochs 30 --batch-size 32 --val-split 0.2 --test-split 0.1 --seed 0
  chainrule train --dataset digits --epochs 500 --checkpoint runs/digits/ckpt.safetensors
      then, after Ctrl-C or a crash, the same command with --resume continues exactly
      where the checkpoint stopped (same data, seed and options give identical weights)
  mpiexec -n 4 chainrule train --data big.csv --target y --layers 256,128 --distributed
      data-parallel over MPI (pip install 'chainrule[mpi]'): each rank trains on its shard
      of the rows with --batch-size per rank; rank 0 alone prints and writes files

Defaults without --data/--dataset are the seeds' (flower, --layers 4 --activation tanh
--optimizer sgd --lr 1.2 --batch-size full --epochs 10000 --init normal, no standardisation);
with data they are --layers 64 --activation relu --optimizer adam --epochs 50 --batch-size 32,
inputs standardised with statistics of the training split only."""

_EVALUATE_EXAMPLES = """\
examples:
  chainrule evaluate runs/iris/model.safetensors --data iris_test.csv
  chainrule evaluate runs/digits/model.safetensors --dataset digits --confusion-matrix cm.png"""

_PREDICT_EXAMPLES = """\
examples:
  chainrule predict runs/iris/model.safetensors --data new.csv --out predictions.csv
  chainrule predict runs/iris/model.safetensors --data new.csv          # CSV to stdout
The output holds the input columns, 'prediction', and for classifiers one probability
column per class ('p_<label>')."""

_INFO_EXAMPLES = """\
examples:
  chainrule info runs/flower/model.safetensors"""

_GRADCHECK_EXAMPLES = """\
examples:
  chainrule gradcheck runs/flower/model.safetensors --dataset flower
  chainrule gradcheck runs/iris/model.safetensors --data iris.csv --rows 8 --full
Backpropagated gradients of the loss with respect to every parameter are compared with
central finite differences on a float64 copy of the model (along random directions, or
entry by entry with --full)."""


_DEMO_EXAMPLES = """\
examples:
  chainrule demo
  chainrule demo --lr 0.05 --dot graph.dot      # then: dot -Tsvg graph.dot -o graph.svg"""


class CLIError(Exception):
    """A problem to report as one line plus a hint, with exit status 1."""

    def __init__(self, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.hint = hint


# -- argument parsing --------------------------------------------------------------------------
def _positive_int(text: str) -> int:
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if v < 1:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {v}")
    return v


def _batch_size(text: str) -> int | None:
    if text.lower() in ("full", "all", "none"):
        return None
    return _positive_int(text)


def _layers(text: str) -> list[int]:
    if text.strip().lower() in ("", "none", "0"):
        return []
    try:
        sizes = [int(t) for t in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated sizes such as 64,32, got "
                                         f"{text!r}") from None
    if any(s < 1 for s in sizes):
        raise argparse.ArgumentTypeError(f"layer sizes must be positive, got {text!r}")
    return sizes


def _fraction(text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number in [0, 1), got {text!r}") from None
    if not 0 <= v < 1:
        raise argparse.ArgumentTypeError(f"expected a number in [0, 1), got {v}")
    return v


def _positive_float(text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not v > 0:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {v}")
    return v


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> Any:  # one line plus a hint, exit status 2
        sys.stderr.write(f"{self.prog}: error: {message}\n"
                         f"hint: run '{self.prog} --help' for options and examples\n")
        raise SystemExit(2)


def _data_options(p: argparse.ArgumentParser, required: bool) -> None:
    g = p.add_argument_group("data")
    src = g.add_mutually_exclusive_group(required=required)
    src.add_argument("--data", metavar="FILE.csv", help="a CSV file with a header row")
    src.add_argument("--dataset", metavar="NAME",
                     help="a named data set: flower xor moons circles spirals blobs "
                          "(built in) or digits iris breast_cancer wine (scikit-learn)")
    g.add_argument("--target", metavar="COL", help="the target column of --data")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``chainrule`` command."""
    fmt = argparse.RawDescriptionHelpFormatter
    parser = _Parser(prog=PROG, formatter_class=fmt, epilog=_MAIN_EXAMPLES,
                     description="Train neural networks by backpropagation on NumPy arrays, "
                                 "save them, and use them.")
    from . import __version__

    parser.add_argument("--version", action="version", version=f"chainrule {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    t = sub.add_parser("train", help="train a network (no options: the seeds' flower job)",
                       formatter_class=fmt, epilog=_TRAIN_EXAMPLES,
                       description="Train a multilayer perceptron and save it.")
    _data_options(t, required=False)
    t.add_argument("--task", choices=["auto", "classification", "regression"], default="auto",
                   help="what to predict (default: decided from the target column)")
    m = t.add_argument_group("model")
    m.add_argument("--layers", type=_layers, metavar="SIZES",
                   help="hidden layer sizes, e.g. 64,32 (default 4 for the seeds' job, else 64)")
    m.add_argument("--activation", metavar="NAME",
                   help="hidden activation: relu tanh sigmoid leaky_relu identity")
    m.add_argument("--init", metavar="NAME", help="weight initialiser: normal (the seeds' "
                   "N(0, 0.01)), xavier_uniform, kaiming_uniform, ... (default: PyTorch's)")
    o = t.add_argument_group("training")
    o.add_argument("--loss", metavar="NAME", default="auto",
                   help="mse bce cross_entropy (default: bce for two classes, cross_entropy "
                        "for more, mse for regression)")
    o.add_argument("--optimizer", metavar="NAME", help="sgd adam adamw rmsprop")
    o.add_argument("--lr", type=_positive_float, help="learning rate")
    o.add_argument("--epochs", type=_positive_int, help="passes over the training data")
    o.add_argument("--batch-size", type=_batch_size, default=argparse.SUPPRESS,
                   metavar="N|full", help="examples per step, or 'full' for batch gradient "
                                          "descent")
    o.add_argument("--val-split", type=_fraction, default=0.2, metavar="F",
                   help="fraction held out for validation (default 0.2, stratified)")
    o.add_argument("--test-split", type=_fraction, default=0.0, metavar="F",
                   help="fraction held out for a final test (default 0)")
    o.add_argument("--patience", type=_positive_int, metavar="N",
                   help="stop after N epochs without a better validation loss and keep the "
                        "best weights")
    o.add_argument("--seed", type=int, default=0, help="seed for the split, the initial "
                   "weights and the shuffling (default 0)")
    o.add_argument("--standardize", action=argparse.BooleanOptionalAction, default=None,
                   help="standardise inputs with training statistics (default: on for "
                        "--data and --dataset, off for the seeds' job)")
    o.add_argument("--checkpoint", metavar="FILE",
                   help="save the whole run (model, optimizer, shuffling state, epoch, "
                        "history) to FILE, atomically, every --checkpoint-every epochs, at "
                        "the end and on Ctrl-C")
    o.add_argument("--checkpoint-every", type=_positive_int, default=1, metavar="N",
                   help="epochs between checkpoints (default 1)")
    o.add_argument("--resume", action="store_true",
                   help="continue from --checkpoint FILE if it exists, up to --epochs in all")
    out = t.add_argument_group("output")
    out.add_argument("--out", metavar="DIR", help="output folder (default runs/<data name>)")
    out.add_argument("--no-plots", action="store_true", help="do not draw PNG plots")
    o.add_argument("--distributed", action="store_true",
                   help="data-parallel training over MPI; start with mpiexec -n N")
    out.add_argument("-q", "--quiet", action="store_true", help="no progress output")

    e = sub.add_parser("evaluate", help="score a saved model on labelled data",
                       formatter_class=fmt, epilog=_EVALUATE_EXAMPLES,
                       description="Report accuracy (classification) or errors (regression) "
                                   "of a saved model.")
    e.add_argument("model", metavar="MODEL", help="a .safetensors file from 'chainrule train'")
    _data_options(e, required=True)
    e.add_argument("--confusion-matrix", metavar="FILE.png",
                   help="also draw the confusion matrix (classification)")

    pr = sub.add_parser("predict", help="predict for new rows of a CSV file",
                        formatter_class=fmt, epilog=_PREDICT_EXAMPLES,
                        description="Write predictions for each row of a CSV file.")
    pr.add_argument("model", metavar="MODEL")
    pr.add_argument("--data", required=True, metavar="FILE.csv",
                    help="rows to predict; needs the feature columns used in training")
    pr.add_argument("--out", metavar="FILE.csv", help="where to write (default: stdout)")

    i = sub.add_parser("info", help="describe a saved model", formatter_class=fmt,
                       epilog=_INFO_EXAMPLES,
                       description="Architecture, parameter count, preprocessing and training "
                                   "summary of a saved model.")
    i.add_argument("model", metavar="MODEL")

    g = sub.add_parser("gradcheck", help="check a model's gradients on data",
                       formatter_class=fmt, epilog=_GRADCHECK_EXAMPLES,
                       description="Compare backpropagation with finite differences.")
    g.add_argument("model", metavar="MODEL")
    _data_options(g, required=True)
    g.add_argument("--rows", type=_positive_int, default=16, help="examples used (default 16)")
    g.add_argument("--full", action="store_true",
                   help="check every parameter entry instead of random directions")
    d = sub.add_parser("demo", help="walk through the seeds' worked example of backpropagation",
                       formatter_class=fmt, epilog=_DEMO_EXAMPLES,
                       description="J = 1/2 (w x + b - y)^2 with w=2, b=8, x=-2, y=2: the "
                                   "forward pass, the backward pass, and one step of gradient "
                                   "descent, as tables (chainrule.tools.explain).")
    d.add_argument("--lr", type=_positive_float, default=0.1,
                   help="learning rate of the gradient-descent step (default 0.1)")
    d.add_argument("--dot", metavar="FILE.dot", help="also write the graph as Graphviz DOT")
    return parser


# -- shared helpers ------------------------------------------------------------------------------
def _load_data(args: argparse.ArgumentParser | Any, meta: dict[str, Any] | None = None,
               need_target: bool = True) -> Any:
    from .data import load_csv, load_dataset

    pre = (meta or {}).get("preprocessing", {})
    if args.dataset:
        return load_dataset(args.dataset)
    target = args.target or pre.get("target")
    if need_target and not target:
        raise CLIError("--data needs --target COL, the name of the column to predict",
                       "the header row of the file lists the column names")
    task = getattr(args, "task", "auto")
    if pre:
        task = pre.get("task") or task
    return load_csv(args.data, target, features=pre.get("feature_names"), task=task,
                    class_names=pre.get("class_names"))


def _check_preprocessing(pre: Any, path: str) -> None:
    """The preprocessing metadata of a model file is data from outside: check its shape."""
    from .tools.saving import ModelFileError

    def bad(what: str) -> ModelFileError:
        return ModelFileError(f"{path}: the preprocessing metadata is damaged: {what}")

    if not isinstance(pre, dict):
        raise bad(f"expected an object, got {type(pre).__name__}")
    if pre.get("task") not in (None, "classification", "regression"):
        raise bad(f"unknown task {pre.get('task')!r}")
    for key in ("class_names", "feature_names"):
        v = pre.get(key)
        if v is not None and not (isinstance(v, list) and all(isinstance(x, str) for x in v)):
            raise bad(f"{key} must be a list of strings")
    if pre.get("target") is not None and not isinstance(pre.get("target"), str):
        raise bad("target must be a column name")
    if pre.get("scaler") is not None and not isinstance(pre.get("scaler"), dict):
        raise bad("scaler must be an object with mean and scale")


class _Predictor:
    """A loaded model plus its preprocessing: raw feature rows in, outputs and labels out."""

    def __init__(self, path: str) -> None:
        from .tools.saving import load_with_metadata

        self.path = path
        self.model, self.meta = load_with_metadata(path)
        self.model.eval()
        pre = self.meta.get("preprocessing") or {}
        _check_preprocessing(pre, path)
        self.task = pre.get("task") or "regression"
        self.class_names = pre.get("class_names")
        self.feature_names = pre.get("feature_names")
        self.scaler = None
        if pre.get("scaler"):
            from .data import StandardScaler

            self.scaler = StandardScaler.from_dict(pre["scaler"])

    def transform(self, X: Any) -> Any:
        from .data import check_features

        X = check_features(X)
        n_in = self.model.parameters()[0].data.shape[1]
        if X.shape[1] != n_in:
            raise CLIError(f"the data has {X.shape[1]} feature columns but the model takes "
                           f"{n_in}", "use the same feature columns as in training")
        return self.scaler.transform(X) if self.scaler is not None else X

    def outputs(self, X: Any) -> Any:
        import numpy as np

        from . import nn
        from .engine import Tensor, no_grad

        Z = self.transform(X).astype(self.model.parameters()[0].data.dtype)
        with no_grad():
            out = np.asarray(self.model(Tensor(Z)).data, dtype=np.float64)
        last = list(self.model)[-1] if len(self.model) else None
        if self.task != "classification":
            return out
        if out.shape[1] == 1:
            p = out if isinstance(last, nn.Sigmoid) else 1 / (1 + np.exp(-out))
            return np.hstack([1 - p, p])
        if isinstance(last, nn.Softmax):
            return out
        e = np.exp(out - out.max(axis=1, keepdims=True))
        return e / e.sum(axis=1, keepdims=True)

    def predict(self, X: Any) -> Any:
        out = self.outputs(X)
        if self.task == "classification":
            return out.argmax(axis=1)
        return out[:, 0] if out.shape[1] == 1 else out


def _fmt_metrics(metrics: dict[str, float]) -> str:
    return "  ".join(f"{k} {v:.4f}" for k, v in metrics.items())


# -- train ----------------------------------------------------------------------------------------
def cmd_train(args: argparse.Namespace) -> int:
    """Train, report, plot and save."""
    import numpy as np

    from .data import StandardScaler, train_val_test_split
    from .training import CSVLogger, EarlyStopping, Trainer, build_mlp

    seeds_job = not (args.data or args.dataset)
    if seeds_job:
        args.dataset = "flower"
    ds = _load_data(args)
    if ds.y is None:
        raise CLIError("the data has no target column", "pass --target COL")
    task = ds.task if args.task == "auto" else args.task
    if task == "regression" and ds.y.dtype.kind not in "f":
        ds.y = ds.y.astype(np.float64)
    if task == "classification" and ds.n_classes < 2:
        raise CLIError(f"the target {ds.target!r} has only one class "
                       f"({(ds.class_names or ['?'])[0]!r}); a classifier needs at least two",
                       "check --target, or use --task regression for numeric targets")

    def pick(value: Any, seeds: Any, general: Any) -> Any:
        return value if value is not None else (seeds if seeds_job else general)

    hidden = pick(args.layers, [4], [64])
    activation = pick(args.activation, "tanh", "relu")
    optimizer = pick(args.optimizer, "sgd", "adam")
    lr = pick(args.lr, 1.2, None)
    epochs = pick(args.epochs, 10_000, 50)
    batch_size = args.batch_size if "batch_size" in args else (None if seeds_job else 32)
    init = pick(args.init, "normal", None)
    standardize = pick(args.standardize, False, True)
    out_dir = args.out or os.path.join("runs", os.path.splitext(os.path.basename(
        ds.name or "data"))[0] if args.data else args.dataset)

    binary = task == "classification" and ds.n_classes == 2
    n_out = 1 if (binary or task == "regression") else ds.n_classes
    output = "sigmoid" if binary else "identity"
    loss = args.loss
    if loss == "auto":
        loss = "bce" if binary else ("cross_entropy" if task == "classification" else "mse")
    stratify = ds.y if task == "classification" else None
    (Xtr, ytr), (Xva, yva), (Xte, yte) = train_val_test_split(
        ds.X, ds.y, args.val_split, args.test_split, stratify=stratify, seed=args.seed)
    scaler = StandardScaler().fit(Xtr) if standardize else None
    prep = (lambda a: scaler.transform(a)) if scaler is not None else (lambda a: a)
    # Distributed: every rank reads the file and splits it the same way (same seed), so the
    # scaler is the same everywhere; then each rank keeps its own shard of every split.
    chief, full_val = True, (Xva, yva) if len(Xva) else (Xtr, ytr)
    if args.distributed:
        from .distributed import shard_range, world

        comm = world()
        rank, size = comm.Get_rank(), comm.Get_size()
        chief = rank == 0

        def shard(a: Any) -> Any:
            return a[slice(*shard_range(len(a), rank, size))]

        Xtr, ytr, Xva, yva, Xte, yte = map(shard, (Xtr, ytr, Xva, yva, Xte, yte))
        if not len(Xtr):
            raise CLIError(f"rank {rank} of {size} got no training rows",
                           "use fewer processes than training rows")
    dtype = np.float64 if seeds_job else np.float32
    model = build_mlp(ds.X.shape[1], hidden, n_out, activation=activation, output=output,
                      init=init, dtype=dtype, rng=args.seed)
    resuming = bool(args.resume and args.checkpoint and os.path.exists(args.checkpoint))
    callbacks: list[Any] = [CSVLogger(os.path.join(out_dir, "history.csv"), append=resuming)]
    if args.patience:
        if not len(Xva):
            raise CLIError("--patience needs a validation split", "pass --val-split 0.2")
        callbacks.append(EarlyStopping("val_loss", patience=args.patience,
                                       restore_best_weights=True))
    verbose = 0 if args.quiet or not chief else 1
    data_name = args.data or args.dataset
    if verbose:
        arch = "-".join(str(s) for s in [ds.X.shape[1], *hidden, n_out])
        print(f"data: {data_name}: {len(ds.X)} examples, {ds.X.shape[1]} features, {task}"
              + (f" ({ds.n_classes} classes)" if task == "classification" else "")
              + f"; split {len(Xtr)}/{len(Xva)}/{len(Xte)} (train/val/test)")
        print(f"model: {arch} {activation}" + (f"/{output}" if output != "identity" else "")
              + f", loss {loss}, optimizer {optimizer}"
              + (f" lr {lr:g}" if lr is not None else "")
              + f", batch {'full' if batch_size is None else batch_size}, {epochs} epochs")
    if args.resume and not args.checkpoint:
        raise CLIError("--resume needs --checkpoint FILE, the checkpoint to continue from",
                       "pass the same --checkpoint as the interrupted run")
    trainer = Trainer(model, loss=loss, optimizer=optimizer, lr=lr, batch_size=batch_size,
                      seed=args.seed, callbacks=callbacks, verbose=verbose,
                      distributed=args.distributed, checkpoint=args.checkpoint,
                      checkpoint_every=args.checkpoint_every)
    if resuming:
        trainer.load_checkpoint(args.checkpoint)
        if verbose:
            print(f"resuming:   {args.checkpoint} after {trainer.epoch} of {epochs} epochs")
    os.makedirs(out_dir, exist_ok=True)
    start = time.perf_counter()
    history = trainer.fit(prep(Xtr), ytr, max(0, epochs - trainer.epoch),
                          validation_data=(prep(Xva), yva) if len(Xva) else None)
    if history.interrupted and args.checkpoint and chief:
        sys.stderr.write(f"chainrule: interrupted; checkpoint saved to {args.checkpoint}; "
                         "run the same command with --resume to continue\n")
    seconds = time.perf_counter() - start
    results = {"train": trainer.evaluate(prep(Xtr), ytr)}
    if len(Xva):
        results["validation"] = trainer.evaluate(prep(Xva), yva)
    if len(Xte):
        results["test"] = trainer.evaluate(prep(Xte), yte)
    if not chief:  # the other ranks helped compute the metrics; rank 0 reports and saves
        return 130 if history.interrupted else 0
    for part, metrics in results.items():
        line = _fmt_metrics(metrics)
        if "accuracy" in metrics:
            line = f"accuracy {metrics['accuracy']:.1%}  (loss {metrics['loss']:.4f})"
        print(f"{part + ':':<12}{line}")

    preprocessing = {"task": task, "target": ds.target, "feature_names": ds.feature_names,
                     "class_names": ds.class_names if task == "classification" else None,
                     "scaler": scaler.to_dict() if scaler is not None else None}
    training = {"data": data_name, "loss": loss, "optimizer": optimizer,
                "lr": trainer.optimizer.initial_lr, "epochs": epochs,
                "epochs_run": trainer.epochs_run, "batch_size": batch_size,
                "hidden_layers": hidden, "activation": activation, "init": init,
                "seed": args.seed, "val_split": args.val_split, "test_split": args.test_split,
                "standardize": bool(standardize), "seconds": round(seconds, 3),
                "processes": trainer.dist.size if trainer.dist is not None else 1,
                "stop_reason": history.stop_reason,
                "results": results}
    path = os.path.join(out_dir, "model.safetensors")
    model.save(path, preprocessing=preprocessing, training=training)
    print(f"saved:      {path}")
    if not args.no_plots:
        _train_plots(model, ds, history, out_dir, prep, *full_val, task)
    return 130 if history.interrupted else 0


def _train_plots(model: Any, ds: Any, history: Any, out_dir: str, prep: Any, Xv: Any,
                 yv: Any, task: str) -> None:
    import numpy as np

    from . import plots
    from .engine import Tensor, no_grad

    if not plots.have_matplotlib():
        print("plots:      skipped (matplotlib is not installed; pip install matplotlib)")
        return
    dtype = model.parameters()[0].data.dtype

    def classes(X: Any) -> Any:
        with no_grad():
            out = model(Tensor(prep(np.asarray(X)).astype(dtype))).data
        return (out[:, 0] > 0.5).astype(int) if out.shape[1] == 1 else out.argmax(axis=1)

    name = os.path.basename(str(ds.name))
    written = [plots.plot_history(history, os.path.join(out_dir, "loss.png"),
                                  title=f"{name}: training curves")]
    if task == "classification" and ds.X.shape[1] == 2:
        written.append(plots.plot_decision_boundary(
            classes, ds.X, ds.y, os.path.join(out_dir, "decision_boundary.png"),
            class_names=ds.class_names, title=f"{name}: decision boundary (all data)"))
    if task == "classification":
        written.append(plots.plot_confusion_matrix(
            yv, classes(Xv), os.path.join(out_dir, "confusion_matrix.png"),
            class_names=ds.class_names))
    print("plots:      " + ", ".join(written))


# -- evaluate, predict, info, gradcheck ----------------------------------------------------------
def cmd_evaluate(args: argparse.Namespace) -> int:
    """Score a saved model on labelled data."""
    import numpy as np

    pred = _Predictor(args.model)
    ds = _load_data(args, pred.meta)
    if ds.y is None:
        raise CLIError("no target column to compare with", "pass --target COL")
    print(f"model: {args.model}\ndata:  {args.data or args.dataset} ({len(ds.X)} examples)")
    if pred.task == "classification":
        if ds.class_names and pred.class_names and args.dataset and \
                ds.class_names != pred.class_names:
            raise CLIError("the data set's classes differ from the model's",
                           "evaluate on the data the model was trained for")
        probs = pred.outputs(ds.X)
        labels = probs.argmax(axis=1)
        acc = float(np.mean(labels == ds.y))
        eps = 1e-12
        nll = float(-np.mean(np.log(np.clip(probs[np.arange(len(ds.y)), ds.y], eps, 1))))
        print(f"accuracy: {acc:.2%}  ({int(np.sum(labels == ds.y))}/{len(ds.y)} correct)")
        print(f"log loss: {nll:.4f}")
        if args.confusion_matrix:
            from . import plots

            plots.plot_confusion_matrix(ds.y, labels, args.confusion_matrix,
                                        class_names=pred.class_names)
            print(f"confusion matrix: {args.confusion_matrix}")
    else:
        yhat = pred.predict(ds.X).reshape(ds.y.shape)
        err = yhat - ds.y
        mse = float(np.mean(err**2))
        var = float(np.var(ds.y))
        r2 = 1 - mse / var if var > 0 else float("nan")
        print(f"MSE {mse:.6g}  RMSE {mse ** 0.5:.6g}  MAE {float(np.mean(np.abs(err))):.6g}  "
              f"R^2 {r2:.4f}")
    return 0


def cmd_predict(args: argparse.Namespace) -> int:
    """Predict for each row of a CSV file."""
    import csv

    from .data import load_csv

    pred = _Predictor(args.model)
    ds = load_csv(args.data, None, features=pred.feature_names)
    values = pred.predict(ds.X)
    header = [*ds.feature_names, "prediction"]
    rows: list[list[Any]] = []
    if pred.task == "classification":
        probs = pred.outputs(ds.X)
        names = pred.class_names or [str(i) for i in range(probs.shape[1])]
        header += [f"p_{c}" for c in names]
        for x, v, p in zip(ds.X, values, probs):
            rows.append([*map(float, x), names[int(v)], *(round(float(q), 6) for q in p)])
    else:
        for x, v in zip(ds.X, values):
            rows.append([*map(float, x), float(v)])
    stream = open(args.out, "w", newline="", encoding="utf-8") if args.out else sys.stdout  # noqa: SIM115
    try:
        w = csv.writer(stream)
        w.writerow(header)
        w.writerows([[repr(v) if isinstance(v, float) else v for v in r] for r in rows])
    finally:
        if args.out:
            stream.close()
    if args.out:
        print(f"wrote {len(rows)} predictions to {args.out}", file=sys.stderr)
    return 0


def cmd_info(args: argparse.Namespace) -> int:
    """Describe a saved model."""
    pred = _Predictor(args.model)
    meta, model = pred.meta, pred.model
    params = model.parameters()
    print(f"file:         {args.model}  ({os.path.getsize(args.model):,} bytes, chainrule "
          f"format {meta.get('format_version')}, written by chainrule "
          f"{meta.get('chainrule_version', '?')})")
    print(f"parameters:   {model.num_parameters():,} in {len(params)} tensors, dtype "
          f"{params[0].data.dtype if params else '-'}")
    print("architecture: " + repr(model).replace("\n", "\n              "))
    pre = meta.get("preprocessing") or {}
    if pre:
        print(f"task:         {pre.get('task')}  (target column {pre.get('target')!r})")
        feats = pre.get("feature_names") or []
        shown = ", ".join(feats[:10]) + (f", ... ({len(feats)} in all)" if len(feats) > 10
                                         else "")
        print(f"features:     {shown}")
        if pre.get("class_names"):
            print(f"classes:      {', '.join(map(str, pre['class_names']))}")
        print(f"scaling:      {'standardised (training mean and std)' if pre.get('scaler') else 'none'}")  # noqa: E501
    tr = meta.get("training") or {}
    if tr:
        print(f"training:     {tr.get('data')}: {tr.get('optimizer')} lr {tr.get('lr')}, loss "
              f"{tr.get('loss')}, {tr.get('epochs_run')}/{tr.get('epochs')} epochs, batch "
              f"{tr.get('batch_size') or 'full'}, seed {tr.get('seed')}, "
              f"{tr.get('seconds')} s")
        for part, metrics in (tr.get("results") or {}).items():
            print(f"  {part + ':':<12}{_fmt_metrics(metrics)}")
    extra = sorted(set(meta) - {"format", "format_version", "chainrule_version",
                                "architecture", "preprocessing", "training"})
    if extra:
        print(f"other metadata: {', '.join(extra)}")
    return 0


def cmd_gradcheck(args: argparse.Namespace) -> int:
    """Compare backpropagation with finite differences on a float64 copy of the model."""
    import numpy as np

    from . import nn
    from .engine import GradcheckError
    from .tools import gradcheck
    from .tools.saving import architecture_of, build_from_architecture

    pred = _Predictor(args.model)
    ds = _load_data(args, pred.meta)
    X = pred.transform(ds.X[: args.rows])
    y = ds.y[: args.rows] if ds.y is not None else None
    state = {k: v.astype(np.float64) for k, v in pred.model.state_dict().items()}
    model64 = build_from_architecture(architecture_of(pred.model), state)
    names = [n for n, _ in model64.named_parameters()]
    layers = dict(model64.named_modules())
    last = list(model64)[-1]
    if pred.task == "classification":
        loss_fn = nn.BCELoss() if isinstance(last, nn.Sigmoid) else nn.CrossEntropyLoss()
        target = y.reshape(-1, 1).astype(np.float64) if isinstance(last, nn.Sigmoid) else y
    else:
        loss_fn = nn.MSELoss()
        target = np.asarray(y, dtype=np.float64).reshape(-1, 1)

    def loss_of(*tensors: Any) -> Any:
        for name, t in zip(names, tensors):  # run the copy with the checker's tensors
            owner, _, attr = name.rpartition(".")
            object.__setattr__(layers[owner], attr, t)
        return loss_fn(model64(X), target)

    inputs = [p.data for p in model64.parameters()]
    n = sum(a.size for a in inputs)
    mode = "every entry" if args.full else "3 random directions"
    try:
        gradcheck(loss_of, inputs, fast=not args.full)
    except GradcheckError as err:
        print(f"gradient check FAILED ({mode}, {len(X)} examples): {err}")
        return 1
    print(f"gradient check passed: {n} parameters in {len(inputs)} tensors, {len(X)} examples, "
          f"{mode}, float64, eps 1e-6, atol 1e-5, rtol 1e-3")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    """The seeds' worked example through :func:`chainrule.tools.explain.explain`."""
    from . import tensor
    from .tools.explain import explain

    w, b = tensor(2.0, requires_grad=True), tensor(8.0, requires_grad=True)
    x, y = tensor(-2.0), tensor(2.0)
    c = w * x
    a = c + b
    d = a - y
    J = 0.5 * d**2
    ex = explain(J, names={"w": w, "b": b, "x": x, "y": y, "c": c, "a": a, "d": d, "J": J})
    print("The seeds' example: J = 1/2 (w x + b - y)^2 with w = 2, b = 8, x = -2, y = 2\n")
    print(ex)
    dw, db = ex.grad("w"), ex.grad("b")
    print(f"\nOne step of gradient descent with learning rate {args.lr:g}:")
    print(f"  w := w - lr dJ/dw = 2 - {args.lr:g} * ({dw:g}) = {2 - args.lr * dw:g}")
    print(f"  b := b - lr dJ/db = 8 - {args.lr:g} * ({db:g}) = {8 - args.lr * db:g}")
    J2 = 0.5 * ((2 - args.lr * dw) * -2.0 + (8 - args.lr * db) - 2.0) ** 2
    print(f"  J goes from {ex.value('J'):g} to {J2:g}")
    if args.dot:
        with open(args.dot, "w", encoding="utf-8") as f:
            f.write(ex.to_dot())
        print(f"\ngraph written to {args.dot} (render with: dot -Tsvg {args.dot} -o graph.svg)")
    return 0


_COMMANDS = {"demo": cmd_demo, "train": cmd_train, "evaluate": cmd_evaluate, "predict": cmd_predict,
             "info": cmd_info, "gradcheck": cmd_gradcheck}

_HINTS = {
    "ModelFileError": "is MODEL a .safetensors file written by 'chainrule train' or "
                      "model.save()?",
    "DataError": "check the data file; 'chainrule {cmd} --help' shows the expected format",
    "ConfigError": "see 'chainrule {cmd} --help' for the valid names",
    "PlotError": "pip install matplotlib, or pass --no-plots",
}


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``chainrule`` command with ``argv`` (default: ``sys.argv[1:]``)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not args.command:
        parser.print_help()
        return 0
    try:
        return _COMMANDS[args.command](args)
    except CLIError as err:
        _report(str(err), err.hint or f"run 'chainrule {args.command} --help'")
    except KeyboardInterrupt:
        sys.stderr.write("chainrule: interrupted\n")
        return 130
    except BrokenPipeError:  # e.g. 'chainrule predict ... | head': the reader left early
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0
    except OSError as err:
        where = f": {err.filename}" if getattr(err, "filename", None) else ""
        _report(f"{err.strerror or err}{where}", "check the path and permissions")
    except Exception as err:
        from .engine import ChainruleError

        if not isinstance(err, ChainruleError):
            raise
        hint = _HINTS.get(type(err).__name__, "run 'chainrule {cmd} --help'")
        _report(str(err), hint.format(cmd=args.command))
    return 1


def _report(message: str, hint: str) -> None:
    message = " ".join(message.split())
    sys.stderr.write(f"chainrule: error: {message}\nhint: {hint}\n")
