"""Gradient clipping, with PyTorch's semantics (``torch.nn.utils``).

Call between ``loss.backward()`` and ``optimizer.step()``.  Parameters without a gradient
are skipped.

>>> import chainrule as cr
>>> from chainrule.nn.utils import clip_grad_norm_
>>> w = cr.tensor([0.0, 0.0], requires_grad=True)
>>> (w * cr.tensor([3.0, 4.0])).sum().backward()      # gradient (3, 4), norm 5
>>> float(clip_grad_norm_([w], max_norm=1.0))
5.0
>>> [round(float(g), 6) for g in w.grad]              # scaled by 1 / (5 + 1e-6)
[0.6, 0.8]
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterable

import numpy as np

from ..engine import Tensor
from ..engine.backend import is_array, namespace
from ..errors import ConfigError, DataError

__all__ = ["clip_grad_norm_", "clip_grad_value_", "clip_grads_with_norm_", "get_total_norm"]

Parameters = Tensor | Iterable[Tensor]


def _grads(parameters: Parameters, who: str) -> list[np.ndarray]:
    params = [parameters] if isinstance(parameters, Tensor) else list(parameters)
    for p in params:
        if not isinstance(p, Tensor):
            raise ConfigError(f"{who}: expected tensors (e.g. model.parameters()), got "
                              f"{type(p).__name__}")
    return [p.grad for p in params if p.grad is not None]


def _real(value: object, name: str, who: str, allow_inf: bool = False) -> float:
    if isinstance(value, str) and value.strip().lower() in ("inf", "-inf") and allow_inf:
        return float(value)
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or math.isnan(value) \
            or (math.isinf(value) and not allow_inf):
        kind = "a number (inf allowed)" if allow_inf else "a finite number"
        raise ConfigError(f"{who}: {name} must be {kind}, got {value!r}")
    return float(value)


def _norm(x: np.ndarray, p: float) -> float:
    # Any array library (the gradients' own): only array API standard calls.
    xp = namespace(x)
    a = xp.astype(xp.abs(xp.reshape(x, (-1,))), xp.float64, copy=False)
    if a.size == 0:
        return 0.0
    if p == math.inf:
        return float(xp.max(a))
    if p == -math.inf:
        return float(xp.min(a))
    if p == 0:
        return float(xp.count_nonzero(a))
    if p == 2:
        return float(xp.sqrt(a @ a))
    if p == 1:
        return float(xp.sum(a))
    return float(xp.sum(a**p) ** (1.0 / p))


def get_total_norm(tensors: Iterable[np.ndarray | Tensor], norm_type: float | str = 2.0,
                   error_if_nonfinite: bool = False) -> np.float64:
    """The ``norm_type`` norm of all the arrays together, as if concatenated into one vector
    (the norm of the per-array norms, as PyTorch computes it); 0 for none."""
    p = _real(norm_type, "norm_type", "get_total_norm", allow_inf=True)
    arrays = [t.data if isinstance(t, Tensor) else t if is_array(t) else np.asarray(t)
              for t in tensors]
    if not arrays:
        return np.float64(0.0)
    norms = np.array([_norm(a, p) for a in arrays])
    total = np.float64(_norm(norms, p))
    if error_if_nonfinite and not np.isfinite(total):
        raise DataError(f"the total norm of order {p:g} of the gradients is {total}, so they "
                        "cannot be clipped; find where they stop being finite (a learning rate "
                        "too high, unscaled inputs), or pass error_if_nonfinite=False to scale "
                        "by it anyway")
    return total


def clip_grads_with_norm_(parameters: Parameters, max_norm: float,
                          total_norm: float) -> None:
    """Scale the gradients in place by ``min(1, max_norm / (total_norm + 1e-6))``."""
    who = "clip_grads_with_norm_"
    max_norm = _real(max_norm, "max_norm", who)
    if max_norm < 0:
        raise ConfigError(f"{who}: max_norm must be >= 0, got {max_norm}")
    _scale(_grads(parameters, who), min(max_norm / (float(total_norm) + 1e-6), 1.0))


def _scale(grads: list[np.ndarray], coef: float) -> None:
    # An infinite gradient times a zero scale is NaN, as in PyTorch, which stays silent.
    # (NumPy's errstate: the other libraries do not warn.)
    with np.errstate(invalid="ignore"):
        for g in grads:
            g *= coef


def clip_grad_norm_(parameters: Parameters, max_norm: float, norm_type: float | str = 2.0,
                    error_if_nonfinite: bool = False) -> np.float64:
    """Scale the gradients in place so their total ``norm_type`` norm (``inf``: the largest
    entry) is at most ``max_norm``; returns the total norm *before* clipping.

    The scale is ``min(1, max_norm / (total + 1e-6))``, PyTorch's.  With
    ``error_if_nonfinite=True`` a NaN or infinite total raises DataError instead of filling
    the gradients with NaN.
    """
    grads = _grads(parameters, "clip_grad_norm_")
    max_norm = _real(max_norm, "max_norm", "clip_grad_norm_")
    if max_norm < 0:
        raise ConfigError(f"clip_grad_norm_: max_norm must be >= 0, got {max_norm}")
    total = get_total_norm(grads, norm_type, error_if_nonfinite)
    _scale(grads, min(max_norm / (float(total) + 1e-6), 1.0))
    return total


def clip_grad_value_(parameters: Parameters, clip_value: float) -> None:
    """Clamp every gradient entry in place into ``[-clip_value, clip_value]``."""
    value = _real(clip_value, "clip_value", "clip_grad_value_")
    for g in _grads(parameters, "clip_grad_value_"):
        if type(g) is np.ndarray:
            np.clip(g, -value, value, out=g)
        else:
            g[...] = namespace(g).clip(g, -value, value)
