"""The ``chainrule`` command: train, evaluate, predict, inspect and gradient-check models.

``chainrule train`` with no arguments trains the course's 2-4-1 network: tanh hidden units and
a sigmoid output, full-batch gradient descent (learning rate 1.2) on the flower data set.
``chainrule train --data FILE.csv --target COL`` is the main job: any CSV table, its columns
typed and shown, a model saved with its preprocessing.  This module only parses options into
a :class:`chainrule.workflow.TrainConfig`, calls :mod:`chainrule.workflow` and prints what it
returns.  Heavy libraries are imported inside the commands that need them, so
``chainrule --help`` answers at once.
"""

from __future__ import annotations

import argparse
import errno
import json
import math
import os
import sys
import warnings
from collections.abc import Sequence
from typing import Any

from .io.text import escape_controls

__all__ = ["build_parser", "main"]

PROG = "chainrule"

_MAIN_EXAMPLES = """\
examples:
  chainrule train                                   # the course's 2-4-1 network, flower set
  chainrule train --data penguins.csv --target species
  chainrule train --data houses.csv --target price --layers 64,32 --epochs 100
  chainrule train --dataset digits --optimizer adam --lr 1e-3 --epochs 30
  chainrule info runs/penguins/model.safetensors
  chainrule evaluate runs/penguins/model.safetensors --data test.csv --json
  chainrule predict runs/penguins/model.safetensors --data new.csv --out predictions.csv
  chainrule gradcheck runs/flower/model.safetensors --dataset flower
  chainrule demo                                    # the course's worked example, step by step

Run 'chainrule COMMAND --help' for each command's options."""

_TRAIN_EXAMPLES = """\
examples:
  chainrule train
      the course's 2-4-1 tanh/sigmoid network, full-batch gradient descent (lr 1.2,
      10,000 epochs) on the flower set; writes runs/flower/{model.safetensors,loss.png,
      decision_boundary.png,history.csv}
  chainrule train --data penguins.csv --target species --out runs/penguins
      any CSV table (needs pandas: pip install 'chainrule[csv]'): the delimiter is
      sniffed, numbers, true/false, text categories and dates are typed and shown before
      training; ID-like and free-text columns are dropped with a note
  chainrule train --data penguins.csv --target body_mass_g --drop year
      regression: targets are standardised for training and every number is reported in
      the target's units, beside the baseline of predicting the mean
  chainrule train --data visits.csv --target outcome --categorical ward --class-weight balanced
  chainrule train --dataset digits --layers 64,32 --activation relu --optimizer adam \\
      --lr 1e-3 --epochs 30 --batch-size 32 --val-split 0.2 --test-split 0.1 --seed 0
  chainrule train --dataset digits --epochs 500 --checkpoint runs/digits/ckpt.safetensors
      then, after Ctrl-C or a crash, the same command with --resume continues exactly
  mpiexec -n 4 chainrule train --data big.csv --target y --layers 256,128 --distributed
      data-parallel over MPI (pip install 'chainrule[mpi]'); rank 0 alone prints and writes

Defaults without --data/--dataset are the course's (flower, --layers 4 --activation tanh
--optimizer sgd --lr 1.2 --batch-size full --epochs 10000 --init normal, no standardisation);
with data they are --layers 64 --activation relu --optimizer adam --batch-size 32 and up to
300 epochs with early stopping (--patience 30) on the validation split, keeping the best
weights; inputs are standardised with statistics of the training split only.
Exit status: 0 done, 1 bad input, 2 bad options, 3 training diverged (nothing saved),
130 interrupted."""

_EVALUATE_EXAMPLES = """\
examples:
  chainrule evaluate runs/penguins/model.safetensors --data test.csv
  chainrule evaluate runs/penguins/model.safetensors --data test.csv --json
  chainrule evaluate runs/digits/model.safetensors --dataset digits --confusion-matrix cm.png"""

_PREDICT_EXAMPLES = """\
examples:
  chainrule predict runs/penguins/model.safetensors --data new.csv --out predictions.csv
  chainrule predict runs/penguins/model.safetensors --data new.csv --proba   # CSV to stdout
The output holds every input column as written, then 'prediction', and with --proba one
probability column per class ('p_<label>'); a name the input already uses gets ' (chainrule)'
added (with a warning).  Every row gets a prediction: missing values are filled as in
training; unseen categories count as none (one warning; --unknown error refuses them).
A text cell starting with =, +, -, @, tab or carriage return gets a leading ' so that a
spreadsheet shows it instead of running it as a formula (numbers such as -1.5 stay numbers);
on standard output control characters are written as escapes (\\x1b), in --out kept as they
are."""

_INFO_EXAMPLES = """\
examples:
  chainrule info runs/penguins/model.safetensors"""

_GRADCHECK_EXAMPLES = """\
examples:
  chainrule gradcheck runs/flower/model.safetensors --dataset flower
  chainrule gradcheck runs/penguins/model.safetensors --data penguins.csv --rows 8 --full
Backpropagated gradients of the loss with respect to every parameter are compared with
central finite differences on a float64 copy of the model (along random directions, or
entry by entry with --full)."""

_DEMO_EXAMPLES = """\
examples:
  chainrule demo
  chainrule demo --lr 0.05 --dot graph.dot      # then: dot -Tsvg graph.dot -o graph.svg"""

_EXPORT_EXAMPLES = """\
examples:
  chainrule export runs/penguins/model.safetensors --out model.onnx"""


class CLIError(Exception):
    """A problem to report as one line plus a hint, with exit status 1 (or ``code``)."""

    def __init__(self, message: str, hint: str = "", code: int = 1) -> None:
        super().__init__(message)
        self.hint = hint
        self.code = code


# -- argument types ------------------------------------------------------------------------------
def _positive_int(text: str) -> int:
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if v < 1:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {v}")
    return v


def _seed(text: str) -> int:
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if not 0 <= v < 2**32:
        raise argparse.ArgumentTypeError(f"expected a whole number from 0 to {2**32 - 1}, "
                                         f"got {v}")
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
    if not (v > 0 and v < float("inf")):
        raise argparse.ArgumentTypeError(f"expected a positive finite number, got {v}")
    return v


def _names(text: str) -> list[str]:
    names = [t.strip() for t in text.split(",") if t.strip()]
    if not names:
        raise argparse.ArgumentTypeError(f"expected comma-separated column names, got {text!r}")
    return names


def _delimiter(text: str) -> str:
    named = {"tab": "\t", "\\t": "\t", "comma": ",", "semicolon": ";", "pipe": "|",
             "space": " "}
    value = named.get(text.lower(), text)
    if len(value) != 1 or value in "\r\n\"":
        raise argparse.ArgumentTypeError(f"expected one character (or tab, comma, semicolon, "
                                         f"pipe, space), got {text!r}")
    return value


def _class_weight(text: str) -> str | dict[str, float]:
    from .errors import ConfigError
    from .workflow import parse_class_weight

    try:
        return parse_class_weight(text)
    except ConfigError as err:  # argparse names the option; the message need not twice
        raise argparse.ArgumentTypeError(str(err).removeprefix("--class-weight").lstrip(": ")
                                         ) from None


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> Any:  # one line plus a hint, exit status 2
        sys.stderr.write(f"{self.prog}: error: {_printable(message)}\n"
                         f"hint: run '{self.prog} --help' for options and examples\n")
        raise SystemExit(2)


class _ClassWeights(argparse.Action):
    """--class-weight given again adds its pairs to the earlier ones (as --drop adds
    columns); a class named twice, or 'balanced' beside pairs, is refused, not overridden."""

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace,
                 values: Any, option_string: str | None = None) -> None:
        before = getattr(namespace, self.dest, None)
        if before is None:
            setattr(namespace, self.dest, values)
            return
        if isinstance(before, str) or isinstance(values, str):
            parser.error("--class-weight balanced cannot be combined with label=weight pairs "
                         "or given twice; give one of them")
        for label in values:
            if label in before:
                parser.error(f"--class-weight names the class {_printable(label)} twice "
                             f"({label}={before[label]:g} and {label}={values[label]:g}); give "
                             "each class one weight")
        setattr(namespace, self.dest, {**before, **values})


def _data_options(p: argparse.ArgumentParser, required: bool) -> None:
    g = p.add_argument_group("data")
    src = g.add_mutually_exclusive_group(required=required)
    src.add_argument("--data", metavar="FILE.csv", help="a CSV file with a header row")
    src.add_argument("--dataset", metavar="NAME",
                     help="a named data set: flower xor moons circles spirals blobs "
                          "(built in) or digits iris breast_cancer wine (scikit-learn)")
    g.add_argument("--target", metavar="COL", help="the target column of --data")
    g.add_argument("--delimiter", type=_delimiter, metavar="CHAR",
                   help="the field separator of --data (default: sniffed; 'tab' for TSV)")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``chainrule`` command."""
    fmt = argparse.RawDescriptionHelpFormatter
    parser = _Parser(prog=PROG, formatter_class=fmt, epilog=_MAIN_EXAMPLES,
                     description="Train neural networks by backpropagation on NumPy arrays, "
                                 "save them, and use them.")
    from . import __version__

    parser.add_argument("--version", action="version", version=f"chainrule {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    t = sub.add_parser("train", help="train a network (no options: the course's flower job)",
                       formatter_class=fmt, epilog=_TRAIN_EXAMPLES,
                       description="Train a multilayer perceptron and save it.")
    _data_options(t, required=False)
    t.add_argument("--task", choices=["auto", "classification", "regression"], default="auto",
                   help="what to predict (default: decided from the target column)")
    c = t.add_argument_group("columns of --data",
                             "(--features, --drop and --categorical given again add columns)")
    c.add_argument("--features", type=_names, action="extend", metavar="A,B,...",
                   help="use only these columns (kept even if they look like IDs or text)")
    c.add_argument("--drop", type=_names, action="extend", default=[], metavar="A,B,...",
                   help="leave these columns out")
    c.add_argument("--categorical", type=_names, action="extend", default=[],
                   metavar="A,B,...",
                   help="one-hot encode these columns (e.g. integer codes)")
    c.add_argument("--unknown", choices=["zeros", "error"], default="zeros",
                   help="what predict does with a category unseen in training: encode it as "
                        "all zeros with a warning (default) or refuse the file")
    m = t.add_argument_group("model")
    m.add_argument("--layers", type=_layers, metavar="SIZES",
                   help="hidden layer sizes, e.g. 64,32 (default 4 for the course's job, "
                        "else 64)")
    m.add_argument("--activation", metavar="NAME",
                   help="hidden activation: relu tanh sigmoid leaky_relu identity")
    m.add_argument("--init", metavar="NAME", help="weight initialiser: normal (the course's "
                   "N(0, 0.01)), xavier_uniform, kaiming_uniform, ... (default: PyTorch's)")
    o = t.add_argument_group("training")
    o.add_argument("--loss", metavar="NAME", default="auto",
                   help="mse bce bce_with_logits cross_entropy (default: bce for two "
                        "classes, cross_entropy for more, mse for regression)")
    o.add_argument("--optimizer", metavar="NAME", help="sgd adam adamw rmsprop")
    o.add_argument("--lr", type=_positive_float, help="learning rate")
    o.add_argument("--epochs", type=_positive_int, help="most passes over the training data")
    o.add_argument("--batch-size", type=_batch_size, default=argparse.SUPPRESS,
                   metavar="N|full", help="examples per step, or 'full' for batch gradient "
                                          "descent")
    o.add_argument("--val-split", type=_fraction, default=0.2, metavar="F",
                   help="fraction held out for validation (default 0.2, stratified)")
    o.add_argument("--test-split", type=_fraction, default=0.0, metavar="F",
                   help="fraction held out for a final test (default 0)")
    o.add_argument("--patience", type=_positive_int, metavar="N",
                   help="stop after N epochs without a better validation loss and keep the "
                        "best weights (default 30 with data, off for the course's job)")
    o.add_argument("--class-weight", type=_class_weight, action=_ClassWeights,
                   metavar="balanced|L=W,...",
                   help="weight classes in the loss: 'balanced' (inverse frequency) or "
                        "label=weight pairs, each weight 0 or from 1e-6 to 1e6 (a class not "
                        "named weighs 1)")
    o.add_argument("--seed", type=_seed, default=0, help="seed for the split, the initial "
                   "weights and the shuffling (default 0)")
    o.add_argument("--standardize", action=argparse.BooleanOptionalAction, default=None,
                   help="standardise inputs with training statistics (default: on for "
                        "--data and --dataset, off for the course's job)")
    o.add_argument("--checkpoint", metavar="FILE",
                   help="save the whole run (model, optimizer, shuffling state, epoch, "
                        "history) to FILE, atomically, every --checkpoint-every epochs, at "
                        "the end and on Ctrl-C")
    o.add_argument("--checkpoint-every", type=_positive_int, default=1, metavar="N",
                   help="epochs between checkpoints (default 1)")
    o.add_argument("--resume", action="store_true",
                   help="continue from --checkpoint FILE if it exists, up to --epochs in all")
    o.add_argument("--distributed", action="store_true",
                   help="data-parallel training over MPI; start with mpiexec -n N")
    out = t.add_argument_group("output")
    out.add_argument("--out", metavar="DIR", help="output folder (default runs/<data name>)")
    out.add_argument("--no-plots", action="store_true", help="do not draw PNG plots")
    out.add_argument("--json", action="store_true",
                     help="print only one JSON object of metrics per split on stdout")
    out.add_argument("-q", "--quiet", action="store_true", help="no progress output")

    e = sub.add_parser("evaluate", help="score a saved model on labelled data",
                       formatter_class=fmt, epilog=_EVALUATE_EXAMPLES,
                       description="Report accuracy and log loss (classification) or MSE, "
                                   "RMSE, MAE and R^2 (regression) of a saved model.")
    e.add_argument("model", metavar="MODEL", help="a .safetensors file from 'chainrule train'")
    _data_options(e, required=True)
    e.add_argument("--confusion-matrix", metavar="FILE.png",
                   help="also draw the confusion matrix (classification)")
    e.add_argument("--json", action="store_true",
                   help="print the metrics as one JSON object and nothing else")

    pr = sub.add_parser("predict", help="predict for new rows of a CSV file",
                        formatter_class=fmt, epilog=_PREDICT_EXAMPLES,
                        description="Write predictions for each row of a CSV file.")
    pr.add_argument("model", metavar="MODEL")
    pr.add_argument("--data", required=True, metavar="FILE.csv",
                    help="rows to predict; needs the columns used in training")
    pr.add_argument("--delimiter", type=_delimiter, metavar="CHAR",
                    help="the field separator (default: sniffed)")
    pr.add_argument("--out", metavar="FILE.csv", help="where to write (default: stdout)")
    pr.add_argument("--proba", action="store_true",
                    help="also write one probability column per class (classifiers)")
    pr.add_argument("--unknown", choices=["zeros", "error"],
                    help="unseen categories: all zeros with a warning, or refuse (default: "
                         "what the model was trained with)")

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

    d = sub.add_parser("demo", help="walk through the course's worked example of "
                                    "backpropagation",
                       formatter_class=fmt, epilog=_DEMO_EXAMPLES,
                       description="J = 1/2 (w x + b - y)^2 with w=2, b=8, x=-2, y=2: the "
                                   "forward pass, the backward pass, and one step of gradient "
                                   "descent, as tables (chainrule.tools.explain).")
    d.add_argument("--lr", type=_positive_float, default=0.1,
                   help="learning rate of the gradient-descent step (default 0.1)")
    d.add_argument("--dot", metavar="FILE.dot", help="also write the graph as Graphviz DOT")

    x = sub.add_parser("export", help="export a saved model to ONNX", formatter_class=fmt,
                       epilog=_EXPORT_EXAMPLES, description="Write a saved model as ONNX.")
    x.add_argument("model", metavar="MODEL")
    x.add_argument("--out", required=True, metavar="FILE.onnx", help="where to write")

    pg = sub.add_parser("playground", help="train small networks interactively",
                        formatter_class=fmt, description="The interactive playground.")
    try:
        from . import playground

        playground.add_arguments(pg)
    except ImportError:
        pass  # reported when the command runs
    return parser


# -- printing ------------------------------------------------------------------------------------
def _printable(text: Any) -> str:
    """``text`` with terminal control characters escaped and whitespace runs folded."""
    s = str(text)
    return " ".join(escape_controls(s).split())


def _warn(message: str) -> None:
    sys.stderr.write(f"chainrule: warning: {_printable(message)}\n")


_WARNING_HINTS = (
    ("batch size", "--batch-size"),
    ("learning rate", "--lr"),
)

_API_TO_FLAGS = (  # Python spellings in library warnings, as a command-line user types them
    ("Pass batch_size=None to ask for that, or a smaller batch_size",
     "Pass --batch-size full to ask for that, or a smaller --batch-size"),
    ("batch_size=None", "--batch-size full"),
    ("batch_size", "--batch-size"),
    ("chainrule.data.StandardScaler", "--standardize"),
    ("StandardScaler", "--standardize"),
    ("validation_split", "--val-split"),
    ("lr=", "--lr "),
)


def _warning_line(text: str) -> str:
    """A library warning as the CLI says it: Python API names replaced by flags."""
    for api, flag in _API_TO_FLAGS:
        text = text.replace(api, flag)
    for word, flag in _WARNING_HINTS:
        if word in text and flag not in text:
            text += f" (see {flag})"
            break
    return text


def _json(metrics: dict[str, Any]) -> str:
    """``metrics`` as strict JSON: a number beyond float64 (an MSE of targets near 1e300 is
    inf) or undefined (NaN) is null, which every JSON reader takes, not Infinity or NaN."""
    def strict(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: strict(v) for k, v in value.items()}
        if isinstance(value, float) and not math.isfinite(value):
            return None
        return value

    return json.dumps(strict(metrics), allow_nan=False)


def _fmt_metrics(metrics: dict[str, Any]) -> str:
    if "accuracy" in metrics:
        return f"accuracy {metrics['accuracy']:.1%}  (log loss {metrics['log_loss']:.4f})"
    parts = []
    for key, label in (("mse", "MSE"), ("rmse", "RMSE"), ("mae", "MAE"), ("r2", "R^2"),
                       ("loss", "loss"), ("accuracy", "accuracy")):
        if isinstance(metrics.get(key), (int, float)):
            parts.append(f"{label} {metrics[key]:.4g}" if key != "r2" else
                         f"{label} {metrics[key]:.4f}")
    return "  ".join(parts)


def _print_columns(columns: list[dict[str, Any]]) -> None:
    if not columns:
        return
    width = min(28, max(len(_printable(c["column"])) for c in columns))
    print("columns:")
    for c in columns:
        name = _printable(c["column"])
        name = name if len(name) <= width else name[:width - 3] + "..."
        why = f"  ({_printable(c['reason'])})" if c["kind"] == "dropped" else ""
        print(f"  {name:<{width}}  {c['kind']:<12} {c['used_as']}{why}")


def _print_ready(summary: dict[str, Any], columns: list[dict[str, Any]], notes: list[str]
                 ) -> None:
    classes = f" ({summary['classes']} classes)" if summary["task"] == "classification" else ""
    tr, va, te = summary["split"]
    print(f"data:       {_printable(summary['data'])}: {summary['rows']} rows, "
          f"{summary['features']} features, {summary['task']}{classes}; split {tr}/{va}/{te} "
          "(train/val/test)")
    for note in notes:
        print(f"note:       {_printable(note)}")
    _print_columns(columns)
    arch = "-".join(str(s) for s in summary["architecture"])
    out = f"/{summary['output']}" if summary["output"] != "identity" else ""
    lr = f" lr {summary['lr']:g}" if summary["lr"] is not None else ""
    batch = "full" if summary["batch_size"] is None else summary["batch_size"]
    stop = f", early stopping (patience {summary['patience']})" if summary["patience"] else ""
    print(f"model:      {arch} {summary['activation']}{out}, loss {summary['loss']}, optimizer "
          f"{summary['optimizer']}{lr}, batch {batch}, {summary['epochs']} epochs{stop}")
    if summary.get("resumed_at") is not None:
        print(f"resuming:   after {summary['resumed_at']} of {summary['epochs']} epochs")


# -- commands ------------------------------------------------------------------------------------
def _config(args: argparse.Namespace) -> Any:
    from .workflow import TrainConfig

    return TrainConfig(
        data=args.data, dataset=args.dataset, target=args.target, task=args.task,
        delimiter=args.delimiter, features=args.features, drop=args.drop,
        categorical=args.categorical, unknown=args.unknown, layers=args.layers,
        activation=args.activation, init=args.init, loss=args.loss, optimizer=args.optimizer,
        lr=args.lr, epochs=args.epochs, batch_size=getattr(args, "batch_size", "default"),
        val_split=args.val_split, test_split=args.test_split, patience=args.patience,
        seed=args.seed,
        standardize=args.standardize, class_weight=args.class_weight,
        checkpoint=args.checkpoint, checkpoint_every=args.checkpoint_every, resume=args.resume,
        out=args.out, plots=not args.no_plots, distributed=args.distributed,
        verbose=0 if args.quiet or args.json else 1)


def cmd_train(args: argparse.Namespace) -> int:
    """Train, report, plot and save."""
    from . import workflow

    cfg = _config(args)
    if args.data is not None:
        _need_pandas("chainrule train --data")
    chief = not args.distributed or _rank() == 0
    quiet_report = args.json or args.quiet or not chief

    def ready(summary: dict[str, Any], columns: list[dict[str, Any]], notes: list[str]) -> None:
        if quiet_report:
            for note in notes:
                if chief:
                    _warn(note)
            return
        _print_ready(summary, columns, notes)

    result = workflow.train(cfg, stream=sys.stdout, on_ready=ready)
    for note in result.notes:
        if chief:
            _warn(_warning_line(note))
    if result.diverged:  # the guard stops every rank at the same step: all raise this
        from .distributed import AGREED

        err = CLIError(result.diverged, result.hint, code=3)
        setattr(err, AGREED, True)
        raise err
    if result.interrupted and args.checkpoint and chief:
        sys.stderr.write(f"chainrule: interrupted; checkpoint saved to "
                         f"{_printable(args.checkpoint)}; "
                         "run the same command with --resume to continue\n")
    if not chief:
        return 130 if result.interrupted else 0
    if args.json:
        print(_json(result.metrics))
    else:
        for part, metrics in result.metrics.items():
            line = _fmt_metrics(metrics)
            if part in result.baseline:
                base = result.baseline[part]
                line += f"   (predicting the mean: RMSE {base['rmse']:.4g}, R^2 {base['r2']:.4f})"
            print(f"{part + ':':<12}{line}")
        print(f"saved:      {_printable(result.path)}")
        if result.plots:
            print("plots:      " + ", ".join(map(_printable, result.plots)))
        elif cfg.plots:
            from . import plots

            if not plots.have_matplotlib():
                print("plots:      skipped (matplotlib is not installed; pip install "
                      "matplotlib)")
    return 130 if result.interrupted else 0


def _rank() -> int:
    from .distributed import world

    return int(world().Get_rank())


def _rank_or_zero() -> int:
    try:
        return _rank()
    except Exception:  # no MPI at all: this process is the only one
        return 0


def _need_pandas(what: str) -> None:
    import importlib.util

    if importlib.util.find_spec("pandas") is None:
        raise CLIError(f"{what} reads CSV files with pandas, which is not installed",
                       "pip install pandas   (or: pip install 'chainrule[csv]')")


def cmd_evaluate(args: argparse.Namespace) -> int:
    """Score a saved model on labelled data."""
    from .workflow import Predictor, labelled_rows

    if args.data is not None:
        _need_pandas("chainrule evaluate --data")
    pred = Predictor.load(args.model)
    X, y = labelled_rows(pred, args.data, dataset=args.dataset, target=args.target,
                         delimiter=args.delimiter)
    metrics = pred.score(X, y, encoded=True)
    _unknown_warning(pred)
    if args.json:
        print(_json(metrics))
    else:
        print(f"model: {_printable(args.model)}\ndata:  {_printable(args.data or args.dataset)} "
              f"({metrics['n']} examples)")
        if "accuracy" in metrics:
            correct = round(metrics["accuracy"] * metrics["n"])
            print(f"accuracy: {metrics['accuracy']:.2%}  ({correct}/{metrics['n']} correct)")
            print(f"log loss: {metrics['log_loss']:.4f}")
        else:
            print(f"MSE {metrics['mse']:.6g}  RMSE {metrics['rmse']:.6g}  MAE "
                  f"{metrics['mae']:.6g}  R^2 {metrics['r2']:.4f}")
    if args.confusion_matrix and pred.task.is_classifier:
        from . import plots
        from .io import writes_to
        from .workflow import refuse_overwrite

        refuse_overwrite("--confusion-matrix", args.confusion_matrix,
                         {"the --data file": args.data, "the MODEL file": args.model})
        with writes_to(args.confusion_matrix):
            plots.plot_confusion_matrix(y, pred.classes_of(pred.outputs(X, encoded=True)),
                                        args.confusion_matrix, class_names=pred.class_names)
        if not args.json:
            print(f"confusion matrix: {_printable(args.confusion_matrix)}")
    return 0


def _unknown_warning(pred: Any) -> None:
    from .data.columns import unknown_warning

    text = unknown_warning(pred.unknown)
    if text:
        _warn(text + "; pass --unknown error to refuse such rows")


def cmd_predict(args: argparse.Namespace) -> int:
    """Predict for each row of a CSV file, keeping every input column as written."""
    from .data.tabular import read_frame
    from .workflow import Predictor, refuse_overwrite, write_predictions

    _need_pandas("chainrule predict")
    if args.out:
        refuse_overwrite("--out", args.out, {"the --data file": args.data,
                                            "the MODEL file": args.model})
    pred = Predictor.load(args.model)
    frame = read_frame(args.data, delimiter=args.delimiter, raw=True)
    if pred.encoder is not None:
        X = pred.encode(frame, args.unknown)  # checks columns and categories before output
    else:
        from .data import load_csv

        X = load_csv(read_frame(args.data, delimiter=args.delimiter), None,
                     features=pred.feature_names).X
    _unknown_warning(pred)
    out = pred.outputs(X, encoded=True)
    # on a terminal (or a pipe to one) no cell may send it control sequences
    notes = write_predictions(pred, frame, out, args.out or sys.stdout, proba=args.proba,
                              delimiter=frame.attrs.get("chainrule_delimiter", ","),
                              escape=not args.out)
    for note in notes:
        _warn(note)
    if args.out:
        print(f"wrote {len(frame)} predictions to {_printable(args.out)}", file=sys.stderr)
    return 0


def cmd_info(args: argparse.Namespace) -> int:
    """Describe a saved model."""
    from .workflow import describe

    info = describe(args.model)
    print(f"file:         {_printable(info['file'])}  ({info['bytes']:,} bytes, chainrule "
          f"format {info['format_version']}, written by chainrule {info['chainrule_version']})")
    print(f"parameters:   {info['parameters']:,} in {info['tensors']} tensors, dtype "
          f"{info['dtype']}")
    print("architecture: " + info["architecture"].replace("\\n", "\n              "))
    if "task" in info:
        print(f"task:         {info['task']}  (target column {info['target']!r})")
        feats = info["features"]
        shown = ", ".join(feats[:10]) + (f", ... ({len(feats)} in all)" if len(feats) > 10
                                         else "")
        print(f"features:     {shown}")
        if info["classes"]:
            print(f"classes:      {', '.join(info['classes'][:50])}")
        scaling = "standardised (training mean and std)" if info["scaled"] else "none"
        if info["target_scaled"]:
            scaling += "; target standardised for training, reported in its own units"
        print(f"scaling:      {scaling}")
        _print_columns(info["columns"])
    from .onnx import onnx_inputs  # the exporter's own rule; NumPy-only until a file is written

    inputs = [_printable(line) for line in onnx_inputs(args.model)]
    print("onnx inputs:  " + "\n              ".join(inputs))
    tr = info.get("training")
    if tr:
        print(f"training:     {tr['data']}: {tr['optimizer']} lr {tr['lr']}, loss "
              f"{tr['loss']}, {tr['epochs_run']}/{tr['epochs']} epochs, batch "
              f"{tr['batch_size'] or 'full'}, seed {tr['seed']}, {tr['seconds']} s")
        for part, metrics in info["results"].items():
            print(f"  {part + ':':<12}{_fmt_metrics(metrics)}")
    if info["other_metadata"]:
        print(f"other metadata: {', '.join(info['other_metadata'])}")
    return 0


def cmd_gradcheck(args: argparse.Namespace) -> int:
    """Compare backpropagation with finite differences on a float64 copy of the model."""
    from .workflow import check_gradients

    if args.data is not None:
        _need_pandas("chainrule gradcheck --data")
    r = check_gradients(args.model, args.data, dataset=args.dataset, target=args.target,
                        rows=args.rows, full=args.full)
    if not r.passed:
        print(f"gradient check FAILED ({r.mode}, {r.rows} examples): {_printable(r.message)}")
        return 1
    print(f"gradient check passed: {r.parameters} parameters in {r.tensors} tensors, {r.rows} "
          f"examples, {r.mode}, float64, eps 1e-6, atol 1e-5, rtol 1e-3")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    """Write a saved model as ONNX (needs chainrule.onnx and the onnx package)."""
    from .onnx import export_model_file  # NumPy-only until it writes the file
    from .workflow import refuse_overwrite

    refuse_overwrite("--out", args.out, {"the MODEL file": args.model})
    try:
        export_model_file(args.model, args.out)  # with the model's preprocessing
    except ImportError:
        raise CLIError("ONNX export needs the onnx package",
                       "pip install 'chainrule[onnx]'") from None
    print(f"wrote {_printable(args.out)}")
    return 0


def cmd_playground(args: argparse.Namespace) -> int:
    """Start the interactive playground."""
    try:
        from . import playground
    except ImportError:
        raise CLIError("the playground is not available in this chainrule",
                       "upgrade chainrule") from None
    return int(playground.run(args))


def cmd_demo(args: argparse.Namespace) -> int:
    """The course's worked example through :func:`chainrule.tools.explain.explain`."""
    from . import tensor
    from .tools.explain import explain

    w, b = tensor(2.0, requires_grad=True), tensor(8.0, requires_grad=True)
    x, y = tensor(-2.0), tensor(2.0)
    c = w * x
    a = c + b
    d = a - y
    J = 0.5 * d**2
    ex = explain(J, names={"w": w, "b": b, "x": x, "y": y, "c": c, "a": a, "d": d, "J": J})
    print("The course's example: J = 1/2 (w x + b - y)^2 with w = 2, b = 8, x = -2, y = 2\n")
    print(ex)
    dw, db = ex.grad("w"), ex.grad("b")
    print(f"\nOne step of gradient descent with learning rate {args.lr:g}:")
    print(f"  w := w - lr dJ/dw = 2 - {args.lr:g} * ({dw:g}) = {2 - args.lr * dw:g}")
    print(f"  b := b - lr dJ/db = 8 - {args.lr:g} * ({db:g}) = {8 - args.lr * db:g}")
    J2 = 0.5 * ((2 - args.lr * dw) * -2.0 + (8 - args.lr * db) - 2.0) ** 2
    print(f"  J goes from {ex.value('J'):g} to {J2:g}")
    if args.dot:
        from .io.atomic import atomic_write

        atomic_write(args.dot, [ex.to_dot().encode("utf-8")])  # a full disk names the file
        dot = _printable(args.dot)
        print(f"\ngraph written to {dot} (render with: dot -Tsvg {dot} -o graph.svg)")
    return 0


_COMMANDS = {"demo": cmd_demo, "train": cmd_train, "evaluate": cmd_evaluate, "predict": cmd_predict,
             "info": cmd_info, "gradcheck": cmd_gradcheck, "export": cmd_export,
             "playground": cmd_playground}

_HINTS = {
    "ModelFileError": "is MODEL a .safetensors file written by 'chainrule train'?",
    "DataError": "check the data file; 'chainrule {cmd} --help' shows the options for it",
    "ConfigError": "see 'chainrule {cmd} --help' for the valid options",
    "PlotError": "pip install matplotlib, or pass --no-plots",
}


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``chainrule`` command with ``argv`` (default: ``sys.argv[1:]``)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not args.command:
        parser.print_help()
        return 0
    with warnings.catch_warnings():
        warnings.showwarning = _show_warning  # one clean line each, not Python's two
        try:
            if getattr(args, "distributed", False):
                from .distributed import run

                # An error on one rank ends every rank within seconds, with its message (no
                # rank waits forever in a collective); an error that every rank raised
                # together comes back here and rank 0 reports it.
                return run(lambda: _COMMANDS[args.command](args))
            return _COMMANDS[args.command](args)
        except BaseException as err:
            return _handle(err, args)


def _handle(err: BaseException, args: argparse.Namespace) -> int:
    """Report an error as one line and a hint; the exit status (a bug is re-raised)."""
    from .errors import ChainruleError

    if isinstance(err, CLIError):
        _report(str(err), err.hint or f"run 'chainrule {args.command} --help'", args)
        return err.code
    if isinstance(err, KeyboardInterrupt):
        sys.stderr.write("chainrule: interrupted\n")
        return 130
    if isinstance(err, BrokenPipeError):  # 'chainrule predict ... | head': the reader left
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0
    if isinstance(err, MemoryError):
        _report("out of memory", "use smaller --layers or --batch-size, or less data", args)
    elif isinstance(err, OSError) and isinstance(err, ChainruleError):  # names its file
        full = err.errno in (errno.ENOSPC, errno.EFBIG, getattr(errno, "EDQUOT", errno.ENOSPC))
        _report(err.strerror or str(err), "free some space, or write to another disk" if full
                else "check the path and permissions", args)
    elif isinstance(err, OSError):
        where = f": {err.filename}" if getattr(err, "filename", None) else ""
        _report(f"{err.strerror or err}{where}", "check the path and permissions", args)
    elif isinstance(err, ChainruleError):
        # under MPI, an error another rank raised comes as a DistributedError naming it
        kind = getattr(err, "origin", type(err).__name__)
        hint = _HINTS.get(kind, "run 'chainrule {cmd} --help'")
        _report(str(err), hint.format(cmd=args.command), args)
    else:
        raise err
    return 1


def _show_warning(message: Warning | str, category: type[Warning], filename: str,
                  lineno: int, file: Any = None, line: str | None = None) -> None:
    """Print a Python warning as the command's own one-line warning (no source line)."""
    _warn(_warning_line(" ".join(str(message).split())))


def _report(message: str, hint: str, args: argparse.Namespace | None = None) -> None:
    if args is not None and getattr(args, "distributed", False) and _rank_or_zero() != 0:
        return  # every rank raised the same error; rank 0 says it once
    sys.stderr.write(f"chainrule: error: {_printable(message)[:2000]}\nhint: "
                     f"{_printable(hint)}\n")
