"""Shape operations: reshape, transpose, indexing, concatenate and stack."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ...errors import DTypeError, ShapeError
from ..backend import ndarray, xp
from ..primitive import Primitive, node
from ..tensor import Tensor
from .operands import as_tensor

__all__ = ["concatenate", "getitem", "reshape", "stack", "transpose"]


def reshape(x: Tensor, *shape: Any) -> Tensor:
    """The same values in a new shape (``-1`` infers one dimension)."""
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        shape = tuple(shape[0])
    try:
        out = x.data.reshape(shape)
    except (ValueError, TypeError):
        raise ShapeError(f"reshape: cannot reshape {x.shape} ({x.size} values) into {shape}") \
            from None
    return node(out, (x,), RESHAPE, None, (x, tuple(shape)))


def _reshape_backward(out: Tensor, g: ndarray) -> tuple:
    return (g.reshape(out._parents[0].data.shape),)


RESHAPE = Primitive("reshape", _reshape_backward)


def transpose(x: Tensor, *axes: Any) -> Tensor:
    """Permute axes (reverse them by default, like ``.T``); negative axes count from the end."""
    if len(axes) == 1 and isinstance(axes[0], (tuple, list)):
        axes = tuple(axes[0])
    if not axes:
        return node(xp.transpose(x.data), (x,), TRANSPOSE, None)
    nd = x.data.ndim
    try:
        perm = tuple(int(a) + nd if int(a) < 0 else int(a) for a in axes)
    except (TypeError, ValueError):
        raise ShapeError(f"transpose: axes must be ints, got {axes!r}") from None
    if sorted(perm) != list(range(nd)):
        raise ShapeError(f"transpose: axes {axes!r} are not a permutation of the {nd} axes of "
                         f"a tensor of shape {x.shape}")
    return node(xp.transpose(x.data, perm), (x,), TRANSPOSE, perm, (x, axes))


def _transpose_backward(out: Tensor, g: ndarray) -> tuple:
    perm = out._saved  # normalised, so argsort gives the inverse permutation
    return (xp.transpose(g, None if perm is None else xp.argsort(perm)),)


TRANSPOSE = Primitive("transpose", _transpose_backward,
                      lambda a: f"{a[0]}.T" if len(a) == 1 else f"transpose({a[0]}, {a[1]})",
                      saved="constant")


def _index(idx: Any) -> Any:
    if isinstance(idx, Tensor):
        return idx.data
    if isinstance(idx, tuple):
        return tuple(i.data if isinstance(i, Tensor) else i for i in idx)
    return idx


def _is_basic(idx: Any) -> bool:
    """Slices, integers, None, Ellipsis and boolean masks select each element at most once;
    anything else (lists, tuples or arrays of integers, at any depth) may repeat one."""
    for i in idx if isinstance(idx, tuple) else (idx,):
        if i is None or i is Ellipsis or isinstance(i, (slice, int, xp.integer)):
            continue
        if isinstance(i, ndarray) and i.dtype == bool:
            continue
        return False
    return True


def _index_text(idx: Any) -> str:
    def one(i: Any) -> str:
        if isinstance(i, slice):
            text = ":".join("" if v is None else str(v) for v in (i.start, i.stop, i.step))
            return text.removesuffix(":") if i.step is None else text
        if i is Ellipsis:
            return "..."
        if isinstance(i, ndarray):
            return "mask" if i.dtype == bool else (str(i.tolist()) if i.size <= 6 else "array")
        return str(i)
    return ", ".join(one(i) for i in (idx if isinstance(idx, tuple) else (idx,)))


def getitem(x: Tensor, idx: Any) -> Tensor:
    """``x[idx]``: basic slicing, boolean masks and integer-array indexing."""
    idx = _index(idx)
    try:
        out = x.data[idx]
    except IndexError as err:
        raise ShapeError(f"indexing a tensor of shape {x.shape}: {err}") from None
    return node(out, (x,), GETITEM, (idx, _is_basic(idx)), (x, _index_text(idx)))


def _getitem_backward(out: Tensor, g: ndarray) -> tuple:
    idx, basic = out._saved
    return (scatter(g, out._parents[0].data.shape, idx, basic),)


GETITEM = Primitive("getitem", _getitem_backward, "{0}[{1}]", saved="constant")


def scatter(g: ndarray | Tensor, shape: tuple[int, ...], idx: Any, basic: bool) -> Any:
    """Zeros of ``shape`` with ``g`` put at ``x[idx]``: the adjoint of indexing.  Repeated
    indices add up.  An array gives an array; a tensor gives a recorded node, whose own
    backward indexes again (so indexing has derivatives of every order)."""
    gx = xp.zeros(shape, dtype=g.dtype)
    gd = g.data if isinstance(g, Tensor) else g
    if basic:
        gx[idx] = gd
    else:
        xp.add.at(gx, idx, gd)  # repeated indices must add up, not overwrite
    return node(gx, (g,), SCATTER, (idx, basic)) if isinstance(g, Tensor) else gx


def _scatter_backward(out: Tensor, g: ndarray) -> tuple:
    idx, _ = out._saved
    return (g[idx],)


SCATTER = Primitive("scatter", _scatter_backward, "scatter({0})", saved="constant")


def concatenate(tensors: Sequence[Any], axis: int = 0) -> Tensor:
    """Join tensors along an existing axis."""
    ts = _same_dtype(tensors, "concatenate")
    try:
        out = xp.concatenate([t.data for t in ts], axis=axis)
    except ValueError as err:
        raise ShapeError(f"concatenate: {err}") from None
    sizes = [t.data.shape[axis] for t in ts]
    return node(out, tuple(ts), CONCATENATE, (axis, sizes), (*ts, axis))


def _concatenate_backward(out: Tensor, g: ndarray) -> tuple:
    axis, sizes = out._saved
    ends = xp.cumsum(sizes).tolist()
    before = (slice(None),) * (axis % g.ndim)  # slicing works on arrays and tensors alike
    return tuple(g[(*before, slice(end - n, end))] for n, end in zip(sizes, ends))


CONCATENATE = Primitive("concatenate", _concatenate_backward,
                        lambda a: f"concatenate([{', '.join(a[:-1])}], axis={a[-1]})",
                        saved="constant")


def stack(tensors: Sequence[Any], axis: int = 0) -> Tensor:
    """Join tensors of one shape along a new axis."""
    ts = _same_dtype(tensors, "stack")
    try:
        out = xp.stack([t.data for t in ts], axis=axis)
    except ValueError as err:
        raise ShapeError(f"stack: {err}") from None
    return node(out, tuple(ts), STACK, axis, (*ts, axis))


def _stack_backward(out: Tensor, g: ndarray) -> tuple:
    axis = out._saved
    return tuple(xp.moveaxis(g, axis, 0))


STACK = Primitive("stack", _stack_backward,
                  lambda a: f"stack([{', '.join(a[:-1])}], axis={a[-1]})", saved="constant")


def _same_dtype(tensors: Sequence[Any], op: str) -> list[Tensor]:
    ts = [as_tensor(t) for t in tensors]
    if not ts:
        raise ShapeError(f"{op}: needs at least one tensor")
    floats = {str(t.dtype) for t in ts if t.dtype.kind == "f"}
    if len(floats) > 1:
        raise DTypeError(f"{op}: cannot combine dtypes {sorted(floats)}; convert explicitly")
    if floats:
        dtype = ts[[t.dtype.kind == "f" for t in ts].index(True)].dtype
        ts = [t if t.dtype == dtype else Tensor(t.data.astype(dtype)) for t in ts]
    return ts
