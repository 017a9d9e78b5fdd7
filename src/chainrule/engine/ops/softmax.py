"""The softmax family: softmax, log_softmax and logsumexp, each shifted by the maximum."""

from __future__ import annotations

from ..backend import errstate, namespace, ndarray
from ..primitive import Primitive, node
from ..tensor import Tensor
from .reductions import Axis, expand, reduction_axes, reduction_template, shown

__all__ = ["log_softmax", "logsumexp", "softmax"]


def logsumexp(x: Tensor, axis: Axis = None, keepdims: bool = False) -> Tensor:
    """log(sum(exp(x))) over ``axis``, computed after subtracting the maximum (no overflow)."""
    ax = reduction_axes(x, axis, "logsumexp")
    xd = x.data
    xp = namespace(xd)
    m = xp.max(xd, axis=ax, keepdims=True)
    m = xp.where(xp.isfinite(m), m, 0)  # all -inf (or inf) slices: leave them to exp/log
    with errstate(xp, divide="ignore"):
        lse = xp.log(xp.sum(xp.exp(xd - m), axis=ax, keepdims=True)) + m
    out = lse if keepdims else (xp.reshape(lse, ()) if ax is None else xp.squeeze(lse, axis=ax))
    return node(out, (x,), LOGSUMEXP, (ax, keepdims), shown(x, axis))


def _logsumexp_backward(out: Tensor, g: ndarray) -> tuple:
    axis, keepdims = out._saved
    xd = out._parents[0].data
    xp = namespace(g)
    return (expand(g, xd.shape, axis, keepdims) * xp.exp(xd - expand(out.data, xd.shape, axis,
                                                                      keepdims)),)


LOGSUMEXP = Primitive("logsumexp", _logsumexp_backward, reduction_template("logsumexp"),
                      saved="constant")


def softmax(x: Tensor, axis: int = -1) -> Tensor:
    """exp(x) / sum(exp(x)) along ``axis``, shifted by the maximum so it never overflows."""
    ax = reduction_axes(x, axis, "softmax")
    xd = x.data
    xp = namespace(xd)
    e = xp.exp(xd - xp.max(xd, axis=ax, keepdims=True))
    e /= xp.sum(e, axis=ax, keepdims=True)
    return node(e, (x,), SOFTMAX, ax, shown(x, None if axis == -1 else axis))


def _softmax_backward(out: Tensor, g: ndarray) -> tuple:
    s = out.data
    gs = g * s
    return (gs - s * namespace(gs).sum(gs, axis=out._saved, keepdims=True),)


SOFTMAX = Primitive("softmax", _softmax_backward, reduction_template("softmax"), saved="constant")


def log_softmax(x: Tensor, axis: int = -1) -> Tensor:
    """x - logsumexp(x) along ``axis``, computed stably."""
    ax = reduction_axes(x, axis, "log_softmax")
    xd = x.data
    xp = namespace(xd)
    shifted = xd - xp.max(xd, axis=ax, keepdims=True)
    out = shifted - xp.log(xp.sum(xp.exp(shifted), axis=ax, keepdims=True))
    return node(out, (x,), LOG_SOFTMAX, ax, shown(x, None if axis == -1 else axis))


def _log_softmax_backward(out: Tensor, g: ndarray) -> tuple:
    xp = namespace(g)
    return (g - xp.exp(out.data) * xp.sum(g, axis=out._saved, keepdims=True),)


LOG_SOFTMAX = Primitive("log_softmax", _log_softmax_backward,
                        reduction_template("log_softmax"), saved="constant")
