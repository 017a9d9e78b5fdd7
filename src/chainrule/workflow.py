"""``chainrule train`` as a library function: :func:`train` runs a training job from its
spec, a :class:`~chainrule.job.TrainConfig`, and returns data (the printing stays in
:mod:`chainrule.cli`).

The job: read the data (:mod:`chainrule.jobdata`: the table typed, split, and its encoder
fitted on the training rows only), fit the pipeline's other steps on the training rows (the
feature scaler; the head's target standardisation for a regression), fit the network with
early stopping, measure every split (regression numbers in the target's own units, beside
the baseline of predicting the training mean) and save the :class:`~chainrule.pipeline.Pipeline`
into the output folder (:mod:`chainrule.runs`).  A run stopped by non-finite numbers saves
nothing and says so in :attr:`TrainResult.diverged`.  Under MPI (``distributed=True``) every
rank fits on its share of the training rows and the statistics are combined, so all ranks
agree; any error on one rank ends every rank.

Using a saved model (:class:`Predictor`, :func:`evaluate`, :func:`describe`,
:func:`check_gradients`, :func:`write_predictions`) lives in :mod:`chainrule.predictor`, the
output folder's rules (:class:`RunLock`, :func:`refuse_overwrite`...) in :mod:`chainrule.runs`
and the job spec in :mod:`chainrule.job`; they are re-exported here for the code that
imports them from this module.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import os
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .distributed import communicator
from .errors import Option, OptionError, OptionWarning
from .job import RunOptions, TrainConfig, check_class_weight, parse_class_weight, rules
from .jobdata import PreparedData, read_dataset, read_table
from .pipeline import Head, Pipeline, blend, choice, figures, files, scaling, scoring
from .predictor import (
    GradcheckReport,
    Predictor,
    check_gradients,
    describe,
    evaluate,
    labelled_rows,
    write_predictions,
)
from .runs import (
    HISTORY_FILE,
    LOCK_FILE,
    MODEL_FILE,
    PLOT_FILES,
    RunLock,
    check_outputs,
    refuse_overwrite,
    run_outputs,
    same_file,
)
from .training import CSVLogger, EarlyStopping, Trainer, build_mlp
from .training.class_metrics import ClassReport

__all__ = [
    "HISTORY_FILE",
    "LOCK_FILE",
    "MODEL_FILE",
    "PLOT_FILES",
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

OnReady = Callable[[dict[str, Any], list[dict[str, Any]], list["str | Warning"]], None]
"""``on_ready(summary, columns, notes)``: told what the run will do before it trains."""

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
    notes: list[str | Warning]
    """What the run noted: text, or the library's warnings as they were raised (an
    :class:`~chainrule.errors.OptionWarning` names its arguments as data)."""
    summary: dict[str, Any]
    history: Any = None
    path: str | None = None
    plots: list[str] = field(default_factory=list)
    diverged: str | None = None
    hint: str | OptionWarning = ""
    """What to try after a diverged run, naming the options to change as data."""
    interrupted: bool = False
    rows: dict[str, np.ndarray] = field(default_factory=dict)
    """Positions of each split's rows among the rows kept (those with a target)."""
    reports: dict[str, ClassReport] = field(default_factory=dict)
    """For classifiers, each split's full report (per-class precision, recall, F1, the
    confusion matrix...) beside the baseline of always answering the training rows'
    majority class; its single numbers are in ``metrics`` too."""
    model_choice: str = ""
    """Which model was kept (the network, a linear model, or their average) and why (one
    line; empty where no choice was made: an architecture given, the course's job, no
    validation rows)."""


# -- running ---------------------------------------------------------------------------------
@contextlib.contextmanager
def _collect_warnings(into: list[str | Warning]) -> Iterator[None]:
    """Gather the warnings raised inside as objects (an OptionWarning keeps the arguments it
    names, for the CLI to spell as flags), each text once, and keep NumPy's overflow chatter
    quiet: the non-finite guard reports what matters.

    ``warnings.catch_warnings`` is process-wide state (before Python 3.14's context-aware
    warnings): a warning another thread raises meanwhile lands here too."""
    with warnings.catch_warnings(record=True) as caught, np.errstate(all="ignore"):
        warnings.simplefilter("always")
        try:
            yield
        finally:
            seen = {_one_line(n) for n in into}
            for w in caught:
                text = _one_line(w.message)
                if not issubclass(w.category, DeprecationWarning) and text not in seen:
                    seen.add(text)
                    into.append(w.message if isinstance(w.message, Warning) else text)


def _one_line(note: str | Warning) -> str:
    return " ".join(str(note).split())


def train(cfg: TrainConfig, *, stream: Any = None,
          on_ready: OnReady | None = None) -> TrainResult:
    """Run the training job ``cfg`` describes (see the module docstring); progress goes to
    ``stream`` when ``cfg.verbose``.  ``on_ready(summary, columns, notes)`` is called once the
    data is read and typed, before training starts (the CLI prints the column table then).

    The output folder is held by one run at a time (:class:`RunLock`); a checkpoint or data
    file that is one of the run's outputs is refused (:func:`check_outputs`).  The steps:
    read the data, fit the preprocessing and build the network, set up the trainer, fit,
    then score and save."""
    comm = communicator(bool(cfg.distributed))
    comm.agree(cfg.check, "check the options")
    d = cfg.run_options()
    prep = read_table(cfg, comm) if cfg.data is not None else read_dataset(cfg, comm)
    with contextlib.ExitStack() as held:  # the output folder's lock, released however it ends
        fitted = _fit_preprocessing(cfg, prep, d, comm)
        run = _set_up(cfg, prep, d, fitted, held, stream, comm)
        if on_ready is not None:
            on_ready(run.summary, run.columns, run.notes)
            run.notes.clear()  # reported
        result = _fit(prep, d, fitted, run)
        if result.diverged:
            return result  # nothing is saved
        _choose_model(cfg, prep, d, fitted, run, result, comm)
        scored = _score(fitted.pipeline, prep, result, comm)
        # the decision boundary is drawn over every rank's rows (every rank takes part)
        points = comm.gather((prep.X, prep.y)) if cfg.plots and prep.X.shape[1] == 2 and \
            prep.encoder is None else []
        if run.trainer.dist is not None and run.trainer.dist.rank != 0:
            return result  # the chief rank writes
        _save(cfg, prep, d, fitted, run, result, scored, points)
        return result


@dataclass
class _Fitted:
    """The preprocessing fitted on the training rows, and the network it feeds: the
    network's inputs ``Z`` (scaled features) and targets ``y_fit`` (as the loss takes them)
    for every row this rank holds, the rows' weights (or None), and the pipeline."""

    task: Any
    Z: np.ndarray
    y_fit: np.ndarray
    weights: np.ndarray | None
    pipeline: Pipeline
    build_network: Callable[[], Any]
    """Builds the network afresh, as it was before training."""
    notes: list[OptionWarning] = field(default_factory=list)
    """What the rules said about the target (a class target learned against the grain)."""


def _fit_preprocessing(cfg: TrainConfig, prep: PreparedData, d: RunOptions, comm: Any
                       ) -> _Fitted:
    """Fit the steps and the head on the training rows of every rank together, and build
    the network."""
    tr = prep.split[0]
    n_classes = len(prep.class_names or [])
    fewest = -comm.max(-len(tr))  # training rows of the rank with the fewest
    X, y = prep.X, prep.y

    def judged_task() -> Any:
        rules.check_shares(len(prep.split_rows[0]), fewest, comm.size)
        task = rules.task_of(prep.task, prep.class_names, prep.target, cfg.loss, X.shape[1],
                             d.layers)
        return task, rules.check_target(prep.task, prep.class_names, prep.target,
                                        prep.n_rows, cfg.task)

    task, notes = comm.agree(judged_task, "check the model")
    # a table's 0/1 columns (one-hot categories...) stay 0/1: chainrule.pipeline.scaling
    scaler = scaling.fit_scaler(X[tr], comm, keep_binary=prep.encoder is not None) \
        if d.standardize else None
    Z = scaler.transform(X) if scaler is not None else X
    comm.agree(lambda: rules.check_range(Z, prep.feature_names, d.course, scaler is not None),
               "check the features")
    head = Head(task, prep.class_names, prep.target, kind=prep.task).fit(y[tr], comm)
    weights = None
    if prep.task == "classification" and cfg.class_weight is not None:
        counts = comm.sum(np.bincount(y[tr], minlength=n_classes).astype(np.float64))
        weights = comm.agree(lambda: rules.class_weights(cfg.class_weight, counts,
                                                         prep.class_names or []),
                             "weigh the classes")[y]
    build = functools.partial(build_mlp, X.shape[1], d.layers, task.n_outputs(n_classes or None),
                              activation=d.activation, output=task.output, init=d.init,
                              dtype=np.float64 if d.course else np.float32, rng=cfg.seed)
    steps = [s for s in (prep.encoder, scaler) if s is not None]
    return _Fitted(task, Z, head.transform(y), weights,
                   Pipeline(steps, build(), head, prep.feature_names), build, notes)


@dataclass
class _Run:
    """A run set up: its output folder, trainer, what it will do (``summary``, ``columns``)
    and the notes so far."""

    out_dir: str
    trainer: Trainer
    summary: dict[str, Any]
    columns: list[dict[str, Any]]
    notes: list[str | Warning]
    resuming: bool
    seconds: float = 0.0


def _set_up(cfg: TrainConfig, prep: PreparedData, d: RunOptions, fitted: _Fitted,
            held: contextlib.ExitStack, stream: Any, comm: Any) -> _Run:
    """Claim the output folder and build the trainer with its callbacks."""
    tr = prep.split[0]
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
        comm.agree(lambda: rules.needs_validation(len(prep.split_rows[1])),
                   "check the options")
        callbacks.append(EarlyStopping("val_loss", patience=d.patience,
                                       restore_best_weights=True))
    if cfg.batch_size == "default" and d.batch_size is not None and \
            comm.max(len(tr)) <= d.batch_size:
        d.batch_size = None  # the default batch holds every row: say full batch, not warn
    notes: list[str | Warning] = list(prep.notes) + list(fitted.notes) + (
        [lock.note] if lock is not None and lock.note else [])
    task, model = fitted.task, fitted.pipeline.network
    loss = cfg.loss if cfg.loss != "auto" else task.loss
    trainer = Trainer(model, d.trainer_config(cfg, loss=loss, callbacks=callbacks, stream=stream,
                                              distributed=comm if cfg.distributed else False))
    if resuming:
        trainer.load_checkpoint(cfg.checkpoint)
    os.makedirs(out_dir, exist_ok=True)
    n_features, n_out = prep.X.shape[1], task.n_outputs(len(prep.class_names or []) or None)
    summary = {"data": prep.name if isinstance(prep.name, str) else "a table",
               "rows": prep.n_rows, "features": n_features, "task": prep.task,
               "classes": len(prep.class_names or []),
               "split": [len(r) for r in prep.split_rows],
               "architecture": [n_features, *d.layers, n_out],
               "activation": d.activation, "output": task.output, "loss": loss,
               "optimizer": d.optimizer, "lr": d.lr, "batch_size": d.batch_size,
               "epochs": d.epochs, "patience": d.patience, "standardize": bool(d.standardize),
               "seed": cfg.seed, "init": d.init, "resumed_at": trainer.epoch if resuming
               else None}
    columns = prep.encoder.describe() if prep.encoder else []
    return _Run(out_dir, trainer, summary, columns, notes, resuming)


def _fit(prep: PreparedData, d: RunOptions, fitted: _Fitted, run: _Run) -> TrainResult:
    """Train the network on the training rows; a run stopped by non-finite numbers comes
    back ``diverged``, with a hint naming the options to change."""
    tr, va, _ = prep.split
    trainer, Z, y_fit = run.trainer, fitted.Z, fitted.y_fit
    fit_kwargs: dict[str, Any] = {}
    if fitted.weights is not None:
        if "sample_weight" not in inspect.signature(trainer.fit).parameters:
            raise OptionError("{class_weight} needs a chainrule whose training loop takes "
                              "sample weights; this one does not",
                              class_weight=Option("class_weight"))
        fit_kwargs["sample_weight"] = fitted.weights[tr]
    notes = run.notes
    start = time.perf_counter()
    with _collect_warnings(notes):
        history = trainer.fit(Z[tr], y_fit[tr], max(0, d.epochs - trainer.epoch),
                              validation_data=(Z[va], y_fit[va])
                              if len(prep.split_rows[1]) else None, **fit_kwargs)
    run.seconds = time.perf_counter() - start
    result = TrainResult(fitted.pipeline.network, prep.task, {}, {}, run.columns, notes,
                         run.summary, history, interrupted=history.interrupted,
                         rows=dict(zip(("train", "validation", "test"), prep.split_rows)))
    if trainer.nonfinite is not None:
        nf = trainer.nonfinite
        notes[:] = [n for n in notes if "non-finite" not in str(n)]
        lr = trainer.optimizer.lr
        result.diverged = (f"training diverged: non-finite numbers in epoch {nf['epoch']}, "
                           f"batch {nf['batch']} ({nf['what']}); no model was saved")
        result.hint = OptionWarning(
            "lower the learning rate, e.g. {lr}"
            + ("" if d.standardize else ", or standardise the inputs with {std}"),
            lr=Option("lr", lr / 10), std=Option("standardize"))
    return result


def _choose_model(cfg: TrainConfig, prep: PreparedData, d: RunOptions, fitted: _Fitted,
                  run: _Run, result: TrainResult, comm: Any) -> None:
    """With the default architecture, fit a linear model on the training rows too and keep
    the network, the linear model or their average, whichever has the lowest loss
    (:mod:`chainrule.pipeline.choice`: by cross-validation on a small table, else on the
    validation rows).  The choice and the losses go into the summary (saved in the model
    file) and :attr:`TrainResult.model_choice`."""
    network = fitted.pipeline.network
    if d.course or cfg.layers is not None or d.activation != "relu" or cfg.checkpoint or \
            not len(prep.split_rows[1]) or not blend.can_merge(network):
        return
    tr, va, _ = prep.split
    classifier = fitted.pipeline.head.is_classifier
    loss = cfg.loss if cfg.loss != "auto" else fitted.task.loss
    config = d.trainer_config(cfg, loss=loss, callbacks=[], stream=None,
                              distributed=comm if cfg.distributed else False)
    training = choice.Training(config, d.epochs, d.patience, classifier,
                               network[2].weight.data.shape[0], fitted.task.output,
                               network[0].weight.data.dtype, cfg.seed,
                               comm if cfg.distributed else None)
    start = time.perf_counter()
    with _collect_warnings(run.notes):
        made = choice.choose(fitted.pipeline, training, fitted.build_network, X=prep.X,
                             y=prep.y if classifier else fitted.y_fit, Z=fitted.Z,
                             y_fit=fitted.y_fit, weights=fitted.weights, train_rows=tr,
                             val_rows=va, n_train=len(prep.split_rows[0]), comm=comm)
    run.seconds += time.perf_counter() - start
    run.summary["linear_term"] = made.record()
    result.model = fitted.pipeline.network
    architecture = run.summary["architecture"]
    run.summary["architecture"] = [architecture[0], *made.hidden, architecture[-1]]
    result.model_choice = made.line()


def _save(cfg: TrainConfig, prep: PreparedData, d: RunOptions, fitted: _Fitted, run: _Run,
          result: TrainResult, scored: dict[str, tuple[np.ndarray, np.ndarray]],
          points: list[tuple[np.ndarray, np.ndarray]]) -> None:
    """Write the pipeline (with what the training did) and the plots into the folder."""
    trainer, history, pipeline = run.trainer, result.history, fitted.pipeline
    training = {**run.summary, "epochs_run": getattr(trainer, "epochs_run", len(history)),
                "seconds": round(run.seconds, 3), "stop_reason": history.stop_reason,
                "results": result.metrics, "baseline": result.baseline,
                "val_split": cfg.val_split, "test_split": cfg.test_split,
                "hidden_layers": run.summary["architecture"][1:-1],
                "lr": trainer.optimizer.initial_lr,
                "processes": trainer.dist.size if trainer.dist is not None else 1}
    if "train" in result.reports:  # what 'chainrule evaluate' compares with
        report = result.reports["train"]
        training["majority_class"] = report.class_names[report.baseline_class]
    path = os.path.join(run.out_dir, MODEL_FILE)
    files.save(pipeline, path, training=training)
    result.path = path
    if cfg.plots:
        paths = {what: os.path.join(run.out_dir, file) for what, file in PLOT_FILES.items()}
        result.plots = figures.draw(pipeline, history, paths, _run_name(prep.name),
                                    prep.class_names, scored.get("validation", scored["train"]),
                                    points)


def _score(pipeline: Pipeline, prep: PreparedData, result: TrainResult, comm: Any
           ) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Measure every split over every rank's rows into ``result``
    (:func:`chainrule.pipeline.scoring.score_splits`); returns each split's targets and
    outputs."""
    scores = scoring.score_splits(pipeline, prep.X, prep.y, [
        (part, rows, len(every)) for part, rows, every in
        zip(("train", "validation", "test"), prep.split, prep.split_rows)], comm)
    result.metrics.update(scores.metrics)
    result.baseline.update(scores.baseline)
    result.reports.update(scores.reports)
    return scores.outputs


def _run_name(name: Any) -> str:
    base = os.path.splitext(os.path.basename(str(name)))[0] if isinstance(name, str) else ""
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in base) or "data"
