"""Fused element-wise kernels for the captured plan, compiled by numba when it is installed.

Between the matrix products, an eager step makes one pass over memory per NumPy call: adding
the bias, the activation, each factor of its derivative, each term of the loss.  Each kernel
here does one of those chains in a single loop.  They are an optional extra
(``pip install chainrule[fast]``); without numba :mod:`chainrule.training.compiled` uses its
NumPy formulas, and the tests check that both give the eager engine's numbers.

numba compiles each kernel on first use and caches the machine code (``cache=True``) in the
user's cache folder (``NUMBA_CACHE_DIR``, default ``~/.cache/chainrule/numba``), so the compile
cost is paid once per machine, not per run.
"""

from __future__ import annotations

import math
import threading
from typing import Any

from ..nn.activations import Activation, Identity, LeakyReLU, ReLU, Sigmoid, Tanh
from ..nn.kernels import numba_module

__all__ = ["ACTIVATION_CODES", "LOOP_FRIENDLY", "available", "code", "kernels"]

ACTIVATION_CODES: dict[type[Activation], int] = {Identity: 0, Tanh: 1, Sigmoid: 2, ReLU: 3,
                                                 LeakyReLU: 4}
"""The code the kernels below branch on, for each activation class they compute."""
# Where a loop beats NumPy.  Measured on this 2-core machine (float32): bias + ReLU on a
# 128 x 128 batch in one loop takes half the time of ``z += b; maximum(z, 0, out=z)``; but a
# loop's scalar tanh, exp and log1p are 3-5x slower than NumPy's vectorised ones (bias + tanh
# on 400 x 4: 15 us against 4 us), so tanh, sigmoid and the cross-entropies stay in NumPy.
LOOP_FRIENDLY = frozenset({Identity, ReLU, LeakyReLU})


def code(activation: type[Activation]) -> int | None:
    """The kernels' code for ``activation`` where their loop is the faster way to apply it;
    None where NumPy's formula is (or the kernels do not compute it)."""
    return ACTIVATION_CODES[activation] if activation in LOOP_FRIENDLY else None


_kernels: Any = None
_tried = False  # set only once _kernels holds the answer
_lock = threading.Lock()


def available() -> bool:
    """Whether numba can be imported (the fused kernels are then used)."""
    return kernels() is not None


def kernels() -> Any:
    """The compiled kernels as a namespace, or None without numba (or with CHAINRULE_NO_NUMBA
    set, which the tests use to run the NumPy path).  Safe to call from several threads: the
    first builds them while the others wait for its answer."""
    global _kernels, _tried
    if _tried:
        return _kernels
    with _lock:
        if not _tried:
            try:
                _kernels = _load()
            finally:
                _tried = True
    return _kernels


def _load() -> Any:
    numba = numba_module()
    return None if numba is None else _build(numba)


def _build(numba: Any) -> Any:
    njit = numba.njit(cache=True, fastmath=False)

    @njit
    def bias_activation(z: Any, b: Any, code: int, slope: float) -> None:
        """z = g(z + b) in place, row by row (b may be empty: no bias)."""
        n, k = z.shape
        has_bias = b.shape[0] == k
        for i in range(n):
            for j in range(k):
                v = z[i, j] + b[j] if has_bias else z[i, j]
                if code == 1:
                    v = math.tanh(v)
                elif code == 2:
                    v = 1.0 / (1.0 + math.exp(-v))  # the engine's formula
                elif code == 3:
                    v = v if v > 0 else 0.0
                elif code == 4:
                    v = v if v > 0 else v * slope
                z[i, j] = v

    @njit
    def times_derivative(g: Any, a: Any, code: int, slope: float) -> None:
        """g *= g'(z), from the activation's output a."""
        n, k = g.shape
        for i in range(n):
            for j in range(k):
                v = a[i, j]
                if code == 1:
                    g[i, j] *= 1.0 - v * v
                elif code == 2:
                    g[i, j] *= v * (1.0 - v)
                elif code == 3 and v <= 0:
                    g[i, j] = 0.0
                elif code == 4 and v <= 0:
                    g[i, j] *= slope

    @njit
    def bce_logits(z: Any, y: Any, d: Any, scale: float) -> float:
        """Loss sum(max(z,0) - z y + log1p(e^-|z|)) * scale; d = (sigmoid(z) - y) * scale."""
        n, k = z.shape
        total = 0.0
        for i in range(n):
            for j in range(k):
                v = z[i, j]
                t = y[i, j]
                e = math.exp(-abs(v))
                total += (v if v > 0 else 0.0) - v * t + math.log1p(e)
                d[i, j] = (1.0 / (1.0 + math.exp(-v)) - t) * scale
        return total * scale

    @njit
    def mse(out: Any, y: Any, d: Any, scale: float) -> float:
        n, k = out.shape
        total = 0.0
        for i in range(n):
            for j in range(k):
                diff = out[i, j] - y[i, j]
                total += diff * diff
                d[i, j] = 2.0 * diff * scale
        return total * scale

    @njit
    def column_sums(d: Any, out: Any) -> None:
        n, k = d.shape
        for j in range(k):
            out[j] = 0.0
        for i in range(n):
            for j in range(k):
                out[j] += d[i, j]

    class Kernels:
        pass

    ns = Kernels()
    ns.bias_activation = bias_activation
    ns.times_derivative = times_derivative
    ns.bce_logits = bce_logits
    ns.mse = mse
    ns.column_sums = column_sums
    return ns
