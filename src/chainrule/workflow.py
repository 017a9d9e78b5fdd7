"""What ``chainrule train``, ``predict``, ``evaluate``, ``info`` and ``gradcheck`` do, as library
functions, so a Python user gets the same behaviour as a command-line user.

- :func:`train` runs a whole training job from a :class:`TrainConfig`: read the table, type its
  columns, split, fit the preprocessing on the training split only, train with early stopping,
  measure every split (regression numbers in the target's own units, beside the baseline of
  predicting the training mean) and save the model with its preprocessing.  A run stopped by
  non-finite numbers saves nothing and says so in :attr:`TrainResult.diverged`.
  Under MPI (``distributed=True``) every rank fits the preprocessing on its share of the
  training rows and the statistics are combined (:mod:`chainrule.data.combine`), so all ranks
  agree; any error on one rank ends every rank.
- :class:`Predictor`, :func:`evaluate`, :func:`describe` and :func:`check_gradients` (a saved
  model with its preprocessing, used) live in :mod:`chainrule.predictor` and are re-exported
  here.

The printing stays in :mod:`chainrule.cli`; everything here returns data.
"""

from __future__ import annotations

import contextlib
import inspect
import itertools
import os
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .data.tabular import quote
from .errors import ConfigError, DataError
from .io import writes_to
from .job import TrainConfig, check_class_weight, parse_class_weight
from .predictor import (
    GradcheckReport,
    Predictor,
    check_gradients,
    describe,
    evaluate,
    fit_target,
    labelled_rows,
    regression_scores,
    write_predictions,
)

__all__ = [
    "GradcheckReport",
    "Predictor",
    "PreparedData",
    "RunLock",
    "TrainConfig",
    "TrainResult",
    "check_class_weight",
    "check_gradients",
    "check_outputs",
    "describe",
    "evaluate",
    "labelled_rows",
    "parse_class_weight",
    "read_table",
    "refuse_overwrite",
    "run_outputs",
    "same_file",
    "train",
    "write_predictions",
]

_MAX_PARAMETERS = 200_000_000  # 800 MB of float32: beyond it a typo, not a plan


@dataclass
class TrainResult:
    """What a training run produced.  ``metrics[split]`` holds the numbers of each split
    (``train``, ``validation``, ``test``); for regression ``baseline[split]`` holds those of
    predicting the training mean.  ``diverged`` is the message of a run stopped by non-finite
    numbers (then nothing was saved and ``path`` is None)."""

    model: Any
    task: str
    metrics: dict[str, dict[str, float]]
    baseline: dict[str, dict[str, float]]
    columns: list[dict[str, Any]]
    notes: list[str]
    summary: dict[str, Any]
    history: Any = None
    path: str | None = None
    plots: list[str] = field(default_factory=list)
    diverged: str | None = None
    hint: str = ""
    interrupted: bool = False
    rows: dict[str, np.ndarray] = field(default_factory=dict)
    """Positions of each split's rows among the rows kept (those with a target)."""


# -- preparing the data ----------------------------------------------------------------------------
@dataclass
class PreparedData:
    """A training job's data, encoded: the rows this process holds (all of them in one
    process; under MPI this rank's share, in file order) as the feature matrix ``X`` and the
    target ``y`` (class codes or numbers), and ``split``: the positions in ``X`` of this
    rank's training, validation and test rows.  ``split_rows`` holds each split's positions
    among all ``n_rows`` rows kept (those with a target), the same on every rank; ``X[0]`` is
    row ``offset`` of them.  ``encoder`` is the fitted table encoder (None for a named data
    set)."""

    X: np.ndarray
    y: np.ndarray
    task: str
    feature_names: list[str]
    class_names: list[str] | None
    name: str
    target: str | None
    split: tuple[np.ndarray, np.ndarray, np.ndarray]
    encoder: Any = None
    notes: list[str] = field(default_factory=list)
    split_rows: tuple[np.ndarray, np.ndarray, np.ndarray] = ()  # type: ignore[assignment]
    n_rows: int = 0
    offset: int = 0


def _split(y: np.ndarray, task: str, cfg: TrainConfig, comm: Any
           ) -> tuple[tuple[np.ndarray, ...], tuple[np.ndarray, ...], int, int]:
    """The split of all the ranks' rows (``y``: this rank's targets) as one process on all of
    them makes it, and this rank's part of it: (split of all rows, this rank's positions of
    each split, rows in all, this rank's first row)."""
    from .data import train_val_test_split

    shares = comm.gather(y)
    y_all = np.concatenate(shares) if len(shares) > 1 else shares[0]
    offset = sum(len(s) for s in shares[:comm.rank])
    idx = np.arange(len(y_all))
    (tr, _), (va, _), (te, _) = train_val_test_split(
        idx, y_all, cfg.val_split, cfg.test_split,
        stratify=y_all if task == "classification" else None, seed=cfg.seed)
    mine = tuple(g[(g >= offset) & (g < offset + len(y))] - offset for g in (tr, va, te))
    return (tr, va, te), mine, len(y_all), offset


def read_table(cfg: TrainConfig, comm: Any = None) -> PreparedData:
    """What ``chainrule train --data`` does before training: read ``cfg.data``, type its
    columns, drop the rows without a target, split, fit the encoder on the training rows only
    and encode every row.  Under MPI (``comm``, a ``chainrule.distributed.Communicator``) each
    rank reads only its share of the file's records (:mod:`chainrule.data.shares`); the
    column typing, the target's classes, the split and the encoder's statistics are agreed
    over all the ranks' rows, so every rank ends with the preprocessing one process fits."""
    from .data.columns import TableEncoder, infer_columns, prepare_target, unknown_warning
    from .data.shares import read_share
    from .distributed import Communicator

    comm = Communicator() if comm is None else comm
    comm.agree(lambda: _needs_target(cfg), "check the options")
    frame = read_share(cfg.data, comm, delimiter=cfg.delimiter)
    target = comm.agree(lambda: prepare_target(frame, cfg.target, cfg.task, comm=comm),
                        "read the target column")
    notes = []
    dropped = int(comm.sum(np.array([float(target.dropped)]))[0])
    if dropped:
        notes.append(f"{dropped} row(s) with a missing target {quote(cfg.target)} were left "
                     "out")
        frame = frame[target.keep]
    plans = comm.agree(lambda: infer_columns(frame, cfg.target, features=cfg.features,
                                             drop=cfg.drop, categorical=cfg.categorical,
                                             comm=comm), "type the columns")
    split_rows, (tr, va, te), n_rows, offset = _split(target.y, target.task, cfg, comm)
    name = frame.attrs.get("chainrule_source", "the table")
    encoder = TableEncoder(plans).fit(frame.iloc[tr], comm=comm)
    X = comm.agree(lambda: encoder.transform(frame), "encode the table")
    unseen: dict[str, list[str]] = {}
    for found in comm.gather(encoder.unknown):
        for column, values in found.items():
            unseen.setdefault(column, [])
            unseen[column] += [v for v in values if v not in unseen[column]]
    seen = unknown_warning(unseen)
    if seen:
        notes.append("validation or test rows hold " + seen.replace(
            "categories not seen in training were encoded", "categories absent from the "
            "training split, encoded"))
    return PreparedData(X, target.y, target.task, encoder.feature_names, target.class_names,
                        name, cfg.target, (tr, va, te), encoder, notes, split_rows, n_rows,
                        offset)


def _needs_target(cfg: TrainConfig) -> None:
    if not cfg.target:
        raise ConfigError("--data needs --target COL, the name of the column to predict")


def _prepare_arrays(cfg: TrainConfig, comm: Any) -> PreparedData:
    """A named data set: every rank loads it and keeps its contiguous share of the rows."""
    from .data import load_dataset
    from .distributed import shard_range

    ds = comm.agree(lambda: load_dataset(cfg.dataset or "flower"), "load the data set")
    task = ds.task if cfg.task == "auto" else cfg.task
    y = ds.y.astype(np.float64) if task == "regression" else ds.y
    rows = slice(*shard_range(len(y), comm.rank, comm.size))
    split_rows, mine, n_rows, offset = _split(y[rows], task, cfg, comm)
    return PreparedData(ds.X[rows], y[rows], task, list(ds.feature_names),
                        ds.class_names if task == "classification" else None,
                        cfg.dataset or "flower", ds.target, mine, None, [], split_rows,
                        n_rows, offset)


# -- running ---------------------------------------------------------------------------------
class _Defaults:
    """The options a run ends up with: the course job's, or those for real data."""

    def __init__(self, cfg: TrainConfig) -> None:
        course = cfg.course_job

        def pick(value: Any, for_course: Any, general: Any) -> Any:
            return value if value is not None else (for_course if course else general)

        self.layers = pick(cfg.layers, [4], [64])
        self.activation = pick(cfg.activation, "tanh", "relu")
        self.optimizer = pick(cfg.optimizer, "sgd", "adam")
        self.lr = pick(cfg.lr, 1.2, None)
        self.epochs = pick(cfg.epochs, 10_000, 300)
        self.batch_size = (None if course else 32) if cfg.batch_size == "default" else \
            cfg.batch_size
        self.init = pick(cfg.init, "normal", None)
        self.standardize = pick(cfg.standardize, False, True)
        # Early stopping on the validation loss keeps the best epoch's weights; without it
        # a generous epoch budget would overfit small tables.
        self.patience = pick(cfg.patience, None, 30 if cfg.val_split > 0 else None)


def _class_weights(cfg: TrainConfig, counts: np.ndarray, names: list[str]) -> np.ndarray:
    """The weight of each class: 'balanced' is scikit-learn's n / (k * count), from the
    training rows' class ``counts``; label=weight pairs set some (the others weigh 1)."""
    if cfg.class_weight == "balanced":
        per_class = np.where(counts > 0, counts.sum() / (len(names) * np.maximum(counts, 1)),
                             0.0)
    else:
        per_class = np.ones(len(names))
        for label, w in dict(cfg.class_weight).items():
            if label not in names:
                raise ConfigError(f"--class-weight names the class {quote(label)}, which the "
                                  f"target does not hold; the classes are "
                                  f"{', '.join(names)}")
            per_class[names.index(label)] = check_class_weight(label, w)
        if not (per_class * counts).sum() > 0:
            raise ConfigError("--class-weight gives every class of the training rows weight "
                              "0, so nothing is left to learn from; give one a positive "
                              "weight")
    return per_class


@contextlib.contextmanager
def _collect_warnings(into: list[str]) -> Iterator[None]:
    """Gather warnings as one-line texts (the CLI prints them cleanly) and keep NumPy's
    overflow chatter quiet: the non-finite guard reports what matters."""
    with warnings.catch_warnings(record=True) as caught, np.errstate(all="ignore"):
        warnings.simplefilter("always")
        try:
            yield
        finally:
            for w in caught:
                text = " ".join(str(w.message).split())
                if not issubclass(w.category, DeprecationWarning) and text not in into:
                    into.append(text)


def train(cfg: TrainConfig, *, stream: Any = None,
          on_ready: Callable[[dict[str, Any], list[dict[str, Any]], list[str]], None] | None
          = None) -> TrainResult:
    """Run the training job ``cfg`` describes (see the module docstring); progress goes to
    ``stream`` when ``cfg.verbose``.  ``on_ready(summary, columns, notes)`` is called once the
    data is read and typed, before training starts (the CLI prints the column table then).

    The output folder is held by one run at a time (:class:`RunLock`); a checkpoint or data
    file that is one of the run's outputs is refused (:func:`check_outputs`)."""
    with contextlib.ExitStack() as held:  # the output folder's lock, released however it ends
        return _train(cfg, held, stream, on_ready)


def _train(cfg: TrainConfig, held: contextlib.ExitStack, stream: Any,
           on_ready: Callable[[dict[str, Any], list[dict[str, Any]], list[str]], None] | None
           ) -> TrainResult:
    from .data import StandardScaler
    from .data.combine import mean_std
    from .tools.saving import save
    from .training import CSVLogger, EarlyStopping, Trainer, build_mlp
    from .training.targets import TargetScaler

    comm = _communicator(cfg)
    comm.agree(cfg.check, "check the options")
    d = _Defaults(cfg)
    prep = read_table(cfg, comm) if cfg.data is not None else _prepare_arrays(cfg, comm)
    tr, va, te = prep.split
    n_classes = len(prep.class_names or [])
    fewest = -comm.max(-len(tr))  # training rows of the rank with the fewest
    task = comm.agree(lambda: _task_of(cfg, prep, d, fewest, comm.size), "check the model")
    X, y = prep.X, prep.y
    scaler = None
    if d.standardize:  # statistics of the training rows of every rank together
        mean, std, _ = mean_std(X[tr], comm.sum)  # any finite magnitude, exact otherwise
        scaler = StandardScaler.from_dict({"mean": mean.tolist(),
                                           "scale": np.where(std > 0, std, 1.0).tolist()})
    Z = scaler.transform(X) if scaler is not None else X
    comm.agree(lambda: _check_range(Z, prep.feature_names, cfg.course_job, scaler is not None),
               "check the features")
    y_scale = None
    y_fit = y
    if prep.task == "regression":  # train on standardised targets, report in real units
        fitted = TargetScaler.fit(y[tr].reshape(-1, 1), comm.sum)  # any finite magnitude
        y_scale = {"mean": float(fitted.mean[0]), "scale": float(fitted.scale[0])}
        y_fit = (y - y_scale["mean"]) / y_scale["scale"]
    weights = None
    if prep.task == "classification" and cfg.class_weight is not None:
        counts = comm.sum(np.bincount(y[tr], minlength=n_classes
                                      ).astype(np.float64))
        weights = comm.agree(lambda: _class_weights(cfg, counts, prep.class_names or []),
                             "weigh the classes")[y]
    dtype = np.float64 if cfg.course_job else np.float32
    model = build_mlp(X.shape[1], d.layers, task.n_outputs(n_classes or None),
                      activation=d.activation, output=task.output, init=d.init, dtype=dtype,
                      rng=cfg.seed)
    out_dir = cfg.out or os.path.join("runs", _run_name(prep.name))
    comm.agree(lambda: check_outputs(cfg, out_dir), "check the output files")
    # only the chief rank writes into the folder, so only it holds the lock
    lock = comm.agree(lambda: RunLock(out_dir).acquire() if comm.rank == 0 else None,
                      "claim the output folder")
    if lock is not None:
        held.callback(lock.release)
    resuming = bool(cfg.resume and cfg.checkpoint and os.path.exists(cfg.checkpoint))
    callbacks: list[Any] = [CSVLogger(os.path.join(out_dir, HISTORY_FILE), append=resuming)]
    if d.patience:
        comm.agree(lambda: _needs_validation(prep), "check the options")
        callbacks.append(EarlyStopping("val_loss", patience=d.patience,
                                       restore_best_weights=True))
    if cfg.batch_size == "default" and d.batch_size is not None and \
            comm.max(len(tr)) <= d.batch_size:
        d.batch_size = None  # the default batch holds every row: say full batch, not warn

    notes = list(prep.notes) + ([lock.note] if lock is not None and lock.note else [])
    trainer = Trainer(model, loss=cfg.loss if cfg.loss != "auto" else task.loss,
                      optimizer=d.optimizer, lr=d.lr, batch_size=d.batch_size, seed=cfg.seed,
                      callbacks=callbacks, verbose=cfg.verbose, stream=stream,
                      distributed=comm if cfg.distributed else False,
                      checkpoint=cfg.checkpoint,
                      checkpoint_every=cfg.checkpoint_every)
    if resuming:
        trainer.load_checkpoint(cfg.checkpoint)
    os.makedirs(out_dir, exist_ok=True)
    fit_kwargs: dict[str, Any] = {}
    if weights is not None:
        if "sample_weight" not in inspect.signature(trainer.fit).parameters:
            raise ConfigError("--class-weight needs a chainrule whose training loop takes "
                              "sample weights; this one does not")
        fit_kwargs["sample_weight"] = weights[tr]
    summary = {"data": prep.name if isinstance(prep.name, str) else "a table",
               "rows": prep.n_rows, "features": X.shape[1], "task": prep.task,
               "classes": n_classes, "split": [len(r) for r in prep.split_rows],
               "architecture": [X.shape[1], *d.layers, task.n_outputs(n_classes or None)],
               "activation": d.activation, "output": task.output,
               "loss": cfg.loss if cfg.loss != "auto" else task.loss,
               "optimizer": d.optimizer, "lr": d.lr, "batch_size": d.batch_size,
               "epochs": d.epochs, "patience": d.patience, "standardize": bool(d.standardize),
               "seed": cfg.seed, "init": d.init, "resumed_at": trainer.epoch if resuming
               else None}
    columns = prep.encoder.describe() if prep.encoder else []
    if on_ready is not None:
        on_ready(summary, columns, notes)
        notes.clear()  # reported
    start = time.perf_counter()
    with _collect_warnings(notes):
        history = trainer.fit(Z[tr], fit_target(y_fit[tr], task),
                              max(0, d.epochs - trainer.epoch),
                              validation_data=(Z[va], fit_target(y_fit[va], task))
                              if len(prep.split_rows[1]) else None, **fit_kwargs)
    seconds = time.perf_counter() - start
    result = TrainResult(model, prep.task, {}, {}, columns, notes, summary, history,
                         interrupted=history.interrupted,
                         rows=dict(zip(("train", "validation", "test"), prep.split_rows)))
    if trainer.nonfinite is not None:
        nf = trainer.nonfinite
        notes[:] = [n for n in notes if "non-finite" not in n]
        lr = trainer.optimizer.lr
        result.diverged = (f"training diverged: non-finite numbers in epoch {nf['epoch']}, "
                           f"batch {nf['batch']} ({nf['what']}); no model was saved")
        result.hint = f"lower the learning rate, e.g. --lr {lr / 10:g}" + (
            "" if d.standardize else ", or standardise the inputs with --standardize")
        return result
    predictor = Predictor(model, {"preprocessing": _preprocessing(
        prep, task, scaler, y_scale, cfg)})
    is_chief = trainer.dist is None or trainer.dist.rank == 0
    scored = {}
    for part, rows, every in zip(("train", "validation", "test"), (tr, va, te),
                                 prep.split_rows):
        if len(every):
            y_all, out = _gathered_outputs(predictor, X, y, rows, comm)
            scored[part] = y_all, out
            result.metrics[part] = predictor.metrics(y_all, out)
            if y_scale is not None:
                result.baseline[part] = regression_scores(
                    y_all, np.full(len(y_all), y_scale["mean"]))
    # the decision boundary is drawn over every rank's rows (every rank takes part)
    points = comm.gather((X, y)) if cfg.plots and X.shape[1] == 2 and prep.encoder is None \
        else []
    if not is_chief:
        return result
    epochs_run = getattr(trainer, "epochs_run", len(history))
    training = {**summary, "epochs_run": epochs_run, "seconds": round(seconds, 3),
                "stop_reason": history.stop_reason, "results": result.metrics,
                "baseline": result.baseline, "val_split": cfg.val_split,
                "test_split": cfg.test_split, "hidden_layers": d.layers,
                "lr": trainer.optimizer.initial_lr,
                "processes": trainer.dist.size if trainer.dist is not None else 1}
    path = os.path.join(out_dir, MODEL_FILE)
    save(model, path, preprocessing=predictor.preprocessing, training=training)
    result.path = path
    if cfg.plots:
        result.plots = _plots(predictor, prep, history, out_dir,
                              scored.get("validation", scored["train"]), points)
    return result


def _check_range(Z: np.ndarray, names: list[str], course_job: bool, scaled: bool) -> None:
    """DataError naming the feature columns whose (scaled) values the float32 network cannot
    hold: they would become infinity inside it and training would 'diverge'."""
    if course_job or not len(Z):  # the course's job trains in float64
        return
    limit = float(np.finfo(np.float32).max)
    over = np.flatnonzero(np.maximum(Z.max(axis=0), -Z.min(axis=0)) > limit)
    if len(over):
        shown = ", ".join(quote(names[j] if j < len(names) else f"column {j}")
                          for j in over[:5])
        raise DataError(f"the feature column(s) {shown}{' and more' if len(over) > 5 else ''} "
                        f"hold values beyond float32's range (about {limit:.1e})"
                        + (" even after standardising with the training rows' mean and std; "
                           "rescale them (or their outliers)" if scaled else
                           "; standardise them (leave --standardize on) or rescale them"))


def _needs_validation(prep: PreparedData) -> None:
    if not len(prep.split_rows[1]):
        raise ConfigError("--patience needs a validation split (--val-split 0.2)")


def _communicator(cfg: TrainConfig) -> Any:
    from .distributed import communicator

    return communicator(bool(cfg.distributed))


def _task_of(cfg: TrainConfig, prep: PreparedData, d: _Defaults, fewest: int,
             ranks: int) -> Any:
    """The output and loss for this target, refusing what cannot train (``fewest``: the
    training rows of the rank that holds fewest)."""
    from .training import tasks

    if fewest < 1:
        n_train = len(prep.split_rows[0])
        raise DataError(f"{n_train} training row(s) cannot be shared by {ranks} MPI ranks: "
                        "every rank needs at least one of its share of the rows; start fewer "
                        f"(mpiexec -n {max(1, min(n_train, ranks - 1))}) or use more data")

    if prep.task == "classification" and len(prep.class_names or []) < 2:
        only = (prep.class_names or ["?"])[0]
        raise DataError(f"the target {quote(prep.target)} has only one class ({quote(only)}); "
                        "a classifier needs at least two")
    n_classes = len(prep.class_names or [])
    task = tasks.for_target(prep.task, n_classes)
    if cfg.loss != "auto":
        task = _task_for_loss(cfg.loss, prep.task, n_classes, task)
    n_params = _count_parameters(prep.X.shape[1], d.layers, task.n_outputs(n_classes or None))
    if n_params > _MAX_PARAMETERS:
        raise ConfigError(f"--layers {','.join(map(str, d.layers))} gives {n_params:,} "
                          f"parameters, beyond the {_MAX_PARAMETERS:,} this command builds; "
                          "use smaller layers")
    return task


def _task_for_loss(loss: str, kind: str, n_classes: int, default: Any) -> Any:
    from .training import get_loss, tasks

    get_loss(loss)  # an unknown name is refused with the list of valid ones
    if kind == "classification" and loss == "mse":
        raise ConfigError("--loss mse on a classification target: use --task regression for "
                          "numbers, or leave --loss out")
    if kind == "regression" and loss != "mse":
        raise ConfigError(f"--loss {loss} needs class labels but the target is numeric "
                          "(regression); leave --loss out or pass --task classification")
    if loss == "cross_entropy" and n_classes == 2:
        return tasks.get("multiclass")  # two logits and softmax: allowed, same as bce
    if loss == "bce_with_logits" and n_classes == 2:
        return tasks.get("binary_logits")
    if loss in ("bce", "bce_with_logits") and n_classes > 2:
        raise ConfigError(f"--loss {loss} is for two classes but the target has {n_classes}; "
                          "leave --loss out (cross_entropy)")
    return default


def _count_parameters(n_in: int, hidden: Sequence[int], n_out: int) -> int:
    sizes = [n_in, *hidden, n_out]
    return sum((a + 1) * b for a, b in itertools.pairwise(sizes))


def _run_name(name: Any) -> str:
    base = os.path.splitext(os.path.basename(str(name)))[0] if isinstance(name, str) else ""
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in base) or "data"


def _gathered_outputs(predictor: Predictor, X: np.ndarray, y: np.ndarray, rows: np.ndarray,
                      comm: Any) -> tuple[np.ndarray, np.ndarray]:
    """The targets and raw outputs of ``rows`` of every rank (this rank's ``X[rows]``)."""
    mine = predictor.outputs(X[rows], encoded=True) if len(rows) else None  # may hold none
    parts = [p for p in comm.gather((y[rows], mine)) if p[1] is not None]
    return (np.concatenate([t for t, _ in parts]),
            np.concatenate([o for _, o in parts]))


def _preprocessing(prep: PreparedData, task: Any, scaler: Any, y_scale: Any,
                   cfg: TrainConfig) -> dict[str, Any]:
    return {"task": prep.task, "target": prep.target, "output": task.name,
            "feature_names": prep.feature_names,
            "class_names": prep.class_names if prep.task == "classification" else None,
            "scaler": scaler.to_dict() if scaler is not None else None,
            "columns": prep.encoder.to_dict() if prep.encoder is not None else None,
            "target_scaler": y_scale, "unknown": cfg.unknown}


def _plots(predictor: Predictor, prep: PreparedData, history: Any, out_dir: str,
           scored: tuple[np.ndarray, np.ndarray],
           points: list[tuple[np.ndarray, np.ndarray]]) -> list[str]:
    """The run's figures: training curves; for classifiers the confusion matrix of the
    validation rows (``scored``: their targets and outputs) and, for two input features,
    the decision boundary over every rank's rows (``points``)."""
    from . import plots

    if not plots.have_matplotlib():
        return []
    name = _run_name(prep.name)
    path = os.path.join(out_dir, PLOT_FILES["loss"])
    with writes_to(path):
        written = [plots.plot_history(history, path, title=f"{name}: training curves")]
    if prep.task == "classification":
        def classes(X: np.ndarray) -> np.ndarray:
            return predictor.classes_of(predictor.outputs(X, encoded=True))

        if points:
            path = os.path.join(out_dir, PLOT_FILES["decision boundary"])
            with writes_to(path):
                written.append(plots.plot_decision_boundary(
                    classes, np.concatenate([p for p, _ in points]),
                    np.concatenate([t for _, t in points]), path,
                    class_names=prep.class_names,
                    title=f"{name}: decision boundary (all data)"))
        y_true, out = scored
        path = os.path.join(out_dir, PLOT_FILES["confusion matrix"])
        with writes_to(path):
            written.append(plots.plot_confusion_matrix(
                y_true, predictor.classes_of(out), path, class_names=prep.class_names))
    return written


# -- the output folder ------------------------------------------------------------------------
MODEL_FILE = "model.safetensors"
HISTORY_FILE = "history.csv"
PLOT_FILES = {"loss": "loss.png", "decision boundary": "decision_boundary.png",
              "confusion matrix": "confusion_matrix.png"}
LOCK_FILE = ".chainrule-run.lock"


def run_outputs(out_dir: str | os.PathLike[str]) -> dict[str, str]:
    """The files a training run writes into ``out_dir``, by what they hold."""
    names = {"model file": MODEL_FILE, "training history": HISTORY_FILE,
             **{f"{what} plot": name for what, name in PLOT_FILES.items()},
             "lock file": LOCK_FILE}
    return {what: os.path.join(os.fspath(out_dir), name) for what, name in names.items()}


def same_file(a: str | os.PathLike[str], b: str | os.PathLike[str]) -> bool:
    """Whether ``a`` and ``b`` name one file: the same file where both exist (links and
    other spellings included), else the same absolute path once links are resolved."""
    try:
        return os.path.samefile(a, b)
    except (OSError, ValueError):  # one does not exist yet: compare where the names lead
        try:
            return os.path.normcase(os.path.realpath(a)) == os.path.normcase(
                os.path.realpath(b))
        except (OSError, ValueError):
            return False


def refuse_overwrite(option: str, path: str | os.PathLike[str],
                     inputs: dict[str, str | os.PathLike[str] | None]) -> None:
    """ConfigError when the file ``option`` names, ``path``, is one of ``inputs`` (what it
    is: its name): writing it would replace that file."""
    for what, other in inputs.items():
        if isinstance(other, (str, os.PathLike)) and same_file(path, other):
            raise ConfigError(f"{option} {quote(os.fspath(path))} is {what}; writing it would "
                              f"replace that file: pass another {option}")


def check_outputs(cfg: TrainConfig, out_dir: str) -> None:
    """Refuse a ``--checkpoint`` that is one of the run's own outputs in ``out_dir`` (each
    would silently replace the other), and any output that is the ``--data`` file."""
    outputs = [(path, f"the {what} of this run") for what, path in run_outputs(out_dir).items()]
    if cfg.checkpoint is not None:
        for path, what in outputs:
            if same_file(cfg.checkpoint, path):
                raise ConfigError(
                    f"--checkpoint {quote(os.fspath(cfg.checkpoint))} is {what} "
                    f"({quote(path)}); one would overwrite the other: pass another file, "
                    f"e.g. --checkpoint {os.path.join(out_dir, 'checkpoint.safetensors')}")
        outputs.append((os.fspath(cfg.checkpoint), "the --checkpoint file"))
    for path, what in outputs:
        refuse_overwrite("--out" if what.endswith("of this run") else "--checkpoint", path,
                         {"the --data file": cfg.data})


class RunLock:
    """The lock file of an output folder: one training run writes into it at a time.

    :meth:`acquire` creates ``<folder>/.chainrule-run.lock`` holding this process's id and
    locks it (``flock``); the lock ends with :meth:`release` or with the process, so a run
    killed with ``kill -9`` leaves a file that the next run takes over (``note`` says so).
    A second live run is refused with a ConfigError naming the folder and the first run's
    process id.
    """

    def __init__(self, folder: str | os.PathLike[str]) -> None:
        self.folder = os.fspath(folder)
        self.path = os.path.join(self.folder, LOCK_FILE)
        self.note: str | None = None
        self._fd: int | None = None

    def acquire(self) -> RunLock:
        """Take the folder (creating it); ConfigError when another live run holds it."""
        with writes_to(self.path):
            os.makedirs(self.folder, exist_ok=True)
            try:
                import fcntl
            except ImportError:  # no flock (Windows): the file's existence is the lock
                self._fd = self._create()
                return self
            while self._fd is None:
                fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    holder = _pid_in(fd)
                    os.close(fd)
                    raise self._busy(holder) from None
                try:  # the file locked may be one its last holder had just removed
                    current = os.path.samestat(os.fstat(fd), os.stat(self.path))
                except FileNotFoundError:
                    current = False
                if not current:
                    os.close(fd)
                    continue
                stale = _pid_in(fd)
                if stale is not None:
                    self.note = (f"took over the lock of {self.folder} from process {stale}, "
                                 "a run that ended without releasing it")
                os.ftruncate(fd, 0)
                os.pwrite(fd, f"{os.getpid()}\n".encode("ascii"), 0)
                self._fd = fd
        return self

    def _create(self) -> int:
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError:
            raise self._busy(_pid_in(self.path), f"; if no run is writing there, delete "
                                                 f"{self.path}") from None
        os.write(fd, f"{os.getpid()}\n".encode("ascii"))
        return fd

    def _busy(self, holder: int | None, hint: str = "") -> ConfigError:
        who = f"(process {holder}) " if holder is not None else ""
        return ConfigError(f"another chainrule run {who}is writing to {quote(self.folder)} "
                           f"(it holds {LOCK_FILE}); wait for it to end or pass another "
                           f"--out{hint}")

    def release(self) -> None:
        """Remove the lock file and unlock; a no-op when not held."""
        if self._fd is None:
            return
        with contextlib.suppress(OSError):
            os.unlink(self.path)  # before unlocking: a waiting run then locks a new file
        os.close(self._fd)
        self._fd = None

    def __enter__(self) -> RunLock:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()


def _pid_in(file: int | str) -> int | None:
    """The process id a lock file holds (None when empty or unreadable)."""
    try:
        if isinstance(file, int):
            text = os.pread(file, 32, 0)
        else:
            with open(file, "rb") as f:
                text = f.read(32)
    except OSError:
        return None
    digits = text.strip()
    return int(digits) if digits.isdigit() else None
