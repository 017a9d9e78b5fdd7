"""When a monitored value "improved": the one rule every part of chainrule uses.

The plateau scheduler, early stopping, best-model checkpointing and the scikit-learn face
all ask the same question: is this epoch's value better than the best so far?  The rule is
PyTorch's (``torch.optim.lr_scheduler.ReduceLROnPlateau.is_better``):

=========  ================  ====================================
mode       threshold_mode    ``value`` improves on ``best`` when
=========  ================  ====================================
``min``    ``rel``           ``value < best * (1 - threshold)``
``min``    ``abs``           ``value < best - threshold``
``max``    ``rel``           ``value > best * (1 + threshold)``
``max``    ``abs``           ``value > best + threshold``
=========  ================  ====================================

A NaN never improves (every comparison with NaN is false), and the best starts at the worst
possible value (``inf`` for ``min``, ``-inf`` for ``max``), so the first finite value always
improves.  With ``threshold=0`` the two threshold modes agree: strictly better.

>>> from chainrule.optim.monitor import Monitor, is_better
>>> is_better(0.95, 1.0, mode="min", threshold=0.1)            # needs < 0.9
False
>>> is_better(0.95, 1.0, mode="min", threshold=0.01, threshold_mode="abs")  # needs < 0.99
True
>>> m = Monitor(mode="max")
>>> [m.update(v) for v in (0.5, 0.7, 0.7, 0.6, 0.8)]
[True, True, False, False, True]
>>> m.best
0.8
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from ..errors import ConfigError
from ._checks import number

__all__ = ["MODES", "THRESHOLD_MODES", "Monitor", "check_monitor_args", "is_better", "worst"]

MODES = ("min", "max")
THRESHOLD_MODES = ("rel", "abs")


def check_monitor_args(mode: str, threshold: float, threshold_mode: str,
                       who: str = "monitor") -> float:
    """Refuse an unknown mode, threshold mode or a threshold that is not a finite number >= 0;
    returns the threshold as a float.  ``who`` names the caller in the message."""
    if mode not in MODES:
        raise ConfigError(f"{who}: unknown mode {mode!r}; choose 'min' (lower is better) or "
                          f"'max' (higher is better)")
    if threshold_mode not in THRESHOLD_MODES:
        raise ConfigError(f"{who}: unknown threshold_mode {threshold_mode!r}; choose 'rel' "
                          f"(a fraction of the best) or 'abs' (an amount)")
    return number(threshold, "threshold", who)


def worst(mode: str) -> float:
    """The starting best: ``inf`` for ``mode='min'``, ``-inf`` for ``mode='max'``."""
    return math.inf if mode == "min" else -math.inf


def is_better(value: float, best: float, *, mode: str = "min", threshold: float = 0.0,
              threshold_mode: str = "rel") -> bool:
    """Whether ``value`` improves on ``best`` by more than ``threshold`` (see the module
    docstring for the four cases; they are PyTorch's).

    >>> is_better(0.5, float("inf"))
    True
    >>> is_better(float("nan"), 1.0)
    False
    """
    if mode == "min":
        if threshold_mode == "rel":
            return value < best * (1.0 - threshold)
        return value < best - threshold
    if threshold_mode == "rel":
        return value > best * (1.0 + threshold)
    return value > best + threshold


@dataclass
class Monitor:
    """The best value seen so far, and whether each new value improves on it.

    ``update(value)`` returns True and records ``value`` as the best when it improves (see
    :func:`is_better`); ``is_better(value)`` asks without recording.

    >>> m = Monitor(mode="min", threshold=0.1, threshold_mode="abs")
    >>> m.update(1.0), m.update(0.95), m.update(0.85), m.best
    (True, False, True, 0.85)
    """

    mode: str = "min"
    threshold: float = 0.0
    threshold_mode: str = "rel"
    best: float = field(default=math.nan)

    def __post_init__(self) -> None:
        self.threshold = check_monitor_args(self.mode, self.threshold, self.threshold_mode,
                                            "Monitor")
        if math.isnan(self.best):
            self.best = worst(self.mode)

    def is_better(self, value: float) -> bool:
        """Whether ``value`` improves on the best so far (nothing is recorded)."""
        return is_better(float(value), self.best, mode=self.mode, threshold=self.threshold,
                         threshold_mode=self.threshold_mode)

    def update(self, value: float) -> bool:
        """Record ``value`` as the best if it improves; returns whether it did."""
        if self.is_better(value):
            self.best = float(value)
            return True
        return False

    def reset(self) -> None:
        """Forget the best (it goes back to the worst possible value)."""
        self.best = worst(self.mode)

    def state_dict(self) -> dict[str, Any]:
        """The best so far (the settings are the constructor's)."""
        return {"best": self.best}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what :meth:`state_dict` returned."""
        self.best = float(state["best"])
