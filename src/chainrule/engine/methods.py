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

from .ops import reductions
from .ops.arithmetic import add, div, mul, neg, pow, sub
from .ops.elementwise import abs, astype, clip, exp, leaky_relu, log, relu, sigmoid, sqrt, tanh
from .ops.linalg import matmul
from .ops.shapes import getitem, reshape, transpose
from .ops.softmax import log_softmax, logsumexp, softmax
from .tensor import Tensor

__all__ = ["METHODS", "REFLECTED", "bind"]

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


bind()
