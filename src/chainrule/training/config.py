"""The settings of a training run, in one object checked once.

:class:`TrainConfig` holds every option that :func:`chainrule.fit` and
:class:`chainrule.training.Trainer` take (both build one from their keyword arguments), and
checks each when it is built: a bad value is refused before any data is touched, with a
message that names the option, what it got and what it accepts.

>>> TrainConfig(batch_size=None, lr=0.1).batch_size is None
True
>>> TrainConfig(batch_size=0)
Traceback (most recent call last):
...
chainrule.errors.ConfigError: fit: batch_size must be a positive integer or None (full batch), got 0
>>> TrainConfig.from_options({"epoch": 3})  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
chainrule.errors.ConfigError: fit: unknown option 'epoch'; the options are allow_single_class, ...
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, fields
from typing import Any, TextIO

import numpy as np

from .. import optim
from ..engine import devices
from ..errors import ConfigError
from .callback import Callback

__all__ = ["TrainConfig", "check_count", "check_epochs", "check_lr"]


def _is_int(value: Any) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


def check_epochs(epochs: Any, who: str = "fit") -> int:
    """``epochs`` as an int >= 0, or ConfigError (``True`` is not a number of epochs)."""
    if not _is_int(epochs) or epochs < 0:
        raise ConfigError(f"{who}: epochs must be a non-negative integer, got {epochs!r}")
    return int(epochs)


def _refused(rule: str, value: Any, name: str | None, who: str | None = None
             ) -> ConfigError:
    """A value that breaks ``rule``: ``who: name must be <rule>, got value``, or without a
    ``name`` ``expected <rule>, got value`` for a caller that names the value its own way
    (the command line writes ``--epochs: expected ...``)."""
    if name is None:
        return ConfigError(f"expected {rule}, got {value!r}")
    return ConfigError(f"{who + ': ' if who else ''}{name} must be {rule}, got {value!r}")


def check_count(value: Any, name: str | None, who: str = "fit") -> int:
    """``value`` as an int >= 1, or ConfigError naming ``name`` (None: see :func:`_refused`).

    >>> check_count(0, None)
    Traceback (most recent call last):
    ...
    chainrule.errors.ConfigError: expected a positive integer, got 0
    """
    if not _is_int(value) or value < 1:
        raise _refused("a positive integer", value, name, who)
    return int(value)


def check_lr(lr: Any, name: str | None = "lr") -> float:
    """A learning rate given by name to :func:`chainrule.fit`, a Trainer,
    :func:`~chainrule.training.get_optimizer` or ``chainrule train --lr``: a positive finite
    number, else ConfigError naming ``name`` (None: the caller names it).
    (The optimizers check their own; this is the check of ``lr=`` given with a name.)

    >>> check_lr(0)
    Traceback (most recent call last):
    ...
    chainrule.errors.ConfigError: lr must be a positive finite number, got 0
    >>> check_lr(float("inf"), None)
    Traceback (most recent call last):
    ...
    chainrule.errors.ConfigError: expected a positive finite number, got inf
    """
    if isinstance(lr, (bool, np.bool_)) or not isinstance(
            lr, (int, float, np.integer, np.floating)) or not (math.isfinite(lr) and lr > 0):
        raise _refused("a positive finite number", lr, name)
    return lr


def _check_flag(value: Any, name: str) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        raise ConfigError(f"fit: {name} must be True or False, got {value!r}")
    return bool(value)


@dataclass
class TrainConfig:
    """Everything a training run is told, checked in ``__post_init__``.

    See :func:`chainrule.fit` for what each option does.  ``seed`` seeds the two random
    sources of a run (the validation split and the shuffling); ``distributed`` is False, True
    (MPI's world) or a :class:`chainrule.distributed.Communicator`.
    """

    loss: str | Callable[..., Any] = "auto"
    optimizer: str | optim.Optimizer = "adam"
    lr: float | None = None
    batch_size: int | None = 32
    shuffle: bool = True
    seed: int | None = None
    callbacks: Sequence[Any] = ()
    verbose: int = 1
    metrics: str | Sequence[str] = "auto"
    terminate_on_nan: bool = True
    stream: TextIO | None = None
    stratify: bool | None = None
    distributed: Any = False
    checkpoint: str | os.PathLike[str] | None = None
    checkpoint_every: int = 1
    allow_single_class: bool = True
    clip_grad_norm: float | None = None
    standardize_target: bool = False
    compile: bool = False
    device: Any = None

    def __post_init__(self) -> None:
        if self.batch_size is not None:
            if not _is_int(self.batch_size) or self.batch_size < 1:
                raise ConfigError(f"fit: batch_size must be a positive integer or None (full "
                                  f"batch), got {self.batch_size!r}")
            self.batch_size = int(self.batch_size)
        if self.lr is not None:
            check_lr(self.lr)
        if self.verbose not in (0, 1, 2) or isinstance(self.verbose, bool):
            raise ConfigError(f"fit: verbose must be 0, 1 or 2, got {self.verbose!r}")
        if isinstance(self.callbacks, Callback) or not isinstance(self.callbacks, Iterable):
            raise ConfigError("fit: callbacks must be a list of Callback objects, got "
                              f"{type(self.callbacks).__name__}")
        self.callbacks = list(self.callbacks)
        for cb in self.callbacks:
            if not isinstance(cb, Callback):
                raise ConfigError(f"fit: callbacks must be Callback objects, got "
                                  f"{type(cb).__name__}")
        self.shuffle = _check_flag(self.shuffle, "shuffle")
        self.terminate_on_nan = _check_flag(self.terminate_on_nan, "terminate_on_nan")
        self.standardize_target = _check_flag(self.standardize_target, "standardize_target")
        self.compile = _check_flag(self.compile, "compile")
        if self.stratify is not None:
            self.stratify = _check_flag(self.stratify, "stratify")
        self.checkpoint_every = check_count(self.checkpoint_every, "checkpoint_every (epochs)")
        if self.checkpoint is not None:
            if not isinstance(self.checkpoint, (str, os.PathLike)):
                raise ConfigError(f"fit: checkpoint must be a file path, got "
                                  f"{type(self.checkpoint).__name__}")
            self.checkpoint = os.fspath(self.checkpoint)
        if self.seed is not None and (not _is_int(self.seed) or self.seed < 0):
            raise ConfigError(f"fit: seed must be a non-negative integer or None, got "
                              f"{self.seed!r}")
        if self.clip_grad_norm is not None:
            c = self.clip_grad_norm
            if isinstance(c, bool) or not isinstance(c, (int, float, np.integer, np.floating)) \
                    or not (math.isfinite(c) and c > 0):
                raise ConfigError(f"fit: clip_grad_norm must be a positive finite number (the "
                                  f"largest gradient norm) or None, got {c!r}")
            self.clip_grad_norm = float(c)
        if self.device is not None:  # checked here: a missing GPU stops before any data is read
            self.device = devices.device(self.device)
        if isinstance(self.metrics, str):
            self.metrics = self.metrics if self.metrics == "auto" else [self.metrics]
        elif isinstance(self.metrics, Iterable):
            self.metrics = list(self.metrics)
        else:
            raise ConfigError(f"fit: metrics must be 'auto', a metric name or a list of "
                              f"names, got {self.metrics!r}")
        if self.metrics != "auto":
            from .metrics import get

            for name in self.metrics:
                get(name)

    @classmethod
    def from_options(cls, options: dict[str, Any], who: str = "fit") -> TrainConfig:
        """Build from keyword arguments, refusing unknown names with the list of valid ones."""
        valid = {f.name for f in fields(cls)}
        unknown = sorted(set(options) - valid)
        if unknown:
            raise ConfigError(f"{who}: unknown option {unknown[0]!r}; the options are "
                              f"{', '.join(sorted(valid))}")
        return cls(**options)
