"""Elementwise functions: exp, log, the activations, clip, casts, maximum/minimum and where."""

from __future__ import annotations

import numbers
from typing import Any

from ...errors import DTypeError, ShapeError
from ..backend import NUMPY, asarray_on, dtype_in, dtype_name, namespace, ndarray
from ..primitive import Primitive, node
from ..scratch import KEPT_BYTES, Scratch
from ..tensor import Tensor
from .operands import binary, broadcast_error

__all__ = ["abs", "astype", "clip", "exp", "leaky_relu", "log", "maximum", "minimum", "relu",
           "sigmoid", "sqrt", "stable_sigmoid", "tanh", "where"]


def exp(x: Tensor) -> Tensor:
    """Elementwise e**x."""
    return node(namespace(x.data).exp(x.data), (x,), EXP)


def _exp_backward(out: Tensor, g: ndarray) -> tuple:
    return (g * out.data,)


EXP = Primitive("exp", _exp_backward)


def log(x: Tensor) -> Tensor:
    """Elementwise natural logarithm."""
    return node(namespace(x.data).log(x.data), (x,), LOG)


def _log_backward(out: Tensor, g: ndarray) -> tuple:
    return (g / out._parents[0].data,)


LOG = Primitive("log", _log_backward)


def sqrt(x: Tensor) -> Tensor:
    """Elementwise square root."""
    return node(namespace(x.data).sqrt(x.data), (x,), SQRT)


def _sqrt_backward(out: Tensor, g: ndarray) -> tuple:
    return (g / (2 * out.data),)


SQRT = Primitive("sqrt", _sqrt_backward)


def abs(x: Tensor) -> Tensor:  # noqa: A001 - the function users know by this name
    """Elementwise absolute value (gradient 0 at 0, as in PyTorch)."""
    return node(namespace(x.data).abs(x.data), (x,), ABS)


def _abs_backward(out: Tensor, g: ndarray) -> tuple:
    xd = out._parents[0].data
    return (g * namespace(xd).sign(xd),)


ABS = Primitive("abs", _abs_backward)


def tanh(x: Tensor) -> Tensor:
    """Elementwise tanh; backward uses the saved output: 1 - tanh(x)**2."""
    return node(namespace(x.data).tanh(x.data), (x,), TANH)


def _tanh_backward(out: Tensor, g: ndarray) -> tuple:
    t = out.data
    return (g * (1 - t * t),)


TANH = Primitive("tanh", _tanh_backward)


def stable_sigmoid(z: ndarray) -> ndarray:
    """1 / (1 + e**-z) on an array, finite and accurate for any input (no graph)."""
    # 1 / (1 + e^-z) is accurate in both tails; only e^-z can overflow, so cap the exponent
    # where the result is already below the smallest normal number of the dtype.  float16's
    # range is too narrow for that (its cap would sit at -11): compute it in float32.
    xp = namespace(z)
    name = _NUMPY_NAMES.get(z.dtype.char) if xp is NUMPY else dtype_name(z.dtype)
    if name == "float16":
        return xp.astype(stable_sigmoid(xp.astype(z, xp.float32)), xp.float16)
    t = xp.maximum(z, _SIGMOID_FLOOR.get(name, -700.0))
    if xp is not NUMPY:
        return 1 / (1 + xp.exp(-t))
    # The same on NumPy, in place: one array instead of four (a step of the course's sigmoid
    # nets spends a tenth of its time here); tests/engine/test_devices.py checks they agree.
    if type(t) is not ndarray:  # 0-d input: NumPy returned a scalar
        t = xp.asarray(t, copy=True)
    xp.negative(t, out=t)
    xp.exp(t, out=t)
    t += 1
    return xp.reciprocal(t, out=t)


_SIGMOID_FLOOR = {"float32": -87.0, "float64": -708.0}
_NUMPY_NAMES = {"e": "float16", "f": "float32", "d": "float64"}  # dtype.char: no lookup call


def sigmoid(x: Tensor) -> Tensor:
    """Elementwise logistic function 1 / (1 + e**-x), finite for any input."""
    return node(stable_sigmoid(x.data), (x,), SIGMOID)


def _sigmoid_backward(out: Tensor, g: ndarray) -> tuple:
    s = out.data
    return (g * (s * (1 - s)),)


SIGMOID = Primitive("sigmoid", _sigmoid_backward)


def relu(x: Tensor, *, workspace: Scratch | None = None) -> Tensor:
    """Elementwise max(x, 0) (gradient 0 at 0).  ``workspace`` (a layer's, see
    :mod:`chainrule.engine.scratch`) gives a large NumPy output and its gradient their
    arrays, the same ones step after step; the numbers are the plain ones."""
    xd = x.data
    if workspace is not None and type(xd) is ndarray and xd.nbytes >= KEPT_BYTES:
        out = NUMPY.maximum(xd, 0, out=workspace.empty("out", xd.shape, xd.dtype))
        return node(out, (x,), RELU, workspace)
    return node(namespace(xd).maximum(xd, 0), (x,), RELU)


def _relu_backward(out: Tensor, g: ndarray) -> tuple:
    # A multiply by the mask, not where(): NumPy's where on an irregular mask is 10-15x
    # slower (branch mispredictions: 1199 vs 83 us on a 64x6x28x28 conv output).
    workspace = out._saved
    if workspace is not None and type(g) is ndarray and g.shape == out.data.shape:
        # the same mask (1 and 0 in g's dtype) and product, in one kept array
        grad = NUMPY.greater(out.data, 0, out=workspace.empty("grad", g.shape, g.dtype))
        return (NUMPY.multiply(g, grad, out=grad),)
    return (g * namespace(g).astype(out.data > 0, g.dtype),)


# out.saved: the layer's workspace, or None
RELU = Primitive("relu", _relu_backward, saved="constant")


def leaky_relu(x: Tensor, negative_slope: float = 0.01) -> Tensor:
    """Elementwise x for x > 0, ``negative_slope * x`` otherwise."""
    xd = x.data
    return node(namespace(xd).where(xd > 0, xd, xd * negative_slope), (x,), LEAKY_RELU,
                negative_slope, (x, negative_slope))


def _leaky_relu_backward(out: Tensor, g: ndarray) -> tuple:
    slope = out._saved  # 1 where x > 0, the slope elsewhere, by a multiply (see relu's)
    up = namespace(g).astype(out._parents[0].data > 0, g.dtype)
    return (g * (up * (1 - slope) + slope),)


LEAKY_RELU = Primitive("leaky_relu", _leaky_relu_backward, saved="constant")


def clip(x: Tensor, min: float | None = None, max: float | None = None) -> Tensor:  # noqa: A002
    """Clamp to [min, max]; the gradient passes where min <= x <= max (as in PyTorch)."""
    for what, v in (("min", min), ("max", max)):
        if v is not None and (isinstance(v, bool) or not isinstance(v, numbers.Real)):
            raise DTypeError(f"clip: {what} must be a number or None, got {v!r}")
    xd = x.data
    return node(namespace(xd).clip(xd, min, max), (x,), CLIP, (min, max), (x, min, max))


def _clip_backward(out: Tensor, g: ndarray) -> tuple:
    lo, hi = out._saved
    xd = out._parents[0].data
    xp = namespace(g)
    if lo is not None:  # multiplies by the masks (see relu's backward)
        g = g * xp.astype(xd >= lo, g.dtype)
    if hi is not None:
        g = g * xp.astype(xd <= hi, g.dtype)
    return (g,)


CLIP = Primitive("clip", _clip_backward, saved="constant")


def astype(x: Tensor, dtype: Any) -> Tensor:
    """Cast to ``dtype``; the gradient is cast back to the input's dtype."""
    xp = namespace(x.data)
    try:
        dtype = dtype_in(xp, dtype)
    except TypeError:
        raise DTypeError(f"astype: {dtype!r} is not a dtype; use e.g. 'float32' or "
                         "'float64'") from None
    if x.data.dtype == dtype:
        return x
    return node(xp.astype(x.data, dtype), (x,), ASTYPE, None, (x, dtype_name(dtype)))


def _astype_backward(out: Tensor, g: ndarray) -> tuple:
    return (namespace(g).astype(g, out._parents[0].data.dtype),)


ASTYPE = Primitive("astype", _astype_backward)


# -- two operands --------------------------------------------------------------------------------

def maximum(a: Any, b: Any) -> Tensor:
    """Elementwise maximum; at ties the gradient is split evenly (as in PyTorch)."""
    a, b = binary(a, b, "maximum")
    try:
        return node(namespace(a.data, b.data).maximum(a.data, b.data), (a, b), MAXIMUM)
    except ValueError:
        raise broadcast_error("maximum", a, b) from None


def minimum(a: Any, b: Any) -> Tensor:
    """Elementwise minimum; at ties the gradient is split evenly (as in PyTorch)."""
    a, b = binary(a, b, "minimum")
    try:
        return node(namespace(a.data, b.data).minimum(a.data, b.data), (a, b), MINIMUM)
    except ValueError:
        raise broadcast_error("minimum", a, b) from None


def _extremum_backward(out: Tensor, g: ndarray) -> tuple:
    a, b = out._parents
    xp = namespace(g)
    wa = xp.astype(a.data == out.data, g.dtype)
    wb = xp.astype(b.data == out.data, g.dtype)
    total = wa + wb  # 2 at ties, 1 elsewhere
    return g * wa / total, g * wb / total


MAXIMUM = Primitive("maximum", _extremum_backward)
MINIMUM = Primitive("minimum", _extremum_backward)


def where(condition: Any, a: Any, b: Any) -> Tensor:
    """Pick from ``a`` where ``condition`` holds and from ``b`` elsewhere (with broadcasting)."""
    a, b = binary(a, b, "where")
    xp = namespace(a.data, b.data)
    raw = condition.data if isinstance(condition, Tensor) else condition
    cond = asarray_on(xp, raw, xp.bool)
    try:
        out = xp.where(cond, a.data, b.data)
    except ValueError:
        raise ShapeError(f"where: the condition of shape {cond.shape} and operands of shapes "
                         f"{a.shape} and {b.shape} cannot be broadcast together; each "
                         "dimension must be equal or 1 (reshape one operand)") from None
    return node(out, (a, b), WHERE, cond)


def _where_backward(out: Tensor, g: ndarray) -> tuple:
    cond = out._saved
    xp = namespace(g)
    zero = xp.zeros((), dtype=g.dtype)
    return xp.where(cond, g, zero), xp.where(cond, zero, g)


WHERE = Primitive("where", _where_backward, "where(condition, {0}, {1})", saved="constant")
