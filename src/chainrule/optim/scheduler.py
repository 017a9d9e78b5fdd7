"""The base class of learning-rate schedules: PyTorch's chainable ``LRScheduler``.

A schedule sets ``lr`` in every parameter group of its optimizer.  Creating one records each
group's starting rate as ``initial_lr`` (``base_lrs``) and takes a first step to epoch 0;
each ``step()`` advances ``last_epoch`` and sets the rates ``get_lr()`` gives, which a
subclass computes from the groups' *current* rates, so schedules on one optimizer compose.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..errors import ConfigError
from .optimizer import Optimizer

__all__ = ["LRScheduler", "positive_int"]


def positive_int(value: Any, name: str, who: str, low: int = 1) -> int:
    """``value`` if it is an integer >= ``low`` (bools refused); else a ConfigError."""
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise ConfigError(f"{who}: {name} must be an integer >= {low}, got {value!r}")
    return value


class LRScheduler:
    """Base class.  A subclass gives ``get_lr()``: each group's rate for ``last_epoch``,
    from the groups' current rates (chainable), and where it has one ``_closed_form()``: the
    rates from ``base_lrs`` alone (used when :class:`SequentialLR` restarts a schedule)."""

    _is_initial = False
    #: whether ``step`` takes the monitored value (ReduceLROnPlateau)
    needs_value = False

    def __init__(self, optimizer: Optimizer, last_epoch: int = -1) -> None:
        who = type(self).__name__
        if not hasattr(optimizer, "param_groups"):
            raise ConfigError(f"{who}: expected a chainrule.optim optimizer, got "
                              f"{type(optimizer).__name__}")
        if isinstance(last_epoch, bool) or not isinstance(last_epoch, int) or last_epoch < -1:
            raise ConfigError(f"{who}: last_epoch must be an integer >= -1, got {last_epoch!r}")
        self.optimizer = optimizer
        groups = optimizer.param_groups
        if last_epoch == -1:
            for group in groups:
                group.setdefault("initial_lr", group["lr"])
        else:
            for i, group in enumerate(groups):
                if "initial_lr" not in group:
                    raise ConfigError(f"{who}: resuming at last_epoch={last_epoch} needs "
                                      f"param_groups[{i}]['initial_lr']; load the optimizer's "
                                      "state_dict first, or start at last_epoch=-1")
        self.base_lrs: list[float] = [float(g["initial_lr"]) for g in groups]
        self.last_epoch = last_epoch
        self._initial_step()

    def _initial_step(self) -> None:
        self._step_count = 0
        self._is_initial = True
        try:
            self.step()
        finally:
            self._is_initial = False

    @property
    def base_lr(self) -> float:
        """The first group's starting rate."""
        return self.base_lrs[0]

    def _current(self) -> list[float]:
        return [float(g["lr"]) for g in self.optimizer.param_groups]

    def get_lr(self) -> list[float]:
        """Each group's rate at ``last_epoch`` (chainable: from the current rates)."""
        raise NotImplementedError

    def lr_at(self, epoch: int) -> float:
        """The first group's rate after ``epoch`` steps, from its starting rate alone."""
        saved, self.last_epoch = self.last_epoch, epoch
        try:
            return self._closed_form()[0]
        finally:
            self.last_epoch = saved

    def _closed_form(self) -> list[float]:
        raise ConfigError(f"{type(self).__name__} has no closed form; step it instead")

    def _apply(self, lrs: Sequence[float]) -> None:
        for group, lr in zip(self.optimizer.param_groups, lrs):
            group["lr"] = float(lr)
        self._last_lr = [float(lr) for lr in lrs]

    def step(self) -> float:
        """Advance one epoch and set every group's learning rate; returns the first group's."""
        self._step_count += 1
        self.last_epoch += 1
        self._apply(self.get_lr())
        return self._last_lr[0]

    def _restart(self) -> None:
        """Set ``last_epoch`` to 0 and the rates to the schedule's start (SequentialLR)."""
        self.last_epoch = 0
        try:
            lrs = self._closed_form()
        except ConfigError:
            lrs = self.get_lr()
        self._apply(lrs)

    def get_last_lr(self) -> list[float]:
        """The rates the last ``step()`` set, one per parameter group."""
        return list(self._last_lr)

    def state_dict(self) -> dict[str, Any]:
        """Everything but the optimizer (and functions, which cannot be saved)."""
        return {k: (list(v) if isinstance(v, list) else v) for k, v in self.__dict__.items()
                if k != "optimizer" and not callable(v) and k != "lr_lambdas"
                and k != "_schedulers"}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what :meth:`state_dict` returned."""
        state = dict(state)
        if "base_lr" in state and "base_lrs" not in state:  # saved by an older chainrule
            state["base_lrs"] = [float(state.pop("base_lr"))] * len(self.base_lrs)
        self.__dict__.update(state)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(last_epoch={self.last_epoch}, lr={self._last_lr})"
