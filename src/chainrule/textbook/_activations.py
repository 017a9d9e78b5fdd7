"""The hidden activations the course uses, each with its derivative g'(z), in plain NumPy."""

from __future__ import annotations

import numpy as np

ACTIVATIONS = ("tanh", "sigmoid", "relu", "identity")


def sigmoid(z: np.ndarray) -> np.ndarray:
    """1 / (1 + e^-z), written from the sign of z so exp never overflows."""
    e = np.exp(-np.abs(z))
    return np.where(z >= 0, 1 / (1 + e), e / (1 + e))


def check(name: str) -> str:
    if name not in ACTIVATIONS:
        raise ValueError(f"unknown activation {name!r}; choose one of {', '.join(ACTIVATIONS)}")
    return name


def g(name: str, z: np.ndarray) -> np.ndarray:
    """a = g(z)."""
    if name == "tanh":
        return np.tanh(z)
    if name == "sigmoid":
        return sigmoid(z)
    if name == "relu":
        return np.maximum(z, 0)
    if name == "identity":
        return z
    raise ValueError(f"unknown activation {name!r}; choose one of {', '.join(ACTIVATIONS)}")


def g_prime(name: str, z: np.ndarray, a: np.ndarray) -> np.ndarray:
    """g'(z); tanh and sigmoid take it from the output a, as the course does (1 - a^2, a(1 - a))."""
    if name == "tanh":
        return 1 - a * a
    if name == "sigmoid":
        return a * (1 - a)
    if name == "relu":
        return (z > 0).astype(z.dtype)  # 0 at z == 0, like the engine
    if name == "identity":
        return np.ones_like(z)
    raise ValueError(f"unknown activation {name!r}; choose one of {', '.join(ACTIVATIONS)}")


def binary_cross_entropy(a: np.ndarray, y: np.ndarray) -> float:
    """-(1/m) sum [y log a + (1 - y) log(1 - a)], the course's cost J."""
    with np.errstate(divide="ignore"):
        log_a = np.maximum(np.log(a), -100.0)  # a that rounded to 0 or 1: clamp, not -inf
        log_1ma = np.maximum(np.log1p(-a), -100.0)
    return float(-np.mean(y * log_a + (1 - y) * log_1ma))
