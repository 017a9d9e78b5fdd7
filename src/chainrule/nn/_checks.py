"""Checks of layer constructor arguments and of names looked up in nn's tables, shared by
nn's modules (a ConfigError naming them)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, TypeVar

import numpy as np

from ..errors import ConfigError

T = TypeVar("T")

MAX_SIZE = 2**31 - 1  # no single layer dimension is plausibly larger


def check_size(value: Any, layer: str, name: str, low: int = 1) -> int:
    """``value`` as an int in [low, 2**31); bools and floats are refused."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise ConfigError(f"{layer}: {name} must be an integer, got {_short(value)}")
    if not low <= value <= MAX_SIZE:
        raise ConfigError(f"{layer}: {name} must be between {low} and {MAX_SIZE}, got "
                          f"{_short(value)}")
    return int(value)


def check_pair(value: Any, layer: str, name: str, low: int = 1) -> tuple[int, int]:
    """An int or a pair of ints (height, width), each checked by :func:`check_size`."""
    if isinstance(value, (list, tuple)):
        if len(value) != 2:
            raise ConfigError(f"{layer}: {name} must be an integer or a pair, got "
                              f"{_short(value)}")
        return (check_size(value[0], layer, name, low), check_size(value[1], layer, name, low))
    v = check_size(value, layer, name, low)
    return (v, v)


def check_number(value: Any, layer: str, name: str, low: float, high: float,
                 high_open: bool = False) -> float:
    """A finite real number in [low, high] (or [low, high) with ``high_open``)."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.number)):
        raise ConfigError(f"{layer}: {name} must be a number, got {_short(value)}")
    v = float(value)
    ok = math.isfinite(v) and low <= v and (v < high if high_open else v <= high)
    if not ok:
        raise ConfigError(f"{layer}: {name} must be in [{low}, {high}{')' if high_open else ']'}"
                          f", got {_short(value)}")
    return v


def check_dtype(dtype: Any, layer: str) -> np.dtype:
    """A floating-point NumPy dtype."""
    try:
        dt = np.dtype(dtype)
    except TypeError:
        raise ConfigError(f"{layer}: dtype {_short(dtype)} is not a NumPy dtype; use "
                          "'float32' or 'float64'") from None
    if dt.kind != "f":
        raise ConfigError(f"{layer}: dtype must be a floating-point type, got {dt}")
    return dt


def lookup(table: Mapping[str, T], aliases: Mapping[str, str], name: Any, kind: str) -> T:
    """``table[name]``, the name taken in any case with ``-`` or ``_`` and through
    ``aliases``; a ConfigError listing the valid names otherwise.

    >>> lookup({"mse": 1}, {"mean_squared_error": "mse"}, "Mean-Squared-Error", "loss")
    1
    >>> lookup({"mse": 1}, {}, "hinge", "loss")
    Traceback (most recent call last):
        ...
    chainrule.errors.ConfigError: unknown loss 'hinge'; choose one of mse
    """
    key = name.lower().replace("-", "_") if isinstance(name, str) else None
    key = aliases.get(key, key) if key is not None else None
    if key not in table:
        raise ConfigError(f"unknown {kind} {_short(name)}; choose one of "
                          f"{', '.join(sorted(table))}")
    return table[key]  # type: ignore[index]


def _short(value: Any, limit: int = 80) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + "..."
