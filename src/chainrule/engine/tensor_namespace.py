"""The array API namespace of tensors: a backward rule, run on tensors, records its own graph.

A backward rule is written once, for arrays: ``xp = namespace(g)`` and the standard's functions
on ``xp``.  For a gradient of a gradient (:mod:`chainrule.engine.higher`) the same rule runs on
tensors, and ``namespace(g)`` of a tensor is this namespace: each differentiable function of
the standard is the engine's operation (``xp.exp`` is :func:`~chainrule.engine.ops.exp`), so
the rule's arithmetic is recorded and can be differentiated again, on whatever device the
tensors' arrays live.  Functions whose result has no gradient (comparisons, signs, argmax,
array creation, dtypes) run on the arrays themselves.  A function in neither list raises a
:class:`~chainrule.errors.GraphError` rather than silently dropping the graph.

>>> import chainrule as cr
>>> t = cr.tensor([1.0, 2.0], requires_grad=True)
>>> xp = t.__array_namespace__()
>>> xp.sum(xp.exp(t)).op
'sum'
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..errors import GraphError
from .backend import namespace
from .ops import reductions
from .ops.arithmetic import add, div, mul, neg, pow, sub
from .ops.elementwise import abs, astype, clip, exp, log, maximum, minimum, sqrt, tanh, where
from .ops.linalg import matmul
from .ops.shapes import concatenate, getitem, reshape, stack, transpose
from .tensor import Tensor

__all__ = ["CONSTANT", "DIFFERENTIABLE", "TensorNamespace", "array_namespace",
           "tensor_namespace"]


def _axes(n: int, axis: Any) -> list[int]:
    return [int(a) % n for a in (axis if isinstance(axis, (tuple, list)) else (axis,))]


def _permute(x: Tensor, axes: Any) -> Tensor:
    return transpose(x, tuple(int(a) for a in axes))


def _matrix_transpose(x: Tensor) -> Tensor:
    perm = list(range(x.ndim))
    perm[-1], perm[-2] = perm[-2], perm[-1]
    return transpose(x, perm)


def _expand_dims(x: Tensor, axis: int = 0) -> Tensor:
    shape = list(x.shape)
    shape.insert(int(axis) % (x.ndim + 1), 1)
    return reshape(x, tuple(shape))


def _squeeze(x: Tensor, axis: Any) -> Tensor:
    drop = _axes(x.ndim, axis)
    return reshape(x, tuple(n for i, n in enumerate(x.shape) if i not in drop))


def _broadcast_to(x: Tensor, shape: Any) -> Tensor:
    # adding zeros broadcasts, and its backward sums the copies back (the adjoint)
    xd = x.data if isinstance(x, Tensor) else x
    zeros = x.__array_namespace__().arrays.zeros(tuple(shape), dtype=xd.dtype)
    return add(x, zeros)


def _take(x: Tensor, indices: Any, axis: int | None = None) -> Tensor:
    if axis is None:
        return getitem(reshape(x, (-1,)), indices)
    return getitem(x, (slice(None),) * (int(axis) % x.ndim) + (indices,))


def _unstack(x: Tensor, axis: int = 0) -> tuple[Tensor, ...]:
    axis = int(axis) % x.ndim
    return tuple(getitem(x, (slice(None),) * axis + (i,)) for i in range(x.shape[axis]))


def _moveaxis(x: Tensor, source: Any, destination: Any) -> Tensor:
    n = x.ndim
    src, dst = _axes(n, source), _axes(n, destination)
    order = [k for k in range(n) if k not in src]
    for d, s in sorted(zip(dst, src)):
        order.insert(d, s)
    return transpose(x, order)


def _reduction(op: Callable[..., Tensor]) -> Callable[..., Tensor]:
    def reduce(x: Tensor, /, *, axis: Any = None, keepdims: bool = False, **_: Any) -> Tensor:
        return op(x, axis, keepdims)
    return reduce


DIFFERENTIABLE: dict[str, Callable[..., Any]] = {
    "add": add,
    "subtract": sub,
    "multiply": mul,
    "divide": div,
    "negative": neg,
    "pow": pow,
    "matmul": matmul,
    "exp": exp,
    "log": log,
    "sqrt": sqrt,
    "tanh": tanh,
    "abs": abs,
    "maximum": maximum,
    "minimum": minimum,
    "where": where,
    "clip": lambda x, /, min=None, max=None: clip(x, min, max),  # noqa: A006
    "astype": lambda x, dtype, /, *, copy=True, device=None: astype(x, dtype),
    "sum": _reduction(reductions.sum),
    "mean": _reduction(reductions.mean),
    "max": _reduction(reductions.max),
    "min": _reduction(reductions.min),
    "reshape": lambda x, /, shape, *, copy=None: reshape(x, tuple(shape)),
    "permute_dims": _permute,
    "matrix_transpose": _matrix_transpose,
    "expand_dims": lambda x, /, *, axis=0: _expand_dims(x, axis),
    "squeeze": lambda x, /, axis: _squeeze(x, axis),
    "broadcast_to": _broadcast_to,
    "concat": lambda arrays, /, *, axis=0: concatenate(list(arrays), axis),
    "stack": lambda arrays, /, *, axis=0: stack(list(arrays), axis),
    "unstack": lambda x, /, *, axis=0: _unstack(x, axis),
    "take": lambda x, indices, /, *, axis=None: _take(x, indices, axis),
    "moveaxis": _moveaxis,
}
"""The standard's functions with a gradient, each the engine operation it is on tensors."""

CONSTANT = frozenset({
    "sign", "signbit", "floor", "ceil", "round", "trunc", "isfinite", "isnan", "isinf",
    "equal", "not_equal", "greater", "greater_equal", "less", "less_equal", "logical_and",
    "logical_or", "logical_not", "logical_xor", "argmax", "argmin", "argsort", "sort",
    "nonzero", "zeros", "ones", "full", "empty", "eye", "arange", "linspace", "asarray",
    "zeros_like", "ones_like", "full_like", "empty_like", "isdtype", "finfo", "iinfo",
    "result_type", "can_cast", "broadcast_shapes",
})
"""Functions whose result has no gradient: they run on the tensors' arrays."""


def _raw(x: Any) -> Any:
    if isinstance(x, Tensor):
        return x.data
    if isinstance(x, (list, tuple)):
        return type(x)(_raw(v) for v in x)
    return x


def _has_tensor(args: tuple, kwargs: dict) -> bool:
    for v in (*args, *kwargs.values()):
        if isinstance(v, Tensor) or (isinstance(v, (list, tuple)) and any(
                isinstance(e, Tensor) for e in v)):
            return True
    return False


class TensorNamespace:
    """The namespace of tensors whose arrays belong to the namespace ``arrays``."""

    lifts = True  # backend.namespace prefers it when tensors and arrays meet in one rule

    def __init__(self, arrays: Any) -> None:
        self.arrays = arrays

    def __getattr__(self, name: str) -> Any:
        arrays = self.arrays
        op = DIFFERENTIABLE.get(name)
        if op is not None:
            own = getattr(arrays, name)

            def call(*args: Any, **kwargs: Any) -> Any:
                return op(*args, **kwargs) if _has_tensor(args, kwargs) else own(*args, **kwargs)
        elif name in CONSTANT:
            own = getattr(arrays, name)

            def call(*args: Any, **kwargs: Any) -> Any:
                if name == "asarray" and isinstance(args[0], Tensor):
                    return args[0]
                return own(*(_raw(a) for a in args), **{k: _raw(v) for k, v in kwargs.items()})
        else:
            value = getattr(arrays, name, None)
            if value is None or (callable(value) and not isinstance(value, type) and \
                    name not in _DTYPES):
                raise GraphError(f"xp.{name} on chainrule tensors has no differentiable form "
                                 "(a backward rule run for a gradient of a gradient called "
                                 "it); write it with the functions in "
                                 "chainrule.engine.tensor_namespace.DIFFERENTIABLE")
            return value
        call.__name__ = name
        setattr(self, name, call)  # found once, then an attribute
        return call


_DTYPES = frozenset({"bool", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32",
                     "uint64", "float16", "float32", "float64", "complex64", "complex128"})

_SPACES: dict[int, TensorNamespace] = {}


def tensor_namespace(arrays: Any) -> TensorNamespace:
    """The tensor namespace over array namespace ``arrays`` (one per library)."""
    ns = _SPACES.get(id(arrays))
    if ns is None:
        ns = _SPACES[id(arrays)] = TensorNamespace(arrays)
    return ns


def array_namespace(self: Tensor, api_version: str | None = None) -> TensorNamespace:
    """``Tensor.__array_namespace__``: the tensor namespace over this tensor's arrays."""
    return tensor_namespace(namespace(self.data))
