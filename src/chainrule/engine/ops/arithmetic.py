"""The arithmetic operators: ``+ - * / **`` and negation, with broadcasting.

Each binary op has a fast path for a Python scalar operand: one parent, no extra tensor; the
constant is kept as a display operand so explanations still show it (``1 - w``).
"""

from __future__ import annotations

from typing import Any

from ..backend import errstate, namespace, ndarray
from ..primitive import Primitive, node
from ..tensor import Tensor
from .operands import binary, broadcast_error, scalar

__all__ = ["add", "div", "mul", "neg", "pow", "sub"]


def add(a: Any, b: Any) -> Tensor:
    """Elementwise ``a + b`` with broadcasting."""
    if isinstance(a, Tensor):
        if isinstance(b, Tensor):
            if a.data.dtype is b.data.dtype:
                try:
                    return node(a.data + b.data, (a, b), ADD)
                except (ValueError, TypeError):
                    raise broadcast_error("add", a, b) from None
        elif (s := scalar(b)) is not None:
            return node(a.data + s, (a,), ADD_SCALAR, None, (a, s))
    elif isinstance(b, Tensor) and (s := scalar(a)) is not None:
        return node(s + b.data, (b,), ADD_SCALAR, None, (s, b))
    a, b = binary(a, b, "add")
    try:
        return node(a.data + b.data, (a, b), ADD)
    except (ValueError, TypeError):
        raise broadcast_error("add", a, b) from None


def _add_backward(out: Tensor, g: ndarray) -> tuple:
    return g, g


def _pass_backward(out: Tensor, g: ndarray) -> tuple:
    return (g,)


ADD = Primitive("add", _add_backward, "{0} + {1}")
ADD_SCALAR = Primitive("add", _pass_backward, "{0} + {1}")


def sub(a: Any, b: Any) -> Tensor:
    """Elementwise ``a - b`` with broadcasting."""
    if isinstance(a, Tensor):
        if isinstance(b, Tensor):
            if a.data.dtype is b.data.dtype:
                try:
                    return node(a.data - b.data, (a, b), SUB)
                except (ValueError, TypeError):
                    raise broadcast_error("sub", a, b) from None
        elif (s := scalar(b)) is not None:
            return node(a.data - s, (a,), SUB_SCALAR, None, (a, s))
    elif isinstance(b, Tensor) and (s := scalar(a)) is not None:
        return node(s - b.data, (b,), RSUB_SCALAR, None, (s, b))
    a, b = binary(a, b, "sub")
    try:
        return node(a.data - b.data, (a, b), SUB)
    except (ValueError, TypeError):
        raise broadcast_error("sub", a, b) from None


def _sub_backward(out: Tensor, g: ndarray) -> tuple:
    return g, -g


SUB = Primitive("sub", _sub_backward, "{0} - {1}")
SUB_SCALAR = Primitive("sub", _pass_backward, "{0} - {1}")  # tensor - number


def neg(a: Tensor) -> Tensor:
    """``-a``."""
    return node(-a.data, (a,), NEG)


def _neg_backward(out: Tensor, g: ndarray) -> tuple:
    return (-g,)


NEG = Primitive("neg", _neg_backward, "-{0}")
RSUB_SCALAR = Primitive("sub", _neg_backward, "{0} - {1}")  # number - tensor


def mul(a: Any, b: Any) -> Tensor:
    """Elementwise ``a * b`` with broadcasting."""
    if isinstance(a, Tensor):
        if isinstance(b, Tensor):
            if a.data.dtype is b.data.dtype:
                try:
                    return node(a.data * b.data, (a, b), MUL)
                except (ValueError, TypeError):
                    raise broadcast_error("mul", a, b) from None
        elif (s := scalar(b)) is not None:
            return node(a.data * s, (a,), MUL_SCALAR, s, (a, s))
    elif isinstance(b, Tensor) and (s := scalar(a)) is not None:
        return node(s * b.data, (b,), MUL_SCALAR, s, (s, b))
    a, b = binary(a, b, "mul")
    try:
        return node(a.data * b.data, (a, b), MUL)
    except (ValueError, TypeError):
        raise broadcast_error("mul", a, b) from None


def _mul_backward(out: Tensor, g: ndarray) -> tuple:
    a, b = out._parents
    return (g * b.data if a.requires_grad else None,
            g * a.data if b.requires_grad else None)


def _scale_backward(out: Tensor, g: ndarray) -> tuple:
    return (g * out._saved,)


MUL = Primitive("mul", _mul_backward, "{0} * {1}")
MUL_SCALAR = Primitive("mul", _scale_backward, "{0} * {1}", saved="constant")


def div(a: Any, b: Any) -> Tensor:
    """Elementwise ``a / b`` with broadcasting; dividing by 0 gives inf as in NumPy."""
    if isinstance(a, Tensor):
        if isinstance(b, Tensor):
            if a.data.dtype is b.data.dtype:
                try:
                    return node(a.data / b.data, (a, b), DIV)
                except (ValueError, TypeError):
                    raise broadcast_error("div", a, b) from None
        elif (s := scalar(b)) is not None:
            if s == 0:
                with errstate(namespace(a.data), divide="ignore", invalid="ignore"):
                    return node(a.data / s, (a,), DIV_SCALAR, s, (a, s))
            return node(a.data / s, (a,), DIV_SCALAR, s, (a, s))
    a, b = binary(a, b, "div")
    try:
        return node(a.data / b.data, (a, b), DIV)
    except (ValueError, TypeError):
        raise broadcast_error("div", a, b) from None


def _div_backward(out: Tensor, g: ndarray) -> tuple:
    a, b = out._parents
    gb = g / b.data
    return (gb if a.requires_grad else None,
            -gb * out.data if b.requires_grad else None)


def _div_scalar_backward(out: Tensor, g: ndarray) -> tuple:
    s = out._saved
    if s == 0:  # x / 0 is +-inf (or NaN at 0) with gradient +-inf, as in NumPy and PyTorch
        with errstate(namespace(g), divide="ignore", invalid="ignore"):
            return (g / s,)
    return (g * (1.0 / s),)


DIV = Primitive("div", _div_backward, "{0} / {1}")
DIV_SCALAR = Primitive("div", _div_scalar_backward, "{0} / {1}", saved="constant")


def pow(a: Any, b: Any) -> Tensor:  # noqa: A001 - mirrors the ** operator
    """Elementwise ``a ** b``; the exponent may be a number or a tensor."""
    if isinstance(a, Tensor) and not isinstance(b, Tensor) and (s := scalar(b)) is not None:
        if s < 0:
            with errstate(namespace(a.data), divide="ignore"):  # 0 ** -1 is inf, as NumPy says
                return node(a.data ** s, (a,), POW_SCALAR, s, (a, s))
        return node(a.data ** s, (a,), POW_SCALAR, s, (a, s))
    a, b = binary(a, b, "pow")
    try:
        with errstate(namespace(a.data, b.data), divide="ignore"):
            return node(a.data ** b.data, (a, b), POW)
    except (ValueError, TypeError):
        raise broadcast_error("pow", a, b) from None


def _pow_backward(out: Tensor, g: ndarray) -> tuple:
    a, b = out._parents
    ga = gb = None
    xp = namespace(g, a.data, b.data)
    if a.requires_grad:
        with errstate(xp, divide="ignore", invalid="ignore"):
            ga = g * xp.where(b.data == 0, 0, b.data * a.data ** (b.data - 1))
    if b.requires_grad:
        with errstate(xp, divide="ignore", invalid="ignore"):
            # d(a^b)/db = a^b log a.  PyTorch's rule at a = 0: 0 where b >= 0 (the limit),
            # and the plain product (inf * -inf = -inf) where b < 0; negative a gives NaN.
            gb = g * xp.where((a.data == 0) & (b.data >= 0), 0, out.data * xp.log(a.data))
    return ga, gb


def _pow_scalar_backward(out: Tensor, g: ndarray) -> tuple:
    p = out._saved
    x = out._parents[0].data
    if p == 2:
        return (g * (2 * x),)
    if p == 0:  # d(x^0)/dx = 0 everywhere, x = 0 included (PyTorch, autograd, tinygrad)
        return (namespace(g).zeros_like(g),)
    return (g * (p * x ** (p - 1)),)


POW = Primitive("pow", _pow_backward, "{0} ** {1}")
POW_SCALAR = Primitive("pow", _pow_scalar_backward, "{0} ** {1}", saved="constant")
