"""Training without writing the loop: :func:`fit`, :func:`evaluate` and the :class:`Trainer`.

The pieces live beside this module, one job each: the options (:mod:`.config`), the targets
per loss (:mod:`.targets`), the metrics (:mod:`.metrics`), the non-finite guard
(:mod:`.guard`), the epoch loop (:mod:`.loop`), the history (:mod:`.history`) and the
checkpoint file (:mod:`.checkpoint`).  This module puts them together.

Reliability: the first non-finite number stops training with a message naming the epoch, the
batch and the parameter, and the model keeps the weights it had before that step.  With
``checkpoint=path`` the whole run is written atomically to one file that
:meth:`Trainer.load_checkpoint` (or ``fit(..., resume=True)``) continues from exactly; Ctrl-C
finishes the current step, writes the checkpoint and returns.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
from collections.abc import Callable
from typing import Any

import numpy as np

from .. import nn
from ..data.preprocessing import as_array
from ..distributed import communicator
from ..engine import Tensor
from ..errors import ConfigError
from . import checkpoint as ckpt
from . import metrics as metrics_mod
from . import tasks
from .callbacks import CSVLogger, ModelCheckpoint, TerminateOnNaN
from .compiled import CompiledGradients
from .config import TrainConfig, check_epochs
from .guard import NonFiniteGuard
from .history import History
from .loop import InterruptError, evaluate_arrays, run_epochs
from .preparation import RunData, agree_on_run, prepare_run
from .progress import ProgressLogger, warn_user
from .registry import CLASSIFICATION_LOSSES, get_loss, get_optimizer
from .targets import (
    TargetScaler,
    check_classes,
    prepare,
    weights_for,
)

__all__ = ["History", "Trainer", "check_classes", "evaluate", "fit"]

Array = np.ndarray


class Trainer:
    """Holds everything a training run needs between epochs.

    Built from a :class:`~chainrule.training.config.TrainConfig` or the same keyword options
    :func:`fit` takes.  Usually reached through :func:`fit`; keep a Trainer to call
    :meth:`fit` again and continue (the epoch count, the shuffling generator and the optimizer
    state carry on), and to save or restore the whole run with :meth:`state_dict` /
    :meth:`load_state_dict`.
    """

    def __init__(self, model: nn.Module, config: TrainConfig | None = None,
                 **options: Any) -> None:
        if config is None:
            config = TrainConfig.from_options(options, "Trainer")
        elif options:
            raise ConfigError("Trainer: give a TrainConfig or keyword options, not both")
        if not isinstance(model, nn.Module):
            raise ConfigError(f"fit: model must be a chainrule.nn.Module, got "
                              f"{type(model).__name__}")
        if not model.parameters():
            raise ConfigError("fit: the model has no parameters to train")
        self.config = config
        self.model = model
        self.loss_spec = config.loss
        self.loss_fn: Callable[..., Any] | None = None if config.loss == "auto" else get_loss(
            config.loss)
        self.optimizer = get_optimizer(config.optimizer, model.parameters(), config.lr)
        self.batch_size = config.batch_size
        self.shuffle = config.shuffle
        seq = np.random.SeedSequence(config.seed)
        self.seed = seq.entropy
        split_seq, shuffle_seq = seq.spawn(2)
        self.split_rng = np.random.default_rng(split_seq)
        self.rng = np.random.default_rng(shuffle_seq)
        self.callbacks = list(config.callbacks)
        # TerminateOnNaN is the guard under its Keras name: passing it turns the guard on.
        self.terminate_on_nan = config.terminate_on_nan or any(
            isinstance(cb, TerminateOnNaN) for cb in self.callbacks)
        self.guard = NonFiniteGuard(model, self.terminate_on_nan)
        self.allow_single_class = config.allow_single_class
        self.checkpoint = config.checkpoint
        self.checkpoint_every = config.checkpoint_every
        self.clip_grad_norm = config.clip_grad_norm
        self.compiled = CompiledGradients() if config.compile else None
        self.comm = communicator(config.distributed)
        self.dist = self.comm if config.distributed is not False else None
        self.comm.broadcast_parameters(model.parameters())
        verbose = config.verbose
        if not self.comm.is_chief:  # only the chief rank prints and writes files
            verbose = 0
            self.callbacks = [cb for cb in self.callbacks
                              if not isinstance(cb, (ModelCheckpoint, CSVLogger))]
        if verbose:
            self.callbacks.append(ProgressLogger(verbose, stream=config.stream))
        self.metrics_spec = config.metrics
        self.stratify = config.stratify
        self.verbose = verbose
        self.history = History()
        self.epoch = 0  # epochs completed so far
        self.epochs = 0  # the epoch count the current fit() runs up to
        self.epochs_run = 0
        self.stop_training = False
        self.stop_reason: str | None = None
        self.interrupted = False
        self.nonfinite: dict[str, Any] | None = None
        self.target_scaler: TargetScaler | None = None
        self.target_folded = False  # whether the scaler's inverse sits in the last layer
        self.data_info: dict[str, Any] | None = None  # rows, batch size, data fingerprint
        self.resumed_data: dict[str, Any] | None = None  # the same, of a loaded checkpoint
        self.resumed_from: str | None = None  # the checkpoint file this run continues
        self._position: dict[str, Any] | None = None  # where training stands inside an epoch
        self._stop_requested = False
        self._in_step = False
        self._warning: str | None = None

    # -- what is trained ----------------------------------------------------------------------
    @property
    def is_classifier(self) -> bool:
        """Whether the loss is a classification loss (then accuracy is measured)."""
        return isinstance(self.loss_fn, CLASSIFICATION_LOSSES)

    @property
    def task(self) -> tasks.Task:
        """How the model's outputs are read (see :mod:`chainrule.training.tasks`)."""
        task = tasks.infer(self.model, self.loss_fn)
        if not task.is_classifier and not isinstance(self.loss_fn, nn.MSELoss) and any(
                m.needs != "values" for m in self.metric_list):
            return tasks.infer(self.model, None, classification=True)  # a custom loss
        return task

    @property
    def metric_list(self) -> list[metrics_mod.Metric]:
        """The metrics each epoch reports (``metrics="auto"``: accuracy for classification)."""
        if self.metrics_spec == "auto":
            return [metrics_mod.get("accuracy")] if self.is_classifier else []
        chosen = [metrics_mod.get(name) for name in self.metrics_spec]
        if isinstance(self.loss_fn, nn.MSELoss):
            for m in chosen:
                if m.needs != "values":
                    raise ConfigError(f"fit: the metric {m.name!r} needs classes, but the "
                                      "mse loss trains a regression; use mse, rmse, mae or r2")
        return chosen

    def _resolve_loss(self, y: Any) -> None:
        if self.loss_fn is None:
            self.loss_fn = get_loss(tasks.default_loss(self.model, as_array(y)))

    def prepare_arrays(self, X: Any, y: Any, name: str) -> tuple[Array, Array]:
        """``(X, y)`` checked and shaped for the loss (chosen now if ``loss="auto"``)."""
        self._resolve_loss(y)
        return prepare(X, y, model=self.model, loss_fn=self.loss_fn, loss_spec=self.loss_spec,
                       name=name, allow_empty=bool(name) and self.comm.size > 1)

    # -- training -----------------------------------------------------------------------------
    def fit(self, X: Any, y: Any, epochs: int = 1, *, validation_data: Any = None,
            validation_split: float = 0.0, sample_weight: Any = None) -> History:
        """Train for ``epochs`` more epochs; returns the :class:`History` of the whole run.

        ``sample_weight`` weighs each training row (the loss is sum(w_i l_i) / sum(w_i));
        ``validation_data`` may carry validation weights as a third item.
        """
        epochs = check_epochs(epochs)
        return self.comm.run(lambda: self._fit(X, y, epochs, validation_data,
                                               validation_split, sample_weight))

    def _fit(self, X: Any, y: Any, epochs: int, validation_data: Any, validation_split: Any,
             sample_weight: Any) -> History:
        data = self.comm.agree(lambda: prepare_run(self, X, y, validation_data,
                                                   validation_split, sample_weight),
                               "prepare its data")
        data = agree_on_run(self, data)
        self.history.params = {"epochs": epochs, "batch_size": data.batch_size,
                               "samples": len(data.X),
                               "validation_samples": 0 if data.Xv is None else len(data.Xv)}
        self.epochs = self.epoch + epochs
        self.stop_training = False
        self.stop_reason = None
        self.interrupted = False
        self.epochs_run = 0
        self.nonfinite = None
        self._warning = None
        self._stop_requested = False
        for cb in self.callbacks:
            cb.set_trainer(self)
        torn = self._train(data)
        self._finish(torn)
        return self.history

    def _train(self, data: RunData) -> bool:
        """Run the epochs, catching Ctrl-C; returns whether it landed inside an update."""
        was_training = self.model.training
        torn = False
        previous = self._catch_sigint()
        # With the guard on, overflow is reported by it (epoch, batch, parameter), not by
        # NumPy's RuntimeWarnings from deep inside an operation.
        quiet = np.errstate(over="ignore", invalid="ignore", divide="ignore") \
            if self.terminate_on_nan else contextlib.nullcontext()
        try:
            for cb in self.callbacks:
                cb.on_train_begin({})
            with quiet:
                run_epochs(self, data)
        except (KeyboardInterrupt, InterruptError):
            self.interrupted = True
            self.stop_reason = "interrupted with Ctrl-C"
            torn = self._in_step  # a second Ctrl-C can land inside an update
            self.model.zero_grad()
        finally:
            self._in_step = False
            if previous is not None:
                signal.signal(signal.SIGINT, previous)
            self.model.train(was_training)
        return torn

    def _finish(self, torn: bool) -> None:
        """Final checkpoint, callbacks' ends, target units back, and the guard's warning."""
        # Under MPI only epoch boundaries are checkpointed: a position inside an epoch is a
        # position in one rank's shard.  Every rank holds the same state; the chief writes it.
        if self.checkpoint is not None and self.comm.is_chief and (
                self._position is None or self.comm.size == 1):
            if torn:
                warn_user(f"interrupted inside an update: {self.checkpoint} was not rewritten "
                      "and holds the last complete checkpoint")
            else:
                self.save_checkpoint(self.checkpoint)
                if self.interrupted:
                    self.stop_reason += (f"; checkpoint saved to {self.checkpoint} (resume "
                                         "with resume=True or --resume)")
        for cb in self.callbacks:
            cb.on_train_end({})
        if self.target_scaler is not None and not self.target_folded:
            self.target_scaler.fold(TargetScaler.check_model(self.model, self.loss_fn))
            self.target_folded = True
        self.history.stop_reason = self.stop_reason
        self.history.interrupted = self.interrupted
        if self._warning is not None and self.comm.is_chief:
            warn_user(self._warning)

    def stop_nonfinite(self, epoch: int, batch: int, what: str, xb: Tensor) -> None:
        """Stop training because of a non-finite number (the guard's finding ``what``)."""
        message = NonFiniteGuard.message(epoch, batch, what, xb, self.optimizer.lr)
        self.nonfinite = {"epoch": epoch + 1, "batch": batch + 1, "what": what}
        self.stop_training = True
        self.stop_reason = "stopped: " + message
        self._warning = message

    def _catch_sigint(self) -> Any:
        """Make the first Ctrl-C a request to stop after the current step (so the model,
        optimizer and checkpoint stay consistent); a second one interrupts at once.  Only in
        the main thread, only over Python's default handler, and not under MPI (every rank must
        stop at the same step).  Returns the handler to put back, or None."""
        if self.comm.size > 1 or threading.current_thread() is not threading.main_thread():
            return None
        previous = signal.getsignal(signal.SIGINT)
        if previous is not signal.default_int_handler:
            return None

        def request_stop(signum: int, frame: Any) -> None:
            if self._stop_requested:
                raise KeyboardInterrupt
            self._stop_requested = True

        signal.signal(signal.SIGINT, request_stop)
        return previous

    # -- evaluating ---------------------------------------------------------------------------
    def evaluate(self, X: Any, y: Any, batch_size: int = 4096, prefix: str = "",
                 prepared: bool = False, sample_weight: Any = None) -> dict[str, float]:
        """Loss and metrics of the model on ``(X, y)``, computed under ``no_grad``.

        Under MPI every rank must call it (a rank whose share is empty passes empty arrays);
        the numbers cover every rank's rows.
        """
        def checked() -> tuple[Array, Array, Array | None]:
            Xc, yc = (X, y) if prepared else self.prepare_arrays(X, y, prefix or "eval_")
            return Xc, yc, weights_for(sample_weight, len(Xc), self.loss_fn, prefix)

        Xc, yc, w = self.comm.agree(checked, "check its evaluation data")
        return self.evaluate_prepared(Xc, yc, w, prefix, batch_size)

    def evaluate_prepared(self, X: Array, y: Array, w: Array | None, prefix: str = "",
                          batch_size: int = 4096) -> dict[str, float]:
        """:meth:`evaluate` of arrays already checked by the trainer."""
        return evaluate_arrays(self, X, y, w, prefix, batch_size)

    # -- saving and restoring a run -------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """Model weights, optimizer state, shuffling generator, seed, epoch, history, the data
        it trains on (rows, batch size, fingerprint) and, when training stopped inside an
        epoch, the position in it."""
        return ckpt.trainer_state(self)

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what :meth:`state_dict` returned, to continue the run exactly."""
        ckpt.load_trainer_state(self, state)

    def save_checkpoint(self, path: str | os.PathLike[str]) -> None:
        """Write the whole run (see :meth:`state_dict`) to one file, atomically: a temporary
        file beside ``path``, fsync, then ``os.replace``.  A crash mid-write leaves the
        previous checkpoint intact."""
        ckpt.write_checkpoint(path, self.state_dict())

    def load_checkpoint(self, path: str | os.PathLike[str]) -> None:
        """Continue the run saved by :meth:`save_checkpoint`: the next :meth:`fit` goes on
        exactly where it stopped (the same data, batch size and optimizer type are needed).

        Raises :class:`~chainrule.errors.ModelFileError` for a damaged or foreign file, or one
        whose fields are out of range (naming the field), and ConfigError for a checkpoint of
        another model or optimizer.
        """
        ckpt.load_into(self, path)


def fit(model: nn.Module, X: Any, y: Any, *, epochs: int = 10,
        validation_data: Any = None, validation_split: float = 0.0,
        sample_weight: Any = None, resume: bool = False, config: TrainConfig | None = None,
        **options: Any) -> History:
    """Train ``model`` on ``(X, y)`` and return the :class:`History`.

    The options (checked once, see :class:`~chainrule.training.config.TrainConfig`):

    - ``loss``: a loss module or callable, or a name (``mse``, ``bce``, ``bce_with_logits``,
      ``cross_entropy``); ``"auto"`` picks ``bce`` after a final Sigmoid, ``cross_entropy`` for
      integer labels, ``mse`` otherwise.
    - ``optimizer``: an optimizer over the model's parameters, or a name (``sgd``, ``adam``,
      ``adamw``, ``rmsprop``) built with ``lr`` (default: that optimizer's own).
    - ``batch_size`` (default 32): examples per step; ``None`` (or anything at least the
      number of examples) uses the whole set, the course's batch gradient descent.
      ``shuffle`` reorders the examples every epoch from ``seed``.
    - ``callbacks``: :class:`~chainrule.training.Callback` objects.
    - ``metrics``: ``"auto"`` (accuracy for classification) or names from
      :data:`chainrule.training.metrics.METRICS` (accuracy, log_loss, mse, rmse, mae, r2).
    - ``terminate_on_nan`` (default True): a NaN or infinity in the loss, a gradient or a
      parameter stops training; the run ends with a warning naming the epoch, the batch and
      the first parameter affected, with a hint, and the model keeps the weights from before
      that step.  Callbacks still see the end (``on_train_end``) and that epoch's numbers.
      ``history.stop_reason`` holds the message.
    - ``compile``: replay a captured plan for forward and backward after the first batch of
      each shape (:func:`chainrule.compile`; chains of Linear layers and element-wise
      activations, else eager with one warning); the results equal eager training.
    - ``clip_grad_norm``: rescale the gradients so their total 2-norm is at most this, before
      each step (as :func:`chainrule.nn.utils.clip_grad_norm_`).
    - ``standardize_target=True`` (regression with ``mse``): train on standardised targets,
      report every loss and metric in the target's units, and fold the inverse into the last
      Linear layer at the end so the model predicts in the target's units.
    - ``checkpoint=path``: write the whole run there (atomically) every ``checkpoint_every``
      epochs, at the end, and on Ctrl-C.  With ``resume=True`` an existing checkpoint is
      loaded first and training continues up to ``epochs`` in all (the same seed, data and
      batch size give bit-identical results to a run never interrupted; other data or
      another batch size is refused); without one, training starts afresh.
    - ``verbose``: 0 silent, 1 progress bar on a terminal (one line per epoch otherwise),
      2 lines always; ``stream`` where it goes (default: standard output).
    - ``distributed=True`` (under ``mpiexec``, with ``chainrule[mpi]``): each rank passes its
      own shard of the rows; ``batch_size`` is per rank, gradients are averaged over all ranks
      (weighted by examples) every step, reported metrics cover every rank's data, and only
      rank 0 prints and writes files.  Bad data on any rank stops every rank before training
      with that rank's message, and any other error on one rank ends the whole job.  See
      :mod:`chainrule.distributed`.

    ``sample_weight`` weighs the training rows: the loss is the weighted mean
    sum(w_i l_i) / sum(w_i), so integer weights equal duplicated rows.  ``validation_data``
    is ``(X_val, y_val)`` or ``(X_val, y_val, w_val)``; ``validation_split`` holds out a
    fraction of ``X`` (stratified by class for classification losses).  Class labels must
    hold at least two classes, and integer labels must be below the number of model outputs
    (DataError otherwise); a ``batch_size`` above the number of examples gives a warning and
    full batches.

    Ctrl-C ends training cleanly after the current step: callbacks still finish (restoring
    best weights, closing files), the checkpoint is written, and the history so far is
    returned with ``interrupted=True``.

    >>> import numpy as np, chainrule as cr
    >>> from chainrule import nn
    >>> X = np.random.default_rng(0).normal(size=(64, 2)); y = (X.sum(axis=1) > 0).astype(int)
    >>> model = nn.Sequential(nn.Linear(2, 2, rng=0))
    >>> h = cr.fit(model, X, y, epochs=30, lr=0.05, seed=0, verbose=0)
    >>> h["accuracy"][-1] > 0.9
    True
    """
    if config is None:
        options.setdefault("allow_single_class", False)
        options.setdefault("stream", sys.stdout)
        config = TrainConfig.from_options(options)
    elif options:
        raise ConfigError("fit: give config=TrainConfig(...) or keyword options, not both")
    epochs = check_epochs(epochs)
    if not isinstance(resume, bool):
        raise ConfigError(f"fit: resume must be True or False, got {resume!r}")
    if resume and config.checkpoint is None:
        raise ConfigError("fit: resume=True needs checkpoint=path")
    trainer = Trainer(model, config)

    def run() -> History:
        if resume and os.path.exists(config.checkpoint):
            trainer.comm.agree(lambda: trainer.load_checkpoint(config.checkpoint),
                               f"resume from {config.checkpoint}")
        return trainer.fit(X, y, max(0, epochs - trainer.epoch),
                           validation_data=validation_data,
                           validation_split=validation_split, sample_weight=sample_weight)

    history = trainer.comm.run(run)
    history.trainer = trainer
    return history


def evaluate(model: nn.Module, X: Any, y: Any, *, loss: str | Callable[..., Any] = "auto",
             metrics: Any = "auto", sample_weight: Any = None) -> dict[str, float]:
    """Loss and metrics (accuracy for classification) of ``model`` on ``(X, y)``, no training.

    ``metrics`` names any of :data:`chainrule.training.metrics.METRICS`; ``sample_weight``
    gives the weighted means sum(w_i l_i) / sum(w_i).

    >>> import numpy as np
    >>> from chainrule import nn
    >>> model = nn.Sequential(nn.Linear(1, 1, rng=0))
    >>> sorted(evaluate(model, np.ones((4, 1)), np.zeros(4), loss="mse", metrics=["r2"]))
    ['loss', 'r2']
    """
    trainer = Trainer(model, loss=loss, optimizer="sgd", verbose=0, metrics=metrics,
                      terminate_on_nan=False)
    return trainer.evaluate(X, y, sample_weight=sample_weight)
