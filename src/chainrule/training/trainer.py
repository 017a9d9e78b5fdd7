"""The :class:`Trainer`: a model, its loss and optimizer, and the state of a training run.

The pieces live beside this module, one job each: the options (:mod:`.config`), the run's
state (:mod:`.state`), the targets per loss (:mod:`.targets`), the metrics (:mod:`.metrics`),
the non-finite guard (:mod:`.guard`), one step (:mod:`.step`), the epoch loop (:mod:`.loop`),
the history (:mod:`.history`) and the checkpoint file (:mod:`.checkpoint`).  This module puts
them together; :func:`chainrule.fit` and :func:`chainrule.evaluate` (:mod:`.functions`) are
its one-call faces.

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
import threading
from typing import Any

import numpy as np

from .. import nn
from ..data.checks import as_array
from ..distributed import communicator
from ..errors import ConfigError
from . import checkpoint as ckpt
from . import metrics as metrics_mod
from . import tasks
from .callback import Callback
from .compiled import CompiledGradients
from .config import TrainConfig, check_epochs
from .guard import NonFiniteGuard
from .history import History
from .loop import EpochLoop, InterruptError
from .preparation import RunData, agree_on_run, prepare_run
from .progress import ProgressLogger, warn_user
from .registry import CLASSIFICATION_LOSSES, get_loss, get_optimizer
from .state import RunState
from .step import TrainStep
from .tally import Scoring, Tally, evaluate_batches
from .targets import TargetScaler, prepare, weights_for

__all__ = ["Trainer"]

Array = np.ndarray


def _callbacks(config: TrainConfig, comm: Any) -> list[Callback]:
    """The run's callbacks: the user's (only those that print or write nothing on ranks
    other than the chief), then the progress display."""
    callbacks = list(config.callbacks)
    if not comm.is_chief:  # only the chief rank prints and writes files
        return [cb for cb in callbacks if not cb.chief_only]
    if config.verbose:
        callbacks.append(ProgressLogger(config.verbose, stream=config.stream))
    return callbacks


class Trainer:
    """Holds everything a training run needs between epochs.

    Built from a :class:`~chainrule.training.config.TrainConfig` or the same keyword options
    :func:`fit` takes.  Usually reached through :func:`fit`; keep a Trainer to call
    :meth:`fit` again and continue (the epoch count, the shuffling generator and the optimizer
    state carry on), and to save or restore the whole run with :meth:`state_dict` /
    :meth:`load_state_dict`.  Where the run stands is its :attr:`state`
    (:class:`~chainrule.training.state.RunState`); ``epoch``, ``stop_training``,
    ``stop_reason`` and the like read it.
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
        if config.device is not None:  # before the optimizer: its state is made beside them
            model.to(config.device)
        self.loss_fn: Any = None if config.loss == "auto" else get_loss(config.loss)
        self.optimizer = get_optimizer(config.optimizer, model.parameters(), config.lr)
        self.comm = communicator(config.distributed)
        self.comm.broadcast_parameters(model.parameters())
        self.callbacks = _callbacks(config, self.comm)
        # TerminateOnNaN is the guard under its Keras name: passing it turns the guard on.
        self.guard = NonFiniteGuard(model, config.terminate_on_nan or any(
            cb.needs_guard for cb in config.callbacks))
        self.compiled = CompiledGradients() if config.compile else None
        self.state = RunState.from_seed(config.seed)

    # -- where the run stands (read by callbacks and users; kept in self.state) ---------------
    @property
    def history(self) -> History:
        """The :class:`History` of the whole run."""
        return self.state.history

    @property
    def epoch(self) -> int:
        """Epochs completed so far."""
        return self.state.epoch

    @epoch.setter
    def epoch(self, value: int) -> None:
        self.state.epoch = value

    @property
    def epochs(self) -> int:
        """The epoch count the current :meth:`fit` runs up to."""
        return self.state.epochs

    @property
    def epochs_run(self) -> int:
        """Epochs the last :meth:`fit` ran."""
        return self.state.epochs_run

    @property
    def stop_training(self) -> bool:
        """Set it to True (from a callback) to stop after the current epoch."""
        return self.state.stop_training

    @stop_training.setter
    def stop_training(self, value: bool) -> None:
        self.state.stop_training = bool(value)

    @property
    def stop_reason(self) -> str | None:
        """Why training stopped early (None when it ran every epoch)."""
        return self.state.stop_reason

    @stop_reason.setter
    def stop_reason(self, value: str | None) -> None:
        self.state.stop_reason = value
        self.state.stop_notice = None

    @property
    def interrupted(self) -> bool:
        """Whether Ctrl-C ended the last :meth:`fit`."""
        return self.state.interrupted

    @property
    def nonfinite(self) -> dict[str, Any] | None:
        """Where the non-finite guard stopped training (``epoch``, ``batch``, ``what``)."""
        return self.state.nonfinite

    @property
    def seed(self) -> int:
        """The seed the run's random sources come from."""
        return self.state.seed

    @property
    def resumed_from(self) -> str | None:
        """The checkpoint file this run continues, if any."""
        return self.state.resumed_from

    @property
    def dist(self) -> Any:
        """The communicator under ``distributed``, else None."""
        return self.comm if self.config.distributed is not False else None

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
        if self.config.metrics == "auto":
            return [metrics_mod.get("accuracy")] if self.is_classifier else []
        chosen = [metrics_mod.get(name) for name in self.config.metrics]
        if isinstance(self.loss_fn, nn.MSELoss):
            for m in chosen:
                if m.needs != "values":
                    raise ConfigError(f"fit: the metric {m.name!r} needs classes, but the "
                                      "mse loss trains a regression; use mse, rmse, mae or r2")
        return chosen

    def prepare_arrays(self, X: Any, y: Any, name: str) -> tuple[Array, Array]:
        """``(X, y)`` checked and shaped for the loss (chosen now if ``loss="auto"``)."""
        if self.loss_fn is None:
            self.loss_fn = get_loss(tasks.default_loss(self.model, as_array(y)))
        return prepare(X, y, model=self.model, loss_fn=self.loss_fn,
                       loss_spec=self.config.loss, name=name,
                       allow_empty=bool(name) and self.comm.size > 1)

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
        data = agree_on_run(data, self.state, self.comm, model=self.model,
                            loss_fn=self.loss_fn,
                            standardize_target=self.config.standardize_target)
        self.history.params = {"epochs": epochs, "batch_size": data.batch_size,
                               "samples": len(data.X),
                               "validation_samples": 0 if data.Xv is None else len(data.Xv)}
        self.state.begin(epochs)
        for cb in self.callbacks:
            cb.set_trainer(self)
        torn = self._train(self._epoch_loop(data))
        self._finish(torn)
        return self.history

    def _epoch_loop(self, data: RunData) -> EpochLoop:
        step = TrainStep(self.model, self.loss_fn, self.optimizer, self.guard, self.comm,
                         self.compiled, self.config.clip_grad_norm)
        path = self.config.checkpoint
        return EpochLoop(
            step, self.state, data, callbacks=self.callbacks, comm=self.comm,
            shuffle=self.config.shuffle,
            scoring=lambda y: Scoring(self.metric_list, self.task, y),
            validate=lambda: self.evaluate_prepared(data.Xv, data.yv, data.wv, "val_"),
            save_checkpoint=None if path is None else lambda: self.save_checkpoint(path),
            checkpoint_every=self.config.checkpoint_every)

    def _train(self, loop: EpochLoop) -> bool:
        """Run the epochs, catching Ctrl-C; returns whether it landed inside an update."""
        was_training = self.model.training
        torn = False
        previous = self._catch_sigint()
        # With the guard on, overflow is reported by it (epoch, batch, parameter), not by
        # NumPy's RuntimeWarnings from deep inside an operation.
        quiet = np.errstate(over="ignore", invalid="ignore", divide="ignore") \
            if self.guard.enabled else contextlib.nullcontext()
        try:
            for cb in self.callbacks:
                cb.on_train_begin({})
            with quiet:
                loop.run()
        except (KeyboardInterrupt, InterruptError):
            self.state.interrupt()
            torn = self.state.in_step  # a second Ctrl-C can land inside an update
            self.model.zero_grad()
        finally:
            self.state.in_step = False
            if previous is not None:
                signal.signal(signal.SIGINT, previous)
            self.model.train(was_training)
        return torn

    def _finish(self, torn: bool) -> None:
        """Final checkpoint, callbacks' ends, target units back, and the guard's warning."""
        state, path = self.state, self.config.checkpoint
        # Under MPI only epoch boundaries are checkpointed: a position inside an epoch is a
        # position in one rank's shard.  Every rank holds the same state; the chief writes it.
        if path is not None and self.comm.is_chief and (
                state.position is None or self.comm.size == 1):
            if torn:
                warn_user(f"interrupted inside an update: {path} was not rewritten "
                          "and holds the last complete checkpoint")
            else:
                self.save_checkpoint(path)
                state.checkpoint_saved(path)
        for cb in self.callbacks:
            cb.on_train_end({})
        if state.targets_unfolded:
            state.fold_targets(TargetScaler.check_model(self.model, self.loss_fn))
        self.history.stop_reason = state.stop_reason
        self.history.stop_notice = state.stop_notice
        self.history.interrupted = state.interrupted
        if state.warning is not None and self.comm.is_chief:
            warn_user(state.warning)

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
            if self.state.request_stop():
                raise KeyboardInterrupt

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
        """:meth:`evaluate` of arrays already checked by the trainer (outputs in the target's
        units while standardised targets are in use)."""
        scaler = self.state.target_scaler if self.state.targets_unfolded else None
        return evaluate_batches(self.model, self.loss_fn, Tally(self.metric_list, self.task, y),
                                X, y, w, self.comm, scaler, prefix, batch_size)

    # -- saving and restoring a run -------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """Model weights, optimizer state, shuffling generator, seed, epoch, history, the data
        it trains on (rows, batch size, fingerprint) and, when training stopped inside an
        epoch, the position in it."""
        return ckpt.trainer_state(self.model, self.optimizer, self.state)

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what :meth:`state_dict` returned, to continue the run exactly."""
        ckpt.load_trainer_state(self.model, self.optimizer, self.state, state)

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
        self.state.resumed_from = ckpt.load_into(self.model, self.optimizer, self.state, path)
