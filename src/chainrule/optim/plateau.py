"""Lower the learning rate when a monitored value stops improving (PyTorch's
``ReduceLROnPlateau``), with the improvement rule of :mod:`chainrule.optim.monitor`."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..errors import ConfigError
from ._checks import number
from .monitor import Monitor
from .optimizer import Optimizer
from .scheduler import LRScheduler

__all__ = ["ReduceLROnPlateau"]


class ReduceLROnPlateau(LRScheduler):
    """Multiply the learning rate by ``factor`` when a monitored value stops improving.

    Call ``scheduler.step(value)`` once per epoch with, e.g., the validation loss.  A value
    improves on the best so far as :class:`~chainrule.optim.monitor.Monitor` says (``mode``,
    ``threshold``, ``threshold_mode``); after more than ``patience`` epochs without
    improvement each group's rate drops to ``max(lr * factor, min_lr)`` (``min_lr`` may be a
    list, one per group), unless that would change it by no more than ``eps``; then
    ``cooldown`` epochs pass before bad epochs count again.

    >>> import chainrule as cr
    >>> opt = cr.optim.SGD([cr.tensor([1.0], requires_grad=True)], lr=0.1)
    >>> plateau = cr.optim.ReduceLROnPlateau(opt, factor=0.5, patience=1)
    >>> [plateau.step(v) for v in (1.0, 1.0, 1.0, 0.5)]
    [0.1, 0.1, 0.05, 0.05]

    Args:
        optimizer: The optimizer whose learning rates to set.
        mode: ``"min"`` when lower values are better (a loss), ``"max"`` when higher are.
        factor: The factor the rate is multiplied by, below 1.
        patience: Epochs without improvement tolerated before the rate drops.
        threshold: How much better a value must be to count as an improvement.
        threshold_mode: ``"rel"`` (relative to the best) or ``"abs"``.
        cooldown: Epochs after a drop before bad epochs count again.
        min_lr: The lowest rate, one number or one per group.
        eps: The smallest change of rate worth making.
    """

    needs_value = True

    def __init__(self, optimizer: Optimizer, mode: str = "min", factor: float = 0.1,
                 patience: int = 10, threshold: float = 1e-4, threshold_mode: str = "rel",
                 cooldown: int = 0, min_lr: float | Sequence[float] = 0.0,
                 eps: float = 1e-8) -> None:
        who = "ReduceLROnPlateau"
        if not hasattr(optimizer, "param_groups"):
            raise ConfigError(f"{who}: expected a chainrule.optim optimizer, got "
                              f"{type(optimizer).__name__}")
        self.optimizer = optimizer
        self.factor = number(factor, "factor", who, 0.0, 1.0)
        for name, value in (("patience", patience), ("cooldown", cooldown)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ConfigError(f"{who}: {name} must be an integer >= 0, got {value!r}")
        self.patience = patience
        self.cooldown = cooldown
        self.eps = number(eps, "eps", who)
        n = len(optimizer.param_groups)
        if isinstance(min_lr, (list, tuple)):
            if len(min_lr) != n:
                raise ConfigError(f"{who}: expected {n} values of min_lr (one per parameter "
                                  f"group), got {len(min_lr)}")
            self.min_lrs = [number(v, "min_lr", who) for v in min_lr]
        else:
            self.min_lrs = [number(min_lr, "min_lr", who)] * n
        self.monitor = Monitor(mode, threshold, threshold_mode)
        self.mode, self.threshold, self.threshold_mode = mode, self.monitor.threshold, \
            threshold_mode
        self.num_bad_epochs = 0
        self.cooldown_counter = 0
        self.last_epoch = 0
        self._step_count = 0
        self._last_lr = self._current()

    @property
    def best(self) -> float:
        """The best monitored value so far."""
        return self.monitor.best

    def in_cooldown(self) -> bool:
        """Whether bad epochs are being ignored after a reduction."""
        return self.cooldown_counter > 0

    def step(self, value: float) -> float:  # type: ignore[override]
        """Record this epoch's monitored value; returns the first group's learning rate."""
        self._step_count += 1
        self.last_epoch += 1
        if self.monitor.update(float(value)):
            self.num_bad_epochs = 0
        else:
            self.num_bad_epochs += 1
        if self.in_cooldown():
            self.cooldown_counter -= 1
            self.num_bad_epochs = 0
        if self.num_bad_epochs > self.patience:
            self._reduce()
            self.cooldown_counter = self.cooldown
            self.num_bad_epochs = 0
        self._last_lr = self._current()
        return self._last_lr[0]

    def _reduce(self) -> None:
        groups = self.optimizer.param_groups
        if len(groups) != len(self.min_lrs):
            raise ConfigError(f"ReduceLROnPlateau: the optimizer now has {len(groups)} "
                              f"parameter groups but min_lr gives {len(self.min_lrs)}; set "
                              "scheduler.min_lrs to one value per group")
        for group, floor in zip(groups, self.min_lrs):
            old = float(group["lr"])
            new = max(old * self.factor, floor)
            if old - new > self.eps:
                group["lr"] = new

    def state_dict(self) -> dict[str, Any]:
        """The counters, the best value and the floors (the settings are the constructor's)."""
        return {"best": self.best, "num_bad_epochs": self.num_bad_epochs,
                "cooldown_counter": self.cooldown_counter, "last_epoch": self.last_epoch,
                "min_lrs": list(self.min_lrs)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what :meth:`state_dict` returned (also the older field names)."""
        self.monitor.best = float(state["best"])
        self.num_bad_epochs = int(state.get("num_bad_epochs", state.get("bad_epochs", 0)))
        self.cooldown_counter = int(state.get("cooldown_counter",
                                              state.get("cooldown_left", 0)))
        self.last_epoch = int(state.get("last_epoch", self.last_epoch))
        self.min_lrs = [float(v) for v in state.get("min_lrs", self.min_lrs)]
