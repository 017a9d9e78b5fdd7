"""Learning-rate schedules: call ``scheduler.step()`` once per epoch (after ``opt.step()``).

This module holds the epoch schedules and, like ``torch.optim.lr_scheduler``, offers every
schedule by name (the cyclic ones live in :mod:`~chainrule.optim.cycles`, the plateau rule in
:mod:`~chainrule.optim.plateau`, the base class in :mod:`~chainrule.optim.scheduler`).

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

from ..errors import ConfigError
from ._checks import number
from .cycles import CosineAnnealingWarmRestarts, OneCycleLR, SequentialLR
from .optimizer import Optimizer
from .plateau import ReduceLROnPlateau
from .scheduler import LRScheduler
from .scheduler import positive_int as _positive_int

__all__ = [
    "CosineAnnealingLR",
    "CosineAnnealingWarmRestarts",
    "ExponentialLR",
    "LRScheduler",
    "LambdaLR",
    "LinearLR",
    "MultiStepLR",
    "OneCycleLR",
    "ReduceLROnPlateau",
    "SequentialLR",
    "StepLR",
]


class LambdaLR(LRScheduler):
    """Set each group's rate to its starting rate times ``lr_lambda(epoch)`` (one function, or
    one per group).

    Args:
        optimizer: The optimizer whose learning rates to set.
        lr_lambda: A function of the epoch giving the factor, or one function per group.
        last_epoch: The index of the last epoch, to resume a schedule (-1: start afresh).
    """

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
    """Multiply the learning rate by ``gamma`` every ``step_size`` epochs.

    Args:
        optimizer: The optimizer whose learning rates to set.
        step_size: Epochs between two multiplications.
        gamma: The factor.
        last_epoch: The index of the last epoch, to resume a schedule (-1: start afresh).
    """

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
    listed twice multiplies twice).

    Args:
        optimizer: The optimizer whose learning rates to set.
        milestones: The epochs at which to multiply.
        gamma: The factor.
        last_epoch: The index of the last epoch, to resume a schedule (-1: start afresh).
    """

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
    ``total_iters`` epochs (a warm-up with the defaults), then keep it.

    Args:
        optimizer: The optimizer whose learning rates to set.
        start_factor: The factor at the first epoch.
        end_factor: The factor from ``total_iters`` on.
        total_iters: Epochs over which the factor moves.
        last_epoch: The index of the last epoch, to resume a schedule (-1: start afresh).
    """

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
    """Multiply the learning rate by ``gamma`` every epoch.

    Args:
        optimizer: The optimizer whose learning rates to set.
        gamma: The factor per epoch.
        last_epoch: The index of the last epoch, to resume a schedule (-1: start afresh).
    """

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
    (and back up over the next ``T_max``, as PyTorch's does).

    Args:
        optimizer: The optimizer whose learning rates to set.
        T_max: Epochs of half a cosine period.
        eta_min: The lowest rate.
        last_epoch: The index of the last epoch, to resume a schedule (-1: start afresh).
    """

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
