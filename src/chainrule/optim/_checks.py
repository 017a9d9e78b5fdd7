"""Checks of hyperparameters at construction, so a bad setting fails where it is written."""

from __future__ import annotations

import math
import numbers

from ..errors import ConfigError


def number(value: object, name: str, who: str, low: float = 0.0, high: float = math.inf,
           low_open: bool = False, high_open: bool = True) -> float:
    """``value`` as a float if it is a real number (NumPy scalars included, bools refused)
    inside the interval from ``low`` to ``high``; otherwise a ConfigError naming it."""
    lo = "(" if low_open else "["
    hi = ")" if high_open or high == math.inf else "]"
    span = f"{lo}{low:g}, {'inf' if high == math.inf else f'{high:g}'}{hi}"
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ConfigError(f"{who}: {name} must be a number in {span}, got "
                          f"{type(value).__name__} {value!r}")
    x = float(value)
    inside = (x > low if low_open else x >= low) and (x < high if high_open else x <= high)
    if math.isnan(x) or not inside:
        raise ConfigError(f"{who}: {name} must be a number in {span}, got {value!r}")
    return x
