"""Learning-rate schedules: call ``scheduler.step()`` once per epoch (after ``opt.step()``).

Each sets ``lr`` in every parameter group of the optimizer.  The formulas are PyTorch's, in
its chainable form: a schedule works from each group's *current* rate, so two schedules on
one optimizer compose (their factors multiply), and a rate changed by hand is carried on.
Creating a schedule records each group's starting rate as ``initial_lr`` (``base_lrs``);
``last_epoch`` counts the calls to ``step()`` and ``get_last_lr()`` gives the rates it set.

>>> import chainrule as cr
>>> opt = cr.optim.SGD([cr.tensor([1.0], requires_grad=True)], lr=0.1)
>>> a = cr.optim.StepLR(opt, step_size=2, gamma=0.5)
>>> b = cr.optim.ExponentialLR(opt, gamma=0.9)
>>> for _ in range(2):
...     opt.step()
...     _ = a.step(), b.step()
>>> round(opt.lr, 6)   # 0.1 * 0.5 (step 2 of StepLR) * 0.9 * 0.9
0.0405
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from ..errors import ConfigError
from ._checks import number
from .optimizer import Optimizer

__all__ = [
    "CosineAnnealingLR",
    "CosineAnnealingWarmRestarts",
    "ExponentialLR",
    "LRScheduler",
    "LambdaLR",
    "LinearLR",
    "MultiStepLR",
    "OneCycleLR",
    "SequentialLR",
    "StepLR",
]


def _positive_int(value: Any, name: str, who: str, low: int = 1) -> int:
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


class LambdaLR(LRScheduler):
    """Set each group's rate to its starting rate times ``lr_lambda(epoch)`` (one function, or
    one per group)."""

    def __init__(self, optimizer: Optimizer,
                 lr_lambda: Callable[[int], float] | Sequence[Callable[[int], float]],
                 last_epoch: int = -1) -> None:
        n = len(optimizer.param_groups)
        if isinstance(lr_lambda, (list, tuple)):
            if len(lr_lambda) != n:
                raise ConfigError(f"LambdaLR: expected {n} functions (one per parameter "
                                  f"group), got {len(lr_lambda)}")
            self.lr_lambdas = list(lr_lambda)
        else:
            self.lr_lambdas = [lr_lambda] * n
        if not all(callable(f) for f in self.lr_lambdas):
            raise ConfigError("LambdaLR: lr_lambda must be a function epoch -> factor")
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        return [base * float(f(self.last_epoch)) for f, base in zip(self.lr_lambdas,
                                                                    self.base_lrs)]

    _closed_form = get_lr


class StepLR(LRScheduler):
    """Multiply the learning rate by ``gamma`` every ``step_size`` epochs."""

    def __init__(self, optimizer: Optimizer, step_size: int, gamma: float = 0.1,
                 last_epoch: int = -1) -> None:
        self.step_size = _positive_int(step_size, "step_size", "StepLR")
        self.gamma = number(gamma, "gamma", "StepLR")
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        if self.last_epoch == 0 or self.last_epoch % self.step_size:
            return self._current()
        return [lr * self.gamma for lr in self._current()]

    def _closed_form(self) -> list[float]:
        return [b * self.gamma ** (self.last_epoch // self.step_size) for b in self.base_lrs]


class MultiStepLR(LRScheduler):
    """Multiply the learning rate by ``gamma`` at each epoch in ``milestones`` (a milestone
    listed twice multiplies twice)."""

    def __init__(self, optimizer: Optimizer, milestones: Iterable[int], gamma: float = 0.1,
                 last_epoch: int = -1) -> None:
        marks = list(milestones)
        for m in marks:
            _positive_int(m, "each milestone", "MultiStepLR", low=0)
        self.milestones = Counter(marks)
        self.gamma = number(gamma, "gamma", "MultiStepLR")
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        if self.last_epoch not in self.milestones:
            return self._current()
        factor = self.gamma ** self.milestones[self.last_epoch]
        return [lr * factor for lr in self._current()]

    def _closed_form(self) -> list[float]:
        passed = bisect_right(sorted(self.milestones.elements()), self.last_epoch)
        return [b * self.gamma**passed for b in self.base_lrs]


class LinearLR(LRScheduler):
    """Scale the rate by a factor going linearly from ``start_factor`` to ``end_factor`` over
    ``total_iters`` epochs (a warm-up with the defaults), then keep it."""

    def __init__(self, optimizer: Optimizer, start_factor: float = 1.0 / 3,
                 end_factor: float = 1.0, total_iters: int = 5, last_epoch: int = -1) -> None:
        self.start_factor = number(start_factor, "start_factor", "LinearLR", 0.0, 1.0,
                                   low_open=True, high_open=False)
        self.end_factor = number(end_factor, "end_factor", "LinearLR", 0.0, 1.0,
                                 high_open=False)
        self.total_iters = _positive_int(total_iters, "total_iters", "LinearLR")
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        lrs = self._current()
        if self.last_epoch == 0:
            return [lr * self.start_factor for lr in lrs]
        if self._is_initial or self.last_epoch > self.total_iters:
            return lrs
        span = self.end_factor - self.start_factor
        ratio = 1.0 + span / (self.total_iters * self.start_factor
                              + (self.last_epoch - 1) * span)
        return [lr * ratio for lr in lrs]

    def _closed_form(self) -> list[float]:
        done = min(self.total_iters, self.last_epoch) / self.total_iters
        factor = self.start_factor + (self.end_factor - self.start_factor) * done
        return [b * factor for b in self.base_lrs]


class ExponentialLR(LRScheduler):
    """Multiply the learning rate by ``gamma`` every epoch."""

    def __init__(self, optimizer: Optimizer, gamma: float, last_epoch: int = -1) -> None:
        self.gamma = number(gamma, "gamma", "ExponentialLR")
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        if self._is_initial:
            return self._current()
        return [lr * self.gamma for lr in self._current()]

    def _closed_form(self) -> list[float]:
        return [b * self.gamma**self.last_epoch for b in self.base_lrs]


class CosineAnnealingLR(LRScheduler):
    """Anneal from the starting rate to ``eta_min`` along half a cosine over ``T_max`` epochs
    (and back up over the next ``T_max``, as PyTorch's does)."""

    def __init__(self, optimizer: Optimizer, T_max: int, eta_min: float = 0.0,
                 last_epoch: int = -1) -> None:
        self.T_max = _positive_int(T_max, "T_max", "CosineAnnealingLR")
        self.eta_min = number(eta_min, "eta_min", "CosineAnnealingLR")
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        e, T, lo = self.last_epoch, self.T_max, self.eta_min
        if self._is_initial:
            return self._current()
        if self._step_count == 1 and e > 0:  # resumed part-way: start from the formula
            return self._closed_form()
        if (e - 1 - T) % (2 * T) == 0:  # at the bottom the ratio below would be 0/0
            return [lr + (b - lo) * (1 - math.cos(math.pi / T)) / 2
                    for lr, b in zip(self._current(), self.base_lrs)]
        ratio = (1 + math.cos(math.pi * e / T)) / (1 + math.cos(math.pi * (e - 1) / T))
        return [ratio * (lr - lo) + lo for lr in self._current()]

    def _closed_form(self) -> list[float]:
        cos = math.cos(math.pi * self.last_epoch / self.T_max)
        return [self.eta_min + (b - self.eta_min) * (1 + cos) / 2 for b in self.base_lrs]


class CosineAnnealingWarmRestarts(LRScheduler):
    """Cosine annealing that restarts at the starting rate every ``T_0`` epochs, each period
    ``T_mult`` times longer than the last (SGDR, Loshchilov and Hutter).

    ``step(epoch)`` with a fractional epoch (e.g. ``epoch + batch / n_batches``) anneals
    within an epoch, as in PyTorch.
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
    starts from the optimizer's starting rate when its turn comes."""

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
