"""Reductions over axes (sum, mean, max, min) and the axis rules every axis-taking op shares."""

from __future__ import annotations

from typing import Any

from ...errors import ShapeError
from ..backend import namespace, ndarray
from ..primitive import Primitive, node
from ..tensor import Tensor

__all__ = ["Axis", "expand", "max", "mean", "min", "reduction_axes", "reduction_template",
           "shown", "sum"]

Axis = int | tuple[int, ...] | None

# ``sum``, ``max`` and ``min`` below take NumPy's names (they are the tensor methods
# ``x.sum()``...) and so hide the builtins in this module, which uses none of them.


def reduction_template(name: str) -> Any:
    return lambda a: f"{name}({a[0]})" if len(a) == 1 else f"{name}({a[0]}, axis={a[1]})"


def reduction_axes(x: Tensor, axis: Axis, op: str) -> Axis:
    """``axis`` as non-negative axes of ``x`` (None: all).  A 0-d tensor reduced over axis 0
    or -1 is itself, as in NumPy and PyTorch."""
    if axis is None:
        return None
    parts = axis if isinstance(axis, tuple) else (axis,)
    nd = x.data.ndim
    if nd == 0 and all(a in (0, -1) for a in parts):
        return None
    try:
        norm = tuple(int(a) + nd if int(a) < 0 else int(a) for a in parts)
    except (TypeError, ValueError):
        raise ShapeError(f"{op}: axis must be an int or a tuple of ints, got {axis!r}") from None
    if any(not 0 <= a < nd for a in norm) or len(set(norm)) != len(norm):
        raise ShapeError(f"{op}: axis {axis!r} is out of range (or repeated) for a tensor of "
                         f"shape {x.shape}; valid axes are {-nd}..{nd - 1}")
    return norm if isinstance(axis, tuple) else norm[0]


def shown(x: Tensor, axis: Axis) -> tuple:
    return (x,) if axis is None else (x, axis)


def expand(g: ndarray, shape: tuple[int, ...], axis: Axis, keepdims: bool) -> ndarray:
    """Undo a reduction's shape change: put back reduced axes, then broadcast (a view)."""
    xp = namespace(g)
    if axis is not None and not keepdims:
        for a in sorted(axis) if isinstance(axis, tuple) else (axis,):
            g = xp.expand_dims(g, axis=a)
    return xp.broadcast_to(g, shape)


def sum(x: Tensor, axis: Axis = None, keepdims: bool = False) -> Tensor:  # noqa: A001
    """Sum over ``axis`` (all axes by default)."""
    ax = reduction_axes(x, axis, "sum") if axis is not None else None
    xd = x.data
    return node(namespace(xd).sum(xd, axis=ax, keepdims=keepdims), (x,), SUM, (ax, keepdims),
                shown(x, axis))


def _sum_backward(out: Tensor, g: ndarray) -> tuple:
    axis, keepdims = out._saved
    return (expand(g, out._parents[0].data.shape, axis, keepdims),)


SUM = Primitive("sum", _sum_backward, reduction_template("sum"), saved="constant")


def mean(x: Tensor, axis: Axis = None, keepdims: bool = False) -> Tensor:
    """Mean over ``axis`` (all axes by default)."""
    ax = reduction_axes(x, axis, "mean") if axis is not None else None
    xd = x.data
    xp = namespace(xd)
    out = xp.asarray(xp.mean(xd, axis=ax, keepdims=keepdims))  # .size below needs an array
    count = xd.size // out.size if out.size else 0
    return node(out, (x,), MEAN, (ax, keepdims, count), shown(x, axis))


def _mean_backward(out: Tensor, g: ndarray) -> tuple:
    axis, keepdims, count = out._saved
    return (expand(g / count, out._parents[0].data.shape, axis, keepdims),)


MEAN = Primitive("mean", _mean_backward, reduction_template("mean"), saved="constant")


def max(x: Tensor, axis: Axis = None, keepdims: bool = False) -> Tensor:  # noqa: A001
    """Maximum over ``axis``; tied maxima share the gradient evenly."""
    ax = reduction_axes(x, axis, "max")
    xd = x.data
    return node(namespace(xd).max(xd, axis=ax, keepdims=keepdims), (x,), MAX, (ax, keepdims),
                shown(x, axis))


def min(x: Tensor, axis: Axis = None, keepdims: bool = False) -> Tensor:  # noqa: A001
    """Minimum over ``axis``; tied minima share the gradient evenly."""
    ax = reduction_axes(x, axis, "min")
    xd = x.data
    return node(namespace(xd).min(xd, axis=ax, keepdims=keepdims), (x,), MIN, (ax, keepdims),
                shown(x, axis))


def _minmax_backward(out: Tensor, g: ndarray) -> tuple:
    axis, keepdims = out._saved
    xd = out._parents[0].data
    xp = namespace(g)
    hit = xp.astype(xd == expand(out.data, xd.shape, axis, keepdims), g.dtype)
    hit /= xp.sum(hit, axis=axis, keepdims=True)
    return (expand(g, xd.shape, axis, keepdims) * hit,)


MAX = Primitive("max", _minmax_backward, reduction_template("max"), saved="constant")
MIN = Primitive("min", _minmax_backward, reduction_template("min"), saved="constant")
