"""Schedules that cycle or chain: warm restarts, the one-cycle policy, and one schedule after
another (PyTorch's ``CosineAnnealingWarmRestarts``, ``OneCycleLR``, ``SequentialLR``)."""

from __future__ import annotations

import math
from bisect import bisect_right
from collections.abc import Sequence
from typing import Any

from ..errors import ConfigError
from ._checks import number
from .optimizer import Optimizer
from .scheduler import LRScheduler
from .scheduler import positive_int as _positive_int

__all__ = ["CosineAnnealingWarmRestarts", "OneCycleLR", "SequentialLR"]


class CosineAnnealingWarmRestarts(LRScheduler):
    """Cosine annealing that restarts at the starting rate every ``T_0`` epochs, each period
    ``T_mult`` times longer than the last (SGDR, Loshchilov and Hutter).

    ``step(epoch)`` with a fractional epoch (e.g. ``epoch + batch / n_batches``) anneals
    within an epoch, as in PyTorch.

    Args:
        optimizer: The optimizer whose learning rates to set.
        T_0: Epochs of the first period.
        T_mult: How many times longer each period is than the last.
        eta_min: The lowest rate.
        last_epoch: The index of the last epoch, to resume a schedule (-1: start afresh).
    """

    def __init__(self, optimizer: Optimizer, T_0: int, T_mult: int = 1, eta_min: float = 0.0,
                 last_epoch: int = -1) -> None:
        who = "CosineAnnealingWarmRestarts"
        self.T_0 = _positive_int(T_0, "T_0", who)
        self.T_i = self.T_0
        self.T_mult = _positive_int(T_mult, "T_mult", who)
        self.eta_min = number(eta_min, "eta_min", who)
        self.T_cur: float = last_epoch
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        cos = math.cos(math.pi * self.T_cur / self.T_i)
        return [self.eta_min + (b - self.eta_min) * (1 + cos) / 2 for b in self.base_lrs]

    _closed_form = get_lr

    def step(self, epoch: float | None = None) -> float:  # type: ignore[override]
        """Advance one epoch, or jump to ``epoch`` (may be fractional)."""
        if epoch is None and self.last_epoch < 0:
            epoch = 0
        if epoch is None:
            epoch = self.last_epoch + 1
            self.T_cur += 1
            if self.T_cur >= self.T_i:
                self.T_cur -= self.T_i
                self.T_i *= self.T_mult
        else:
            epoch = number(epoch, "epoch", "CosineAnnealingWarmRestarts")
            if epoch >= self.T_0:
                if self.T_mult == 1:
                    self.T_cur = epoch % self.T_0
                else:
                    n = int(math.log(epoch / self.T_0 * (self.T_mult - 1) + 1, self.T_mult))
                    self.T_cur = epoch - self.T_0 * (self.T_mult**n - 1) / (self.T_mult - 1)
                    self.T_i = self.T_0 * self.T_mult**n
            else:
                self.T_i = self.T_0
                self.T_cur = epoch
        self.last_epoch = math.floor(epoch)
        self._apply(self.get_lr())
        return self._last_lr[0]

    def _restart(self) -> None:
        self.T_i, self.T_cur, self.last_epoch = self.T_0, 0, 0
        self._apply(self.get_lr())


class OneCycleLR(LRScheduler):
    """The one-cycle policy (Smith): warm up from ``max_lr / div_factor`` to ``max_lr`` over
    ``pct_start`` of ``total_steps``, then anneal to ``initial / final_div_factor``; with
    ``cycle_momentum`` the momentum (or Adam's beta1) moves the opposite way.  Step it once
    per batch, not per epoch.

    Args:
        optimizer: The optimizer whose learning rates to set.
        max_lr: The highest rate, one number or one per group.
        total_steps: The number of steps in the cycle; or give ``epochs`` and
            ``steps_per_epoch``.
        epochs: Epochs in the cycle (with ``steps_per_epoch``).
        steps_per_epoch: Batches per epoch (with ``epochs``).
        pct_start: The fraction of the cycle spent warming up.
        anneal_strategy: ``"cos"`` or ``"linear"``.
        cycle_momentum: Move the momentum (or Adam's beta1) opposite to the rate.
        base_momentum: The lowest momentum, one number or one per group.
        max_momentum: The highest momentum, one number or one per group.
        div_factor: The starting rate is ``max_lr / div_factor``.
        final_div_factor: The final rate is the starting rate over this.
        three_phase: Anneal back to the starting rate before the final descent.
        last_epoch: The index of the last epoch, to resume a schedule (-1: start afresh).
    """

    def __init__(self, optimizer: Optimizer, max_lr: float | Sequence[float],
                 total_steps: int | None = None, epochs: int | None = None,
                 steps_per_epoch: int | None = None, pct_start: float = 0.3,
                 anneal_strategy: str = "cos", cycle_momentum: bool = True,
                 base_momentum: float | Sequence[float] = 0.85,
                 max_momentum: float | Sequence[float] = 0.95, div_factor: float = 25.0,
                 final_div_factor: float = 1e4, three_phase: bool = False,
                 last_epoch: int = -1) -> None:
        who = "OneCycleLR"
        if total_steps is not None:
            self.total_steps = _positive_int(total_steps, "total_steps", who)
        elif epochs is not None and steps_per_epoch is not None:
            self.total_steps = (_positive_int(epochs, "epochs", who)
                                * _positive_int(steps_per_epoch, "steps_per_epoch", who))
        else:
            raise ConfigError(f"{who}: give total_steps, or epochs and steps_per_epoch")
        pct = number(pct_start, "pct_start", who, 0.0, 1.0, high_open=False)
        if anneal_strategy not in ("cos", "linear"):
            raise ConfigError(f"{who}: unknown anneal_strategy {anneal_strategy!r}; choose "
                              "'cos' or 'linear'")
        self.anneal_strategy = anneal_strategy
        n = self.total_steps
        if three_phase:
            self._phases = [(pct * n - 1, "initial_lr", "max_lr", "max_momentum", "base_momentum"),
                            (2 * pct * n - 2, "max_lr", "initial_lr", "base_momentum",
                             "max_momentum"),
                            (n - 1, "initial_lr", "min_lr", "max_momentum", "max_momentum")]
        else:
            self._phases = [(pct * n - 1, "initial_lr", "max_lr", "max_momentum", "base_momentum"),
                            (n - 1, "max_lr", "min_lr", "base_momentum", "max_momentum")]
        groups = optimizer.param_groups
        max_lrs = self._per_group(max_lr, "max_lr", len(groups))
        div = number(div_factor, "div_factor", who, low_open=True)
        final_div = number(final_div_factor, "final_div_factor", who, low_open=True)
        if last_epoch == -1:
            for group, top in zip(groups, max_lrs):
                group["initial_lr"] = top / div
                group["max_lr"] = top
                group["min_lr"] = group["initial_lr"] / final_div
        self.cycle_momentum = bool(cycle_momentum)
        if self.cycle_momentum:
            defaults = optimizer.defaults
            if "momentum" not in defaults and "betas" not in defaults:
                raise ConfigError(f"{who}: cycle_momentum=True needs an optimizer with "
                                  "momentum or betas; pass cycle_momentum=False")
            self.use_beta1 = "betas" in defaults
            tops = self._per_group(max_momentum, "max_momentum", len(groups))
            bases = self._per_group(base_momentum, "base_momentum", len(groups))
            if last_epoch == -1:
                for group, top, base in zip(groups, tops, bases):
                    if self.use_beta1:
                        group["betas"] = (top, *group["betas"][1:])
                    else:
                        group["momentum"] = top
                    group["max_momentum"] = top
                    group["base_momentum"] = base
        super().__init__(optimizer, last_epoch)

    @staticmethod
    def _per_group(value: float | Sequence[float], name: str, n: int) -> list[float]:
        if isinstance(value, (list, tuple)):
            if len(value) != n:
                raise ConfigError(f"OneCycleLR: expected {n} values of {name} (one per "
                                  f"parameter group), got {len(value)}")
            return [number(v, name, "OneCycleLR") for v in value]
        return [number(value, name, "OneCycleLR")] * n

    def _anneal(self, start: float, end: float, pct: float) -> float:
        if self.anneal_strategy == "cos":
            return end + (start - end) / 2.0 * (math.cos(math.pi * pct) + 1)
        return (end - start) * pct + start

    def get_lr(self) -> list[float]:
        t = self.last_epoch
        if t > self.total_steps:
            raise ConfigError(f"OneCycleLR: stepped {t} times but total_steps is "
                              f"{self.total_steps}; raise total_steps (or epochs)")
        lrs = []
        for group in self.optimizer.param_groups:
            start = 0.0
            for i, (end, lr_from, lr_to, m_from, m_to) in enumerate(self._phases):
                if t <= end or i == len(self._phases) - 1:
                    pct = (t - start) / (end - start)
                    lrs.append(self._anneal(group[lr_from], group[lr_to], pct))
                    if self.cycle_momentum:
                        m = self._anneal(group[m_from], group[m_to], pct)
                        if self.use_beta1:
                            group["betas"] = (m, *group["betas"][1:])
                        else:
                            group["momentum"] = m
                    break
                start = end
        return lrs


class SequentialLR(LRScheduler):
    """Run ``schedulers`` one after another, switching at the epochs in ``milestones``; each
    starts from the optimizer's starting rate when its turn comes.

    Args:
        optimizer: The optimizer whose learning rates to set.
        schedulers: The schedules, in order.
        milestones: The epochs at which the next schedule takes over (one fewer than
            ``schedulers``).
        last_epoch: The index of the last epoch, to resume a schedule (-1: start afresh).
    """

    def __init__(self, optimizer: Optimizer, schedulers: Sequence[LRScheduler],
                 milestones: Sequence[int], last_epoch: int = -1) -> None:
        who = "SequentialLR"
        schedulers = list(schedulers)
        if not schedulers:
            raise ConfigError(f"{who}: give at least one scheduler")
        for i, s in enumerate(schedulers):
            if not isinstance(s, LRScheduler) or s.needs_value:
                raise ConfigError(f"{who}: schedulers[{i}] is a {type(s).__name__}; give "
                                  "epoch schedules (ReduceLROnPlateau needs a value per step)")
            if s.optimizer is not optimizer:
                raise ConfigError(f"{who}: schedulers[{i}] belongs to another optimizer")
        marks = [_positive_int(m, "each milestone", who) for m in milestones]
        if len(marks) != len(schedulers) - 1:
            raise ConfigError(f"{who}: {len(schedulers)} schedulers need "
                              f"{len(schedulers) - 1} milestones, got {len(marks)}")
        self._schedulers = schedulers
        self._milestones = marks
        self.last_epoch = last_epoch + 1
        self.optimizer = optimizer
        for group in optimizer.param_groups:
            group["lr"] = group["initial_lr"]
        for s in schedulers:  # undo the first step each took when it was created
            s.last_epoch -= 1
        first = schedulers[bisect_right(marks, 0)]
        first._initial_step()
        self._last_lr = first.get_last_lr()

    def step(self) -> float:
        self.last_epoch += 1
        k = bisect_right(self._milestones, self.last_epoch)
        scheduler = self._schedulers[k]
        if k > 0 and self._milestones[k - 1] == self.last_epoch:
            scheduler._restart()
        else:
            scheduler.step()
        self._last_lr = scheduler.get_last_lr()
        return self._last_lr[0]

    def state_dict(self) -> dict[str, Any]:
        """Its own position and each scheduler's state."""
        return {"last_epoch": self.last_epoch, "_last_lr": list(self._last_lr),
                "_milestones": list(self._milestones),
                "schedulers": [s.state_dict() for s in self._schedulers]}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        state = dict(state)
        for s, saved in zip(self._schedulers, state.pop("schedulers")):
            s.load_state_dict(saved)
        self.__dict__.update(state)
