"""Tensor's arithmetic surface: which primitive each operator and method of a tensor is.

:mod:`chainrule.engine.tensor` knows no operation, so that the operations can build on it
without an import circle.  This table binds them onto :class:`~chainrule.engine.Tensor` once,
when :mod:`chainrule.engine` is imported (autograd's ``numpy_boxes.py`` and JAX's
``array_methods.py`` dress their array types the same way).  A method *is* its primitive,
not a wrapper around it, so ``a * b`` costs one Python call, and ``help(Tensor.exp)`` shows the
primitive's docstring.  A reflected operator (``2 - w``) swaps its operands first.

>>> import chainrule as cr
>>> cr.Tensor.exp is cr.engine.ops.exp
True
>>> (2.0 - cr.tensor([1.0, 5.0])).data.tolist()
[1.0, -3.0]
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from ..errors import GraphError
from .backend import host as np  # NumPy's own functions: what users call on tensors
from .ops import reductions
from .ops.arithmetic import add, div, mul, neg, pow, sub
from .ops.elementwise import (
    abs,
    astype,
    clip,
    exp,
    leaky_relu,
    log,
    maximum,
    minimum,
    relu,
    sigmoid,
    sqrt,
    tanh,
    where,
)
from .ops.linalg import matmul
from .ops.shapes import concatenate, getitem, reshape, stack, transpose
from .ops.softmax import log_softmax, logsumexp, softmax
from .ops.transfer import cpu, cuda, to
from .tensor import Tensor
from .tensor_namespace import array_namespace

__all__ = ["CONSTANT_UFUNCS", "METHODS", "NUMPY_FUNCTIONS", "NUMPY_UFUNCS", "REFLECTED", "bind"]

# name on the tensor -> the primitive it is; the tensor is the first argument.
METHODS: dict[str, Callable[..., Tensor]] = {
    "__add__": add,
    "__sub__": sub,
    "__mul__": mul,
    "__truediv__": div,
    "__pow__": pow,
    "__matmul__": matmul,
    "__neg__": neg,
    "__abs__": abs,
    "__getitem__": getitem,
    "exp": exp,
    "log": log,
    "sqrt": sqrt,
    "abs": abs,
    "tanh": tanh,
    "sigmoid": sigmoid,
    "relu": relu,
    "leaky_relu": leaky_relu,
    "softmax": softmax,
    "log_softmax": log_softmax,
    "logsumexp": logsumexp,
    "clip": clip,
    "astype": astype,
    "reshape": reshape,
    "transpose": transpose,
    "sum": reductions.sum,
    "mean": reductions.mean,
    "max": reductions.max,
    "min": reductions.min,
    "to": to,
    "cpu": cpu,
    "cuda": cuda,
}

# reflected operator -> the primitive it is, called with the operands swapped (``other - self``)
REFLECTED: dict[str, Callable[[Any, Any], Tensor]] = {
    "__radd__": add,
    "__rsub__": sub,
    "__rmul__": mul,
    "__rtruediv__": div,
    "__rpow__": pow,
    "__rmatmul__": matmul,
}


# NumPy called on tensors (NEP 13 and 18).  This is what lets one backward rule, written with
# NumPy for arrays, run again on tensors and record its own graph (a gradient of a gradient,
# see chainrule.engine.higher): ``np.exp(t)`` is ``t.exp()``.  A NumPy function outside these
# tables raises a GraphError rather than silently dropping the graph.
NUMPY_UFUNCS: dict[Any, Callable[..., Tensor]] = {
    np.add: add,
    np.subtract: sub,
    np.multiply: mul,
    np.true_divide: div,
    np.negative: neg,
    np.power: pow,
    np.matmul: matmul,
    np.exp: exp,
    np.log: log,
    np.sqrt: sqrt,
    np.tanh: tanh,
    np.absolute: abs,
    np.maximum: maximum,
    np.minimum: minimum,
}

# Ufuncs whose result has no gradient (signs, comparisons, tests): computed on the arrays, the
# result a plain array, as the tensor's own comparison operators give.
CONSTANT_UFUNCS = frozenset({
    np.sign, np.greater, np.greater_equal, np.less, np.less_equal, np.equal, np.not_equal,
    np.isfinite, np.isnan, np.isinf, np.logical_and, np.logical_or, np.logical_not,
    np.floor, np.ceil, np.signbit,
})


def _raw(x: Any) -> Any:
    return x.data if isinstance(x, Tensor) else x


def _expand_dims(a: Tensor, axis: Any) -> Tensor:
    return reshape(a, np.expand_dims(np.empty(a.shape), axis).shape)


def _broadcast_to(a: Tensor, shape: Any) -> Tensor:
    # adding zeros broadcasts, and its backward sums the copies back (the adjoint)
    return add(a, a.__array_namespace__().zeros(tuple(shape), dtype=a.data.dtype))


def _swapaxes(a: Tensor, axis1: int, axis2: int) -> Tensor:
    perm = list(range(a.ndim))
    perm[axis1], perm[axis2] = perm[axis2], perm[axis1]
    return transpose(a, perm)


def _moveaxis(a: Tensor, source: Any, destination: Any) -> Tensor:
    # NumPy's own construction: the other axes keep their order, the moved ones are inserted
    n = a.ndim
    src = [int(s) % n for s in (source if isinstance(source, (tuple, list)) else (source,))]
    dst = [int(d) % n for d in (destination if isinstance(destination, (tuple, list))
                                else (destination,))]
    order = [k for k in range(n) if k not in src]
    for d, s in sorted(zip(dst, src)):
        order.insert(d, s)
    return transpose(a, order)


def _no_graph_form(what: str) -> GraphError:
    return GraphError(f"{what} on a chainrule Tensor has no differentiable form; use the "
                      "tensor's operations, or call it on t.data (not differentiated)")


def _sum(a: Tensor, axis: Any = None, dtype: Any = None, out: Any = None,
         keepdims: bool = False) -> Tensor:
    if out is not None:  # writing into an array would drop the graph silently
        raise _no_graph_form("numpy.sum(..., out=)")
    return reductions.sum(a, axis, keepdims)


def _mean(a: Tensor, axis: Any = None, dtype: Any = None, out: Any = None,
          keepdims: bool = False) -> Tensor:
    if out is not None:
        raise _no_graph_form("numpy.mean(..., out=)")
    return reductions.mean(a, axis, keepdims)


def _reshape(a: Tensor, shape: Any = None, order: str = "C", **kwargs: Any) -> Tensor:
    if order != "C":  # the reshape primitive (and its backward) read C order only
        raise _no_graph_form(f"numpy.reshape(..., order={order!r})")
    return reshape(a, kwargs.get("newshape", shape))


def _like(make: Callable[..., Any]) -> Callable[..., Any]:
    return lambda a, *args, **kwargs: make(_raw(a), *args, **kwargs)


NUMPY_FUNCTIONS: dict[Any, Callable[..., Any]] = {
    np.where: lambda condition, a, b: where(condition, a, b),
    np.sum: _sum,
    np.mean: _mean,
    np.reshape: _reshape,
    np.transpose: lambda a, axes=None: transpose(a) if axes is None else transpose(
        a, tuple(int(i) for i in axes)),
    np.expand_dims: _expand_dims,
    np.broadcast_to: _broadcast_to,
    np.swapaxes: _swapaxes,
    np.moveaxis: _moveaxis,
    np.concatenate: lambda arrays, axis=0: concatenate(list(arrays), axis),
    np.stack: lambda arrays, axis=0: stack(list(arrays), axis),
    np.zeros_like: _like(np.zeros_like),
    np.ones_like: _like(np.ones_like),
    np.empty_like: _like(np.empty_like),
    np.full_like: _like(np.full_like),
    np.shape: lambda a: a.shape,
    np.ndim: lambda a: a.ndim,
}


def _array_ufunc(self: Tensor, ufunc: Any, method: str, *inputs: Any, **kwargs: Any) -> Any:
    if method != "__call__" or kwargs.get("out") is not None:
        return NotImplemented  # in-place and ufunc methods (np.add.at) have no graph form
    if ufunc in CONSTANT_UFUNCS:
        return ufunc(*(_raw(x) for x in inputs), **kwargs)
    op = NUMPY_UFUNCS.get(ufunc)
    if op is None or kwargs:
        raise GraphError(f"numpy.{ufunc.__name__} on a chainrule Tensor has no differentiable "
                         "form; use the tensor's operations, or call it on t.data (not "
                         "differentiated)")
    return op(*inputs)


def _array_function(self: Tensor, func: Any, types: Any, args: tuple, kwargs: dict) -> Any:
    impl = NUMPY_FUNCTIONS.get(func)
    if impl is None:
        raise GraphError(f"numpy.{func.__name__} on a chainrule Tensor has no differentiable "
                         "form; use the tensor's operations, or call it on t.data (not "
                         "differentiated)")
    return impl(*args, **kwargs)


def _swapped(name: str, op: Callable[[Any, Any], Tensor]) -> Callable[[Tensor, Any], Tensor]:
    def method(self: Tensor, other: Any) -> Tensor:
        return op(other, self)

    method.__name__ = name
    method.__qualname__ = f"Tensor.{name}"
    method.__doc__ = f"{op.__doc__}\n\nThe operands swapped: ``{op.__name__}(other, self)``."
    return method


def _iter(self: Tensor) -> Iterator[Tensor]:
    """The tensor's rows (its slices along axis 0), each a differentiable view."""
    return (getitem(self, i) for i in range(len(self)))


def _reversed_axes(self: Tensor) -> Tensor:
    """The tensor with its axes reversed."""
    return transpose(self)


def bind(cls: type = Tensor) -> None:
    """Put every operator and method of the tables onto ``cls`` (done once, on import)."""
    for name, op in METHODS.items():
        setattr(cls, name, op)
    for name, op in REFLECTED.items():
        setattr(cls, name, _swapped(name, op))
    cls.__iter__ = _iter
    cls.T = property(_reversed_axes)  # NumPy's and PyTorch's name
    cls.__array_ufunc__ = _array_ufunc
    cls.__array_function__ = _array_function
    cls.__array_namespace__ = array_namespace  # the array API standard's way in


bind()
