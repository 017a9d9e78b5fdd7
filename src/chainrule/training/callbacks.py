"""The callbacks chainrule ships: early stopping, model files, learning-rate schedules, the
non-finite guard's Keras name and a CSV log.  The base class and its hooks are in
:mod:`chainrule.training.callback`.
"""

from __future__ import annotations

import csv
import inspect
import io
import math
import os
from collections.abc import Callable
from typing import Any

import numpy as np

from .. import optim
from ..errors import ConfigError, Option
from ..io import write_error
from ..optim.monitor import Monitor
from ..tools.saving import save
from .callback import Callback, Logs
from .metrics import METRICS

__all__ = [
    "CSVLogger",
    "EarlyStopping",
    "LearningRateScheduler",
    "ModelCheckpoint",
    "TerminateOnNaN",
]

def _mode_for(monitor: str, mode: str) -> str:
    """``min`` or ``max``; ``auto`` asks the metric table (accuracy and R^2 grow)."""
    if mode not in ("auto", "min", "max"):
        raise ConfigError(f"unknown mode {mode!r}; choose one of auto, min, max")
    if mode != "auto":
        return mode
    metric = METRICS.get(monitor.removeprefix("val_"))
    grows = metric.greater_is_better if metric is not None else monitor.endswith("acc")
    return "max" if grows else "min"


def _monitored(logs: Logs | None, monitor: str, who: str, trainer: Any = None) -> float:
    logs = logs or {}
    if monitor not in logs:
        if trainer is not None and getattr(trainer, "nonfinite", None) is not None:
            return math.nan  # the guard stopped this epoch: no improvement, no complaint
        # the arguments as data, so the text is the one an OptionWarning naming them gives
        hint = f" (pass {Option('validation_data')} or {Option('validation_split')})" \
            if monitor.startswith("val_") else ""
        raise ConfigError(f"{who}: monitors {monitor!r}, which training does not report{hint};"
                          f" reported: {', '.join(logs)}")
    return float(logs[monitor])


class EarlyStopping(Callback):
    """Stop when ``monitor`` has not improved by more than ``min_delta`` for ``patience`` epochs.

    With ``restore_best_weights=True`` the model gets back the weights of its best epoch when
    training ends, whether or not the stop fired.  ``best``, ``best_epoch`` and
    ``stopped_epoch`` (None when it did not fire) record what happened.
    """

    def __init__(self, monitor: str = "val_loss", patience: int = 5, min_delta: float = 0.0,
                 mode: str = "auto", restore_best_weights: bool = False) -> None:
        super().__init__()
        if patience < 0:
            raise ConfigError(f"EarlyStopping: patience must be >= 0, got {patience}")
        self.monitor = monitor
        self.patience = patience
        self.min_delta = abs(min_delta)
        self.mode = _mode_for(monitor, mode)
        self.restore_best_weights = restore_best_weights
        # "Improved" is chainrule's one rule (chainrule.optim.monitor): by more than min_delta.
        self._best = Monitor(self.mode, self.min_delta, "abs")

    def on_train_begin(self, logs: Logs | None = None) -> None:
        self._best.reset()
        self.best = self._best.best
        self.best_epoch: int | None = None
        self.best_weights: dict[str, np.ndarray] | None = None
        self.wait = 0
        self.stopped_epoch: int | None = None

    def on_epoch_end(self, epoch: int, logs: Logs | None = None) -> None:
        value = _monitored(logs, self.monitor, "EarlyStopping", self.trainer)
        if self._best.update(value):  # a NaN never improves
            self.best, self.best_epoch, self.wait = value, epoch, 0
            if self.restore_best_weights:
                self.best_weights = self.model.state_dict()
            return
        self.wait += 1
        if self.wait >= self.patience:
            self.stopped_epoch = epoch
            self.trainer.stop_training = True
            self.trainer.stop_reason = (f"early stop: {self.monitor} did not improve for "
                                        f"{self.wait} epochs; best {self.best:.4g} at epoch "
                                        f"{(self.best_epoch or 0) + 1}")

    def on_train_end(self, logs: Logs | None = None) -> None:
        if self.restore_best_weights and self.best_weights is not None:
            self.model.load_state_dict(self.best_weights)


class ModelCheckpoint(Callback):
    """Save the model (with :func:`chainrule.tools.saving.save`) after epochs.

    ``path`` may contain ``{epoch}`` and any logged metric, e.g. ``"ckpt-{epoch:03d}.safetensors"``.
    With ``save_best_only`` it saves only when ``monitor`` improves.  Files are written
    atomically: a crash mid-write leaves the previous file intact.
    """

    chief_only = True

    def __init__(self, path: str | os.PathLike[str], monitor: str = "val_loss",
                 save_best_only: bool = False, mode: str = "auto",
                 metadata: dict[str, Any] | None = None) -> None:
        super().__init__()
        self.path = os.fspath(path)
        self.monitor = monitor
        self.save_best_only = save_best_only
        self.mode = _mode_for(monitor, mode)
        self.metadata = dict(metadata or {})
        self._best = Monitor(self.mode)  # strictly better, by chainrule's one rule
        self.best = self._best.best
        self.saved: list[str] = []

    def on_epoch_end(self, epoch: int, logs: Logs | None = None) -> None:
        logs = dict(logs or {})
        if self.save_best_only:
            value = _monitored(logs, self.monitor, "ModelCheckpoint", self.trainer)
            if not (math.isfinite(value) and self._best.update(value)):
                return
            self.best = value
        path = self.path.format(epoch=epoch + 1, **logs)
        info = {k: float(v) for k, v in logs.items() if isinstance(v, (int, float))}
        save(self.model, path, **self.metadata, checkpoint={"epoch": epoch + 1, **info})
        self.saved.append(path)


def _n_positional(fn: Callable[..., Any]) -> int:
    try:
        params = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):
        return 2
    kinds = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    return sum(1 for p in params if p.kind in kinds and p.default is inspect.Parameter.empty)


class LearningRateScheduler(Callback):
    """Step a learning-rate schedule once per epoch and log ``lr``.

    ``schedule`` is a :mod:`chainrule.optim` scheduler, a function ``optimizer -> scheduler``
    (for when :func:`fit` builds the optimizer from a name), or a function
    ``(epoch, lr) -> new lr`` called before each epoch.  A
    :class:`~chainrule.optim.ReduceLROnPlateau` is stepped with the value of ``monitor``.

    >>> from chainrule import optim
    >>> cb = LearningRateScheduler(lambda opt: optim.StepLR(opt, step_size=10, gamma=0.5))
    """

    def __init__(self, schedule: Any, monitor: str = "val_loss") -> None:
        super().__init__()
        self.schedule = schedule
        self.monitor = monitor
        self.scheduler: Any = None
        self.fn: Callable[[int, float], float] | None = None

    def on_train_begin(self, logs: Logs | None = None) -> None:
        s = self.schedule
        opt = self.trainer.optimizer
        if isinstance(s, (optim.LRScheduler, optim.ReduceLROnPlateau)):
            self.scheduler = s
        elif callable(s) and _n_positional(s) == 1:
            built = s(opt)
            if not isinstance(built, (optim.LRScheduler, optim.ReduceLROnPlateau)):
                raise ConfigError("LearningRateScheduler: a one-argument schedule must return "
                                  f"a chainrule.optim scheduler, got {type(built).__name__}")
            self.scheduler = built
        elif callable(s):
            self.fn = s
        else:
            raise ConfigError("LearningRateScheduler: schedule must be a chainrule.optim "
                              "scheduler, a function optimizer -> scheduler, or a function "
                              "(epoch, lr) -> lr")
        if self.scheduler is not None and self.scheduler.optimizer is not opt:
            raise ConfigError("LearningRateScheduler: the scheduler belongs to another "
                              "optimizer than the one being trained")

    def on_epoch_begin(self, epoch: int, logs: Logs | None = None) -> None:
        if self.fn is not None:
            self.trainer.optimizer.lr = float(self.fn(epoch, self.trainer.optimizer.lr))

    def on_epoch_end(self, epoch: int, logs: Logs | None = None) -> None:
        if isinstance(self.scheduler, optim.ReduceLROnPlateau):
            self.scheduler.step(_monitored(logs, self.monitor, "LearningRateScheduler",
                                           self.trainer))
        elif self.scheduler is not None:
            self.scheduler.step()


class TerminateOnNaN(Callback):
    """The non-finite guard under its Keras name; it adds nothing of its own.

    :func:`chainrule.fit` already stops at the first NaN or infinity in the loss, a gradient
    or a parameter (``terminate_on_nan=True``, the default), names the epoch, batch and
    parameter, and keeps the weights from before that step (see
    :mod:`chainrule.training.guard`).  Passing ``TerminateOnNaN()`` turns that guard on even
    with ``terminate_on_nan=False``, so code written for Keras keeps working.  ``restore`` is
    accepted for that code too: the guard always keeps the last finite weights.
    """

    needs_guard = True

    def __init__(self, restore: bool = True) -> None:
        super().__init__()
        self.restore = restore


class CSVLogger(Callback):
    """Append one row per epoch (``epoch`` and every logged metric) to a CSV file.

    Each row goes to the file in one write at its end (``O_APPEND``), so the file is complete
    up to the last finished epoch even if training is killed, and a second process writing
    the same file can neither interleave half rows with these nor leave a gap of NUL bytes
    (as writing at a remembered offset of a file another process truncated does).  A failed
    write (a full disk) raises :class:`~chainrule.errors.FileWriteError` naming the file.
    """

    chief_only = True

    def __init__(self, path: str | os.PathLike[str], append: bool = False) -> None:
        super().__init__()
        self.path = os.fspath(path)
        self.append = append
        self._fd: int | None = None
        self._keys: list[str] | None = None

    def on_train_begin(self, logs: Logs | None = None) -> None:
        exists = self.append and os.path.exists(self.path) and os.path.getsize(self.path) > 0
        if exists:
            self._agree_with_trainer()
        flags = os.O_WRONLY | os.O_CREAT | os.O_APPEND | (0 if self.append else os.O_TRUNC)
        try:
            self._fd = os.open(self.path, flags, 0o644)
        except OSError as err:
            raise write_error(err, self.path) from None
        self._keys = None
        self._has_header = exists

    def _agree_with_trainer(self) -> None:
        """After a resume from a checkpoint, drop rows past the epoch training resumes from: a
        run killed after writing a row but before its checkpoint would otherwise log that
        epoch twice."""
        trainer = getattr(self, "trainer", None)
        if trainer is None or getattr(trainer, "resumed_from", None) is None:
            return
        done = trainer.epoch
        with open(self.path, "rb+") as f:
            lines = f.read().splitlines(keepends=True)
            size = len(lines[0]) if lines else 0
            for line in lines[1:]:
                first = line.split(b",", 1)[0].strip()
                if first.isdigit() and int(first) > done:
                    f.truncate(size)  # only whole rows go, so a crash here loses nothing else
                    return
                size += len(line)

    def on_epoch_end(self, epoch: int, logs: Logs | None = None) -> None:
        row = {"epoch": epoch + 1, **{k: v for k, v in (logs or {}).items()
                                      if isinstance(v, (int, float))}}
        text = io.StringIO()
        if self._keys is None:
            self._keys = list(row)
        writer = csv.DictWriter(text, fieldnames=self._keys, extrasaction="ignore", restval="")
        if not self._has_header:
            writer.writeheader()
            self._has_header = True
        writer.writerow({k: (repr(v) if isinstance(v, float) else v) for k, v in row.items()})
        self._write(text.getvalue().encode("utf-8"))

    def _write(self, data: bytes) -> None:
        """``data`` (whole rows) in one write at the end of the file."""
        if self._fd is None:
            return
        try:
            while data:  # a regular file takes it all at once; a short write goes on
                data = data[os.write(self._fd, data):]
        except OSError as err:
            raise write_error(err, self.path) from None

    def on_train_end(self, logs: Logs | None = None) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
