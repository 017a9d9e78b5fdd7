"""Shape operations: reshape, transpose, indexing, concatenate and stack."""

from __future__ import annotations

import numbers
from collections.abc import Sequence
from typing import Any

from ...errors import DTypeError, ShapeError
from ..backend import add_at, dtype_name, is_array, is_floating, namespace, ndarray
from ..devices import to_numpy
from ..primitive import Primitive, node
from ..tensor import Tensor
from .operands import as_tensor

__all__ = ["concatenate", "getitem", "reshape", "stack", "transpose"]


def reshape(x: Tensor, *shape: Any) -> Tensor:
    """The same values in a new shape (``-1`` infers one dimension)."""
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        shape = tuple(shape[0])
    try:
        out = namespace(x.data).reshape(x.data, shape)
    except (ValueError, TypeError):
        raise ShapeError(f"reshape: cannot reshape {x.shape} ({x.size} values) into {shape}") \
            from None
    return node(out, (x,), RESHAPE, None, (x, tuple(shape)))


def _reshape_backward(out: Tensor, g: ndarray) -> tuple:
    return (namespace(g).reshape(g, out._parents[0].data.shape),)


RESHAPE = Primitive("reshape", _reshape_backward)


def transpose(x: Tensor, *axes: Any) -> Tensor:
    """Permute axes (reverse them by default, like ``.T``); negative axes count from the end."""
    if len(axes) == 1 and isinstance(axes[0], (tuple, list)):
        axes = tuple(axes[0])
    nd = x.data.ndim
    if not axes:
        return node(namespace(x.data).permute_dims(x.data, tuple(range(nd - 1, -1, -1))), (x,),
                    TRANSPOSE, None)
    try:
        perm = tuple(int(a) + nd if int(a) < 0 else int(a) for a in axes)
    except (TypeError, ValueError):
        raise ShapeError(f"transpose: axes must be ints, got {axes!r}") from None
    if sorted(perm) != list(range(nd)):
        raise ShapeError(f"transpose: axes {axes!r} are not a permutation of the {nd} axes of "
                         f"a tensor of shape {x.shape}")
    return node(namespace(x.data).permute_dims(x.data, perm), (x,), TRANSPOSE, perm, (x, axes))


def _transpose_backward(out: Tensor, g: ndarray) -> tuple:
    perm = out._saved  # normalised, so sorting by it gives the inverse permutation
    n = g.ndim
    back = tuple(range(n - 1, -1, -1)) if perm is None else tuple(
        sorted(range(n), key=perm.__getitem__))
    return (namespace(g).permute_dims(g, back),)


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
        if i is None or i is Ellipsis or isinstance(i, (slice, numbers.Integral)):
            continue
        if is_array(i) and dtype_name(i.dtype) == "bool":
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
        if is_array(i):
            if dtype_name(i.dtype) == "bool":
                return "mask"
            return str(to_numpy(i).tolist()) if i.size <= 6 else "array"
        return str(i)
    return ", ".join(one(i) for i in (idx if isinstance(idx, tuple) else (idx,)))


def getitem(x: Tensor, idx: Any) -> Tensor:
    """``x[idx]``: basic slicing, boolean masks and integer-array indexing."""
    idx = _index(idx)
    xd = x.data
    if type(xd) is not ndarray:
        idx = _on_device(namespace(xd), idx, xd.ndim)
    try:
        out = xd[idx] if type(xd) is ndarray else _take(xd, idx)
    except IndexError as err:
        raise ShapeError(f"indexing a tensor of shape {x.shape}: {err}") from None
    return node(out, (x,), GETITEM, (idx, _is_basic(idx)), (x, _index_text(idx)))


def _on_device(xp: Any, idx: Any, ndim: int) -> Any:
    # NumPy's index forms (lists and tuples of integers, host arrays) as arrays on the
    # tensor's device, as PyTorch allows a CPU index for a GPU tensor.
    # The standard also wants every axis indexed, so a short index gets NumPy's implied
    # trailing ``...``.
    def one(i: Any) -> Any:
        if isinstance(i, (list, tuple)) or type(i) is ndarray:
            return xp.asarray(i)
        return i
    idx = tuple(one(i) for i in idx) if isinstance(idx, tuple) else (one(idx),)
    if not any(i is Ellipsis for i in idx) and sum(i is not None for i in idx) < ndim:
        idx = (*idx, Ellipsis)
    return idx


def _one_array(a: Any, idx: Any) -> tuple[tuple, int, Any] | None:
    """An index with one integer array among slices, integers and None, as (the index with a
    full slice in the array's place, the axis it indexes after that, the array); else None."""
    parts = list(idx) if isinstance(idx, tuple) else [idx]
    found = [k for k, p in enumerate(parts) if is_array(p) and dtype_name(p.dtype) != "bool"]
    if len(found) != 1 or any(is_array(p) for k, p in enumerate(parts) if k != found[0]):
        return None
    if any(p is Ellipsis for p in parts):
        k = next(k for k, p in enumerate(parts) if p is Ellipsis)
        explicit = sum(p is not None and p is not Ellipsis for p in parts)
        parts[k:k + 1] = [slice(None)] * (a.ndim - explicit)
    k = next(k for k, p in enumerate(parts) if is_array(p))
    arr = parts[k]
    parts[k] = slice(None)
    axis = sum(not isinstance(p, numbers.Integral) for p in parts[:k])
    return (*parts, Ellipsis), axis, arr


def _take(a: Any, idx: Any) -> Any:
    # The standard indexes with integer arrays only when every axis gets one; one array among
    # slices (an embedding's rows, a column pick) is a basic index and then ``take``.
    one = _one_array(a, idx)
    if one is None:
        short = isinstance(idx, tuple) and len(idx) < a.ndim and not any(
            i is Ellipsis for i in idx)
        return a[(*idx, ...) if short else idx]
    basic, axis, arr = one
    xp = namespace(a)
    base = a[basic]
    n = base.shape[axis]
    flat = xp.reshape(arr, (-1,))
    flat = xp.where(flat < 0, flat + n, flat)
    picked = xp.take(base, flat, axis=axis)
    return xp.reshape(picked, (*base.shape[:axis], *arr.shape, *base.shape[axis + 1:]))


def _add_taken(gx: Any, idx: Any, g: Any) -> None:
    # The adjoint of _take on the standard's functions: add g's slices back along the axis.
    one = _one_array(gx, idx)
    if one is None:
        add_at(gx, idx, g)
        return
    basic, axis, arr = one
    xp = namespace(gx)
    base = gx[basic]
    flat = xp.reshape(arr, (-1,))
    n = base.shape[axis]
    flat = xp.where(flat < 0, flat + n, flat)
    moved = xp.moveaxis(xp.zeros(base.shape, dtype=gx.dtype), axis, 0)
    vals = xp.reshape(g, (*base.shape[:axis], flat.shape[0], *base.shape[axis + 1:]))
    add_at(moved, flat, xp.moveaxis(vals, axis, 0))
    gx[basic] = gx[basic] + xp.moveaxis(moved, 0, axis)


def _getitem_backward(out: Tensor, g: ndarray) -> tuple:
    idx, basic = out._saved
    return (scatter(g, out._parents[0].data.shape, idx, basic),)


GETITEM = Primitive("getitem", _getitem_backward, "{0}[{1}]", saved="constant")


def scatter(g: ndarray | Tensor, shape: tuple[int, ...], idx: Any, basic: bool) -> Any:
    """Zeros of ``shape`` with ``g`` put at ``x[idx]``: the adjoint of indexing.  Repeated
    indices add up.  An array gives an array; a tensor gives a recorded node, whose own
    backward indexes again (so indexing has derivatives of every order)."""
    gd = g.data if isinstance(g, Tensor) else g
    gx = namespace(gd).zeros(shape, dtype=gd.dtype)
    if basic:
        if type(gx) is not ndarray and any(i is None for i in (
                idx if isinstance(idx, tuple) else (idx,))):
            # the standard's setitem takes no None: drop them, and gd's axes they added
            idx = tuple(i for i in idx if i is not None)
            gd = namespace(gd).reshape(gd, gx[idx].shape)
        gx[idx] = gd
    elif type(gx) is ndarray:
        add_at(gx, idx, gd)  # repeated indices must add up, not overwrite
    else:
        _add_taken(gx, idx, gd)
    return node(gx, (g,), SCATTER, (idx, basic)) if isinstance(g, Tensor) else gx


def _scatter_backward(out: Tensor, g: ndarray) -> tuple:
    idx, _ = out._saved
    return (g[idx] if type(g) is ndarray or isinstance(g, Tensor) else _take(g, idx),)


SCATTER = Primitive("scatter", _scatter_backward, "scatter({0})", saved="constant")


def concatenate(tensors: Sequence[Any], axis: int = 0) -> Tensor:
    """Join tensors along an existing axis."""
    ts = _same_dtype(tensors, "concatenate")
    arrays = [t.data for t in ts]
    try:
        out = namespace(*arrays).concat(arrays, axis=axis)
    except ValueError as err:
        raise ShapeError(f"concatenate: {err}") from None
    sizes = [t.data.shape[axis] for t in ts]
    return node(out, tuple(ts), CONCATENATE, (axis, sizes), (*ts, axis))


def _concatenate_backward(out: Tensor, g: ndarray) -> tuple:
    axis, sizes = out._saved
    before = (slice(None),) * (axis % g.ndim)  # slicing works on arrays and tensors alike
    parts, end = [], 0
    for n in sizes:
        parts.append(g[(*before, slice(end, end + n), ...)])
        end += n
    return tuple(parts)


CONCATENATE = Primitive("concatenate", _concatenate_backward,
                        lambda a: f"concatenate([{', '.join(a[:-1])}], axis={a[-1]})",
                        saved="constant")


def stack(tensors: Sequence[Any], axis: int = 0) -> Tensor:
    """Join tensors of one shape along a new axis."""
    ts = _same_dtype(tensors, "stack")
    arrays = [t.data for t in ts]
    try:
        out = namespace(*arrays).stack(arrays, axis=axis)
    except ValueError as err:
        raise ShapeError(f"stack: {err}") from None
    return node(out, tuple(ts), STACK, axis, (*ts, axis))


def _stack_backward(out: Tensor, g: ndarray) -> tuple:
    axis = out._saved
    return tuple(namespace(g).unstack(g, axis=axis))


STACK = Primitive("stack", _stack_backward,
                  lambda a: f"stack([{', '.join(a[:-1])}], axis={a[-1]})", saved="constant")


def _same_dtype(tensors: Sequence[Any], op: str) -> list[Tensor]:
    ts = [as_tensor(t) for t in tensors]
    if not ts:
        raise ShapeError(f"{op}: needs at least one tensor")
    floats = {dtype_name(t.dtype) for t in ts if is_floating(t.dtype)}
    if len(floats) > 1:
        raise DTypeError(f"{op}: cannot combine dtypes {sorted(floats)}; convert explicitly")
    if floats:
        dtype = ts[[is_floating(t.dtype) for t in ts].index(True)].dtype
        ts = [t if t.dtype == dtype else Tensor(namespace(t.data).astype(t.data, dtype))
              for t in ts]
    return ts
