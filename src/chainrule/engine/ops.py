"""The differentiable primitives, each forward beside its backward.

Every primitive computes its output array, then records a node with its parents, its
:class:`~chainrule.engine.Primitive` (name, backward, display template) and what that backward
needs.  A backward function has the signature ``backward(out, grad) -> tuple`` (one entry per
parent, ``None`` for "no gradient needed"): ``out`` is the output tensor, so ``out.data`` is the
forward result (sigmoid and tanh take their derivative from it) and ``out.saved`` holds the
rest.  Gradients come back shaped like the output; the engine sums away broadcasting
(``tensor._unbroadcast``).  Each primitive reads: forward, backward, then the name it is shown
by.

Python scalars combine with tensors of any float dtype without changing it (NumPy's NEP 50
rules).  Arrays and tensors of a *different* float dtype raise :class:`DTypeError` naming the
operation: chainrule never widens or narrows a tensor behind your back.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..errors import DTypeError, ShapeError
from .backend import ndarray, xp
from .primitive import Primitive
from .primitive import node as _node
from .tensor import Tensor, _sum_rows

__all__ = [
    "abs",
    "add",
    "astype",
    "clip",
    "concatenate",
    "div",
    "exp",
    "leaky_relu",
    "linear",
    "log",
    "log_softmax",
    "logsumexp",
    "matmul",
    "maximum",
    "minimum",
    "mul",
    "neg",
    "pow",
    "relu",
    "reshape",
    "sigmoid",
    "softmax",
    "sqrt",
    "stable_sigmoid",
    "stack",
    "sub",
    "tanh",
    "transpose",
    "where",
]

Axis = int | tuple[int, ...] | None


def _as_tensor(x: Any) -> Tensor:
    return x if isinstance(x, Tensor) else Tensor(x)


def _scalar(x: Any) -> Any:
    """Python scalars pass through; NumPy scalars become Python ones (they would upcast)."""
    t = type(x)
    if t is float or t is int:
        return x
    if isinstance(x, (bool, int, xp.integer, xp.bool_)):
        return int(x)
    if isinstance(x, (float, xp.floating)):
        return float(x)
    return None


def _match(a: ndarray, b: ndarray, op: str) -> tuple[ndarray, ndarray]:
    """Bring two arrays to one dtype without silently changing a floating-point precision."""
    da, db = a.dtype, b.dtype
    if da is db or da == db:
        return a, b
    fa, fb = da.kind == "f", db.kind == "f"
    if fa and fb:
        raise DTypeError(
            f"{op}: cannot combine {da} and {db} operands; convert one explicitly, "
            f"e.g. x.astype('{da}'), so the precision you get is the one you chose"
        )
    if fa:
        return a, b.astype(da)
    if fb:
        return a.astype(db), b
    return a, b


def _binary(a: Any, b: Any, op: str) -> tuple[Tensor, Tensor]:
    """Both operands as tensors of one dtype; a number takes the dtype of the other operand."""
    if not isinstance(a, Tensor):
        a = _like(a, b)
    if not isinstance(b, Tensor):
        b = _like(b, a)
    ad, bd = _match(a.data, b.data, op)
    if ad is not a.data:
        a = Tensor(ad)
    if bd is not b.data:
        b = Tensor(bd)
    return a, b


def _like(x: Any, ref: Any) -> Tensor:
    s = _scalar(x)
    if s is not None and isinstance(ref, Tensor) and ref.data.dtype.kind == "f":
        return Tensor(xp.asarray(s, dtype=ref.data.dtype))
    if isinstance(x, (str, bytes)):
        raise DTypeError(f"cannot compute with the text {x!r:.40} as a number; convert it "
                         "first, e.g. float(value)")
    return Tensor(x)


# -- arithmetic -------------------------------------------------------------------------------
# Each binary op has a fast path for a Python scalar operand: one parent, no extra tensor; the
# constant is kept as a display operand so explanations still show it (``1 - w``).

def _broadcast_error(op: str, a: Tensor, b: Tensor) -> ShapeError:
    return ShapeError(f"{op}: shapes {a.shape} and {b.shape} cannot be broadcast together; "
                      "each dimension must be equal or 1 (reshape one operand)")


def _pass_backward(out: Tensor, g: ndarray) -> tuple:
    return (g,)


def _add_backward(out: Tensor, g: ndarray) -> tuple:
    return g, g


ADD = Primitive("add", _add_backward, "{0} + {1}")
ADD_SCALAR = Primitive("add", _pass_backward, "{0} + {1}")


def add(a: Any, b: Any) -> Tensor:
    """Elementwise ``a + b`` with broadcasting."""
    if isinstance(a, Tensor):
        if isinstance(b, Tensor):
            if a.data.dtype is b.data.dtype:
                try:
                    return _node(a.data + b.data, (a, b), ADD)
                except ValueError:
                    raise _broadcast_error("add", a, b) from None
        elif (s := _scalar(b)) is not None:
            return _node(a.data + s, (a,), ADD_SCALAR, None, (a, s))
    elif isinstance(b, Tensor) and (s := _scalar(a)) is not None:
        return _node(s + b.data, (b,), ADD_SCALAR, None, (s, b))
    a, b = _binary(a, b, "add")
    try:
        return _node(a.data + b.data, (a, b), ADD)
    except ValueError:
        raise _broadcast_error("add", a, b) from None


def _sub_backward(out: Tensor, g: ndarray) -> tuple:
    return g, -g


def _neg_backward(out: Tensor, g: ndarray) -> tuple:
    return (-g,)


SUB = Primitive("sub", _sub_backward, "{0} - {1}")
SUB_SCALAR = Primitive("sub", _pass_backward, "{0} - {1}")  # tensor - number
RSUB_SCALAR = Primitive("sub", _neg_backward, "{0} - {1}")  # number - tensor
NEG = Primitive("neg", _neg_backward, "-{0}")


def sub(a: Any, b: Any) -> Tensor:
    """Elementwise ``a - b`` with broadcasting."""
    if isinstance(a, Tensor):
        if isinstance(b, Tensor):
            if a.data.dtype is b.data.dtype:
                try:
                    return _node(a.data - b.data, (a, b), SUB)
                except ValueError:
                    raise _broadcast_error("sub", a, b) from None
        elif (s := _scalar(b)) is not None:
            return _node(a.data - s, (a,), SUB_SCALAR, None, (a, s))
    elif isinstance(b, Tensor) and (s := _scalar(a)) is not None:
        return _node(s - b.data, (b,), RSUB_SCALAR, None, (s, b))
    a, b = _binary(a, b, "sub")
    try:
        return _node(a.data - b.data, (a, b), SUB)
    except ValueError:
        raise _broadcast_error("sub", a, b) from None


def neg(a: Tensor) -> Tensor:
    """``-a``."""
    return _node(-a.data, (a,), NEG)


def _mul_backward(out: Tensor, g: ndarray) -> tuple:
    a, b = out._parents
    return (g * b.data if a.requires_grad else None,
            g * a.data if b.requires_grad else None)


def _scale_backward(out: Tensor, g: ndarray) -> tuple:
    return (g * out._saved,)


MUL = Primitive("mul", _mul_backward, "{0} * {1}")
MUL_SCALAR = Primitive("mul", _scale_backward, "{0} * {1}")


def mul(a: Any, b: Any) -> Tensor:
    """Elementwise ``a * b`` with broadcasting."""
    if isinstance(a, Tensor):
        if isinstance(b, Tensor):
            if a.data.dtype is b.data.dtype:
                try:
                    return _node(a.data * b.data, (a, b), MUL)
                except ValueError:
                    raise _broadcast_error("mul", a, b) from None
        elif (s := _scalar(b)) is not None:
            return _node(a.data * s, (a,), MUL_SCALAR, s, (a, s))
    elif isinstance(b, Tensor) and (s := _scalar(a)) is not None:
        return _node(s * b.data, (b,), MUL_SCALAR, s, (s, b))
    a, b = _binary(a, b, "mul")
    try:
        return _node(a.data * b.data, (a, b), MUL)
    except ValueError:
        raise _broadcast_error("mul", a, b) from None


def _div_backward(out: Tensor, g: ndarray) -> tuple:
    a, b = out._parents
    gb = g / b.data
    return (gb if a.requires_grad else None,
            -gb * out.data if b.requires_grad else None)


def _div_scalar_backward(out: Tensor, g: ndarray) -> tuple:
    s = out._saved
    if s == 0:  # x / 0 is +-inf (or NaN at 0) with gradient +-inf, as in NumPy and PyTorch
        with xp.errstate(divide="ignore", invalid="ignore"):
            return (g / s,)
    return (g * (1.0 / s),)


DIV = Primitive("div", _div_backward, "{0} / {1}")
DIV_SCALAR = Primitive("div", _div_scalar_backward, "{0} / {1}")


def div(a: Any, b: Any) -> Tensor:
    """Elementwise ``a / b`` with broadcasting; dividing by 0 gives inf as in NumPy."""
    if isinstance(a, Tensor):
        if isinstance(b, Tensor):
            if a.data.dtype is b.data.dtype:
                try:
                    return _node(a.data / b.data, (a, b), DIV)
                except ValueError:
                    raise _broadcast_error("div", a, b) from None
        elif (s := _scalar(b)) is not None:
            if s == 0:
                with xp.errstate(divide="ignore", invalid="ignore"):
                    return _node(a.data / s, (a,), DIV_SCALAR, s, (a, s))
            return _node(a.data / s, (a,), DIV_SCALAR, s, (a, s))
    a, b = _binary(a, b, "div")
    try:
        return _node(a.data / b.data, (a, b), DIV)
    except ValueError:
        raise _broadcast_error("div", a, b) from None


def _pow_scalar_backward(out: Tensor, g: ndarray) -> tuple:
    p = out._saved
    x = out._parents[0].data
    if p == 2:
        return (g * (2 * x),)
    if p == 0:  # d(x^0)/dx = 0 everywhere, x = 0 included (PyTorch, autograd, tinygrad)
        return (xp.zeros_like(g),)
    return (g * (p * x ** (p - 1)),)


def _pow_backward(out: Tensor, g: ndarray) -> tuple:
    a, b = out._parents
    ga = gb = None
    if a.requires_grad:
        with xp.errstate(divide="ignore", invalid="ignore"):
            ga = g * xp.where(b.data == 0, 0, b.data * a.data ** (b.data - 1))
    if b.requires_grad:
        with xp.errstate(divide="ignore", invalid="ignore"):
            # d(a^b)/db = a^b log a.  PyTorch's rule at a = 0: 0 where b >= 0 (the limit),
            # and the plain product (inf * -inf = -inf) where b < 0; negative a gives NaN.
            gb = g * xp.where((a.data == 0) & (b.data >= 0), 0, out.data * xp.log(a.data))
    return ga, gb


POW = Primitive("pow", _pow_backward, "{0} ** {1}")
POW_SCALAR = Primitive("pow", _pow_scalar_backward, "{0} ** {1}")


def pow(a: Any, b: Any) -> Tensor:  # noqa: A001 - mirrors the ** operator
    """Elementwise ``a ** b``; the exponent may be a number or a tensor."""
    if isinstance(a, Tensor) and not isinstance(b, Tensor) and (s := _scalar(b)) is not None:
        if s < 0:
            with xp.errstate(divide="ignore"):  # 0 ** -1 is inf, as NumPy and PyTorch say
                return _node(a.data ** s, (a,), POW_SCALAR, s, (a, s))
        return _node(a.data ** s, (a,), POW_SCALAR, s, (a, s))
    a, b = _binary(a, b, "pow")
    try:
        with xp.errstate(divide="ignore"):
            return _node(a.data ** b.data, (a, b), POW)
    except ValueError:
        raise _broadcast_error("pow", a, b) from None


def _matmul_backward(out: Tensor, g: ndarray) -> tuple:
    a, b = out._parents
    ad, bd = a.data, b.data
    if ad.ndim == 1 and bd.ndim == 1:  # inner product: a scalar output
        return g * bd, g * ad
    # Treat 1-D operands as a row (left) or a column (right), as NumPy does, then drop the axis.
    if ad.ndim == 1:
        ad = ad[None, :]
        g = xp.expand_dims(g, -2)
    if bd.ndim == 1:
        bd = bd[:, None]
        g = xp.expand_dims(g, -1)
    ga = gb = None
    if a.requires_grad:
        ga = g @ xp.swapaxes(bd, -1, -2)
        if a.ndim == 1:
            ga = ga[..., 0, :]
    if b.requires_grad:
        gb = xp.swapaxes(ad, -1, -2) @ g
        if b.ndim == 1:
            gb = gb[..., :, 0]
    return ga, gb


MATMUL = Primitive("matmul", _matmul_backward, "{0} @ {1}")


def matmul(a: Any, b: Any) -> Tensor:
    """Matrix product with NumPy's rules: 1-D, 2-D and batched (broadcast) operands."""
    a, b = _binary(a, b, "matmul")
    if a.ndim == 0 or b.ndim == 0:
        raise ShapeError("matmul: operands must have at least one dimension; use * for scalars")
    ka = a.shape[-1]
    kb = b.shape[-2] if b.ndim > 1 else b.shape[0]
    if ka != kb:
        raise ShapeError(f"matmul: shapes {a.shape} and {b.shape} do not align ({ka} != {kb})")
    try:
        return _node(a.data @ b.data, (a, b), MATMUL)
    except ValueError:
        raise _broadcast_error("matmul (batch dimensions)", a, b) from None


def _linear_backward(out: Tensor, g: ndarray) -> tuple:
    x, w = out._parents[0], out._parents[1]
    g2 = g.reshape(-1, g.shape[-1]) if g.ndim != 2 else g
    gx = g @ w.data if x.requires_grad else None
    gw = None
    if w.requires_grad:
        xd = x.data
        gw = g2.T @ (xd.reshape(-1, xd.shape[-1]) if xd.ndim != 2 else xd)
    if len(out._parents) == 2:
        return gx, gw
    return gx, gw, _sum_rows(g2) if out._parents[2].requires_grad else None


LINEAR = Primitive("linear", _linear_backward,
                   lambda a: f"{a[0]} @ {a[1]}.T" + (f" + {a[2]}" if len(a) > 2 else ""))


def linear(x: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    """``x @ weight.T + bias`` as one node: one matmul forward, at most three backward.

    ``weight`` has shape (out_features, in_features): W[l] of shape (n[l], n[l-1]) in the
    course's notation.
    """
    if x.data.dtype is not weight.data.dtype:
        x, weight = _binary(x, weight, "linear")
    xd, wd = x.data, weight.data
    if xd.ndim == 0 or xd.shape[-1] != wd.shape[1]:
        raise ShapeError(
            f"linear: expected inputs with {wd.shape[1]} features in the last dimension "
            f"(weight shape {wd.shape}), got input shape {xd.shape}"
        )
    out = xd @ wd.T
    if bias is None:
        return _node(out, (x, weight), LINEAR)
    out += bias.data
    return _node(out, (x, weight, bias), LINEAR)


# -- elementwise functions --------------------------------------------------------------------

def exp(x: Tensor) -> Tensor:
    """Elementwise e**x."""
    return _node(xp.exp(x.data), (x,), EXP)


def _exp_backward(out: Tensor, g: ndarray) -> tuple:
    return (g * out.data,)


EXP = Primitive("exp", _exp_backward)


def log(x: Tensor) -> Tensor:
    """Elementwise natural logarithm."""
    return _node(xp.log(x.data), (x,), LOG)


def _log_backward(out: Tensor, g: ndarray) -> tuple:
    return (g / out._parents[0].data,)


LOG = Primitive("log", _log_backward)


def sqrt(x: Tensor) -> Tensor:
    """Elementwise square root."""
    return _node(xp.sqrt(x.data), (x,), SQRT)


def _sqrt_backward(out: Tensor, g: ndarray) -> tuple:
    return (g / (2 * out.data),)


SQRT = Primitive("sqrt", _sqrt_backward)


def abs(x: Tensor) -> Tensor:  # noqa: A001 - the function users know by this name
    """Elementwise absolute value (gradient 0 at 0, as in PyTorch)."""
    return _node(xp.abs(x.data), (x,), ABS)


def _abs_backward(out: Tensor, g: ndarray) -> tuple:
    return (g * xp.sign(out._parents[0].data),)


ABS = Primitive("abs", _abs_backward)


def tanh(x: Tensor) -> Tensor:
    """Elementwise tanh; backward uses the saved output: 1 - tanh(x)**2."""
    return _node(xp.tanh(x.data), (x,), TANH)


def _tanh_backward(out: Tensor, g: ndarray) -> tuple:
    t = out.data
    return (g * (1 - t * t),)


TANH = Primitive("tanh", _tanh_backward)


def stable_sigmoid(z: ndarray) -> ndarray:
    """1 / (1 + e**-z) on an array, finite and accurate for any input (no graph)."""
    # 1 / (1 + e^-z) is accurate in both tails; only e^-z can overflow, so cap the exponent
    # where the result is already below the smallest normal number of the dtype.  float16's
    # range is too narrow for that (its cap would sit at -11): compute it in float32.
    if z.dtype.char == "e":
        return stable_sigmoid(z.astype(xp.float32)).astype(xp.float16)
    t = xp.maximum(z, _SIGMOID_FLOOR.get(z.dtype.char, -700.0))
    if type(t) is not ndarray:  # 0-d input: NumPy returned a scalar
        t = xp.array(t)
    xp.negative(t, out=t)
    xp.exp(t, out=t)
    t += 1
    return xp.reciprocal(t, out=t)


_SIGMOID_FLOOR = {"f": -87.0, "d": -708.0}


def sigmoid(x: Tensor) -> Tensor:
    """Elementwise logistic function 1 / (1 + e**-x), finite for any input."""
    return _node(stable_sigmoid(x.data), (x,), SIGMOID)


def _sigmoid_backward(out: Tensor, g: ndarray) -> tuple:
    s = out.data
    return (g * (s * (1 - s)),)


SIGMOID = Primitive("sigmoid", _sigmoid_backward)


def relu(x: Tensor) -> Tensor:
    """Elementwise max(x, 0) (gradient 0 at 0)."""
    return _node(xp.maximum(x.data, 0), (x,), RELU)


def _relu_backward(out: Tensor, g: ndarray) -> tuple:
    return (g * (out.data > 0),)


RELU = Primitive("relu", _relu_backward)


def leaky_relu(x: Tensor, negative_slope: float = 0.01) -> Tensor:
    """Elementwise x for x > 0, ``negative_slope * x`` otherwise."""
    xd = x.data
    return _node(xp.where(xd > 0, xd, xd * negative_slope), (x,), LEAKY_RELU,
                 negative_slope, (x, negative_slope))


def _leaky_relu_backward(out: Tensor, g: ndarray) -> tuple:
    return (xp.where(out._parents[0].data > 0, g, g * out._saved),)


LEAKY_RELU = Primitive("leaky_relu", _leaky_relu_backward)


def clip(x: Tensor, min: float | None = None, max: float | None = None) -> Tensor:  # noqa: A002
    """Clamp to [min, max]; the gradient passes where min <= x <= max (as in PyTorch)."""
    for what, v in (("min", min), ("max", max)):
        if v is not None and (isinstance(v, bool) or not isinstance(
                v, (int, float, xp.integer, xp.floating))):
            raise DTypeError(f"clip: {what} must be a number or None, got {v!r}")
    return _node(xp.clip(x.data, min, max), (x,), CLIP, (min, max), (x, min, max))


def _clip_backward(out: Tensor, g: ndarray) -> tuple:
    lo, hi = out._saved
    xd = out._parents[0].data
    inside = xp.ones(xd.shape, dtype=bool)
    if lo is not None:
        inside &= xd >= lo
    if hi is not None:
        inside &= xd <= hi
    return (g * inside,)


CLIP = Primitive("clip", _clip_backward)


def astype(x: Tensor, dtype: Any) -> Tensor:
    """Cast to ``dtype``; the gradient is cast back to the input's dtype."""
    dtype = xp.dtype(dtype)
    if x.data.dtype == dtype:
        return x
    return _node(x.data.astype(dtype), (x,), ASTYPE, None, (x, str(dtype)))


def _astype_backward(out: Tensor, g: ndarray) -> tuple:
    return (g.astype(out._parents[0].data.dtype),)


ASTYPE = Primitive("astype", _astype_backward)


# -- two-operand elementwise --------------------------------------------------------------------

def maximum(a: Any, b: Any) -> Tensor:
    """Elementwise maximum; at ties the gradient is split evenly (as in PyTorch)."""
    a, b = _binary(a, b, "maximum")
    try:
        return _node(xp.maximum(a.data, b.data), (a, b), MAXIMUM)
    except ValueError:
        raise _broadcast_error("maximum", a, b) from None


def minimum(a: Any, b: Any) -> Tensor:
    """Elementwise minimum; at ties the gradient is split evenly (as in PyTorch)."""
    a, b = _binary(a, b, "minimum")
    try:
        return _node(xp.minimum(a.data, b.data), (a, b), MINIMUM)
    except ValueError:
        raise _broadcast_error("minimum", a, b) from None


def _extremum_backward(out: Tensor, g: ndarray) -> tuple:
    a, b = out._parents
    wa = (a.data == out.data).astype(g.dtype)
    wb = (b.data == out.data).astype(g.dtype)
    total = wa + wb  # 2 at ties, 1 elsewhere
    return g * wa / total, g * wb / total


MAXIMUM = Primitive("maximum", _extremum_backward)
MINIMUM = Primitive("minimum", _extremum_backward)


def where(condition: Any, a: Any, b: Any) -> Tensor:
    """Pick from ``a`` where ``condition`` holds and from ``b`` elsewhere (with broadcasting)."""
    cond = xp.asarray(condition.data if isinstance(condition, Tensor) else condition, dtype=bool)
    a, b = _binary(a, b, "where")
    try:
        out = xp.where(cond, a.data, b.data)
    except ValueError:
        raise ShapeError(f"where: the condition of shape {cond.shape} and operands of shapes "
                         f"{a.shape} and {b.shape} cannot be broadcast together; each "
                         "dimension must be equal or 1 (reshape one operand)") from None
    return _node(out, (a, b), WHERE, cond)


def _where_backward(out: Tensor, g: ndarray) -> tuple:
    cond = out._saved
    zero = xp.zeros((), dtype=g.dtype)
    return xp.where(cond, g, zero), xp.where(cond, zero, g)


WHERE = Primitive("where", _where_backward, "where(condition, {0}, {1})")


# -- reductions -------------------------------------------------------------------------------

def _reduction_template(name: str) -> Any:
    return lambda a: f"{name}({a[0]})" if len(a) == 1 else f"{name}({a[0]}, axis={a[1]})"


def _axes(x: Tensor, axis: Axis, op: str) -> Axis:
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


def _shown(x: Tensor, axis: Axis) -> tuple:
    return (x,) if axis is None else (x, axis)


def _expand(g: ndarray, shape: tuple[int, ...], axis: Axis, keepdims: bool) -> ndarray:
    """Undo a reduction's shape change: put back reduced axes, then broadcast (a view)."""
    if axis is not None and not keepdims:
        g = xp.expand_dims(g, axis)
    return xp.broadcast_to(g, shape)


def _sum(x: Tensor, axis: Axis = None, keepdims: bool = False) -> Tensor:
    """Sum over ``axis`` (all axes by default)."""
    ax = _axes(x, axis, "sum") if axis is not None else None
    return _node(x.data.sum(axis=ax, keepdims=keepdims), (x,), SUM, (ax, keepdims),
                 _shown(x, axis))


def _sum_backward(out: Tensor, g: ndarray) -> tuple:
    axis, keepdims = out._saved
    return (_expand(g, out._parents[0].data.shape, axis, keepdims),)


SUM = Primitive("sum", _sum_backward, _reduction_template("sum"))


def _mean(x: Tensor, axis: Axis = None, keepdims: bool = False) -> Tensor:
    """Mean over ``axis`` (all axes by default)."""
    ax = _axes(x, axis, "mean") if axis is not None else None
    xd = x.data
    out = xp.asarray(xd.mean(axis=ax, keepdims=keepdims))  # .size below needs an array
    count = xd.size // out.size if out.size else 0
    return _node(out, (x,), MEAN, (ax, keepdims, count), _shown(x, axis))


def _mean_backward(out: Tensor, g: ndarray) -> tuple:
    axis, keepdims, count = out._saved
    return (_expand(g / count, out._parents[0].data.shape, axis, keepdims),)


MEAN = Primitive("mean", _mean_backward, _reduction_template("mean"))


def _max(x: Tensor, axis: Axis = None, keepdims: bool = False) -> Tensor:
    """Maximum over ``axis``; tied maxima share the gradient evenly."""
    ax = _axes(x, axis, "max")
    return _node(x.data.max(axis=ax, keepdims=keepdims), (x,), MAX, (ax, keepdims),
                 _shown(x, axis))


def _min(x: Tensor, axis: Axis = None, keepdims: bool = False) -> Tensor:
    """Minimum over ``axis``; tied minima share the gradient evenly."""
    ax = _axes(x, axis, "min")
    return _node(x.data.min(axis=ax, keepdims=keepdims), (x,), MIN, (ax, keepdims),
                 _shown(x, axis))


def _minmax_backward(out: Tensor, g: ndarray) -> tuple:
    axis, keepdims = out._saved
    xd = out._parents[0].data
    hit = (xd == _expand(out.data, xd.shape, axis, keepdims)).astype(g.dtype)
    hit /= hit.sum(axis=axis, keepdims=True)
    return (_expand(g, xd.shape, axis, keepdims) * hit,)


MAX = Primitive("max", _minmax_backward, _reduction_template("max"))
MIN = Primitive("min", _minmax_backward, _reduction_template("min"))


def logsumexp(x: Tensor, axis: Axis = None, keepdims: bool = False) -> Tensor:
    """log(sum(exp(x))) over ``axis``, computed after subtracting the maximum (no overflow)."""
    ax = _axes(x, axis, "logsumexp")
    xd = x.data
    m = xd.max(axis=ax, keepdims=True)
    m = xp.where(xp.isfinite(m), m, 0)  # all -inf (or inf) slices: leave them to exp/log
    with xp.errstate(divide="ignore"):
        lse = xp.log(xp.exp(xd - m).sum(axis=ax, keepdims=True)) + m
    out = lse if keepdims else (lse.reshape(()) if ax is None else xp.squeeze(lse, ax))
    return _node(out, (x,), LOGSUMEXP, (ax, keepdims, lse), _shown(x, axis))


def _logsumexp_backward(out: Tensor, g: ndarray) -> tuple:
    axis, keepdims, lse = out._saved
    xd = out._parents[0].data
    return (_expand(g, xd.shape, axis, keepdims) * xp.exp(xd - lse),)


LOGSUMEXP = Primitive("logsumexp", _logsumexp_backward, _reduction_template("logsumexp"))


def softmax(x: Tensor, axis: int = -1) -> Tensor:
    """exp(x) / sum(exp(x)) along ``axis``, shifted by the maximum so it never overflows."""
    ax = _axes(x, axis, "softmax")
    xd = x.data
    e = xp.exp(xd - xd.max(axis=ax, keepdims=True))
    e /= e.sum(axis=ax, keepdims=True)
    return _node(e, (x,), SOFTMAX, ax, _shown(x, None if axis == -1 else axis))


def _softmax_backward(out: Tensor, g: ndarray) -> tuple:
    s = out.data
    gs = g * s
    return (gs - s * gs.sum(axis=out._saved, keepdims=True),)


SOFTMAX = Primitive("softmax", _softmax_backward, _reduction_template("softmax"))


def log_softmax(x: Tensor, axis: int = -1) -> Tensor:
    """x - logsumexp(x) along ``axis``, computed stably."""
    ax = _axes(x, axis, "log_softmax")
    xd = x.data
    shifted = xd - xd.max(axis=ax, keepdims=True)
    out = shifted - xp.log(xp.exp(shifted).sum(axis=ax, keepdims=True))
    return _node(out, (x,), LOG_SOFTMAX, ax, _shown(x, None if axis == -1 else axis))


def _log_softmax_backward(out: Tensor, g: ndarray) -> tuple:
    return (g - xp.exp(out.data) * g.sum(axis=out._saved, keepdims=True),)


LOG_SOFTMAX = Primitive("log_softmax", _log_softmax_backward,
                        _reduction_template("log_softmax"))


# -- shape operations -------------------------------------------------------------------------

def reshape(x: Tensor, *shape: Any) -> Tensor:
    """The same values in a new shape (``-1`` infers one dimension)."""
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        shape = tuple(shape[0])
    try:
        out = x.data.reshape(shape)
    except (ValueError, TypeError):
        raise ShapeError(f"reshape: cannot reshape {x.shape} ({x.size} values) into {shape}") \
            from None
    return _node(out, (x,), RESHAPE, None, (x, tuple(shape)))


def _reshape_backward(out: Tensor, g: ndarray) -> tuple:
    return (g.reshape(out._parents[0].data.shape),)


RESHAPE = Primitive("reshape", _reshape_backward)


def transpose(x: Tensor, *axes: Any) -> Tensor:
    """Permute axes (reverse them by default, like ``.T``); negative axes count from the end."""
    if len(axes) == 1 and isinstance(axes[0], (tuple, list)):
        axes = tuple(axes[0])
    if not axes:
        return _node(xp.transpose(x.data), (x,), TRANSPOSE, None)
    nd = x.data.ndim
    try:
        perm = tuple(int(a) + nd if int(a) < 0 else int(a) for a in axes)
    except (TypeError, ValueError):
        raise ShapeError(f"transpose: axes must be ints, got {axes!r}") from None
    if sorted(perm) != list(range(nd)):
        raise ShapeError(f"transpose: axes {axes!r} are not a permutation of the {nd} axes of "
                         f"a tensor of shape {x.shape}")
    return _node(xp.transpose(x.data, perm), (x,), TRANSPOSE, perm, (x, axes))


def _transpose_backward(out: Tensor, g: ndarray) -> tuple:
    perm = out._saved  # normalised, so argsort gives the inverse permutation
    return (xp.transpose(g, None if perm is None else xp.argsort(perm)),)


TRANSPOSE = Primitive("transpose", _transpose_backward,
                      lambda a: f"{a[0]}.T" if len(a) == 1 else f"transpose({a[0]}, {a[1]})")


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
    return _node(out, (x,), GETITEM, (idx, _is_basic(idx)), (x, _index_text(idx)))


def _getitem_backward(out: Tensor, g: ndarray) -> tuple:
    idx, basic = out._saved
    xd = out._parents[0].data
    gx = xp.zeros(xd.shape, dtype=g.dtype)
    if basic:
        gx[idx] = g
    else:
        xp.add.at(gx, idx, g)  # repeated indices must add up, not overwrite
    return (gx,)


GETITEM = Primitive("getitem", _getitem_backward, "{0}[{1}]")


def concatenate(tensors: Sequence[Any], axis: int = 0) -> Tensor:
    """Join tensors along an existing axis."""
    ts = _same_dtype(tensors, "concatenate")
    try:
        out = xp.concatenate([t.data for t in ts], axis=axis)
    except ValueError as err:
        raise ShapeError(f"concatenate: {err}") from None
    sizes = [t.data.shape[axis] for t in ts]
    return _node(out, tuple(ts), CONCATENATE, (axis, sizes), (*ts, axis))


def _concatenate_backward(out: Tensor, g: ndarray) -> tuple:
    axis, sizes = out._saved
    cuts = xp.cumsum(sizes)[:-1]
    return tuple(xp.split(g, cuts, axis=axis))


CONCATENATE = Primitive("concatenate", _concatenate_backward,
                        lambda a: f"concatenate([{', '.join(a[:-1])}], axis={a[-1]})")


def stack(tensors: Sequence[Any], axis: int = 0) -> Tensor:
    """Join tensors of one shape along a new axis."""
    ts = _same_dtype(tensors, "stack")
    try:
        out = xp.stack([t.data for t in ts], axis=axis)
    except ValueError as err:
        raise ShapeError(f"stack: {err}") from None
    return _node(out, tuple(ts), STACK, axis, (*ts, axis))


def _stack_backward(out: Tensor, g: ndarray) -> tuple:
    axis = out._saved
    return tuple(xp.moveaxis(g, axis, 0))


STACK = Primitive("stack", _stack_backward,
                  lambda a: f"stack([{', '.join(a[:-1])}], axis={a[-1]})")


def _same_dtype(tensors: Sequence[Any], op: str) -> list[Tensor]:
    ts = [_as_tensor(t) for t in tensors]
    if not ts:
        raise ShapeError(f"{op}: needs at least one tensor")
    floats = {str(t.dtype) for t in ts if t.dtype.kind == "f"}
    if len(floats) > 1:
        raise DTypeError(f"{op}: cannot combine dtypes {sorted(floats)}; convert explicitly")
    if floats:
        dtype = ts[[t.dtype.kind == "f" for t in ts].index(True)].dtype
        ts = [t if t.dtype == dtype else Tensor(t.data.astype(dtype)) for t in ts]
    return ts

