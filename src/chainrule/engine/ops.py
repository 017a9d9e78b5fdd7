"""The differentiable primitives, each forward beside its backward.

Every primitive computes its output array, then calls :func:`_node` with its parents, its
backward function and what that backward needs.  A backward function has the signature
``backward(out, grad) -> tuple`` (one entry per parent, ``None`` for "no gradient needed"):
``out`` is the output tensor, so ``out.data`` is the forward result (sigmoid and tanh take their
derivative from it) and ``out._saved`` holds the rest.  Gradients come back shaped like the
output; the engine sums away broadcasting (``tensor._unbroadcast``).

Python scalars combine with tensors of any float dtype without changing it (NumPy's NEP 50
rules).  Arrays and tensors of a *different* float dtype raise :class:`DTypeError` naming the
operation: chainrule never widens or narrows a tensor behind your back.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..errors import DTypeError, ShapeError
from .backend import ndarray, xp
from .tensor import Tensor, _mode, _sum_rows

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
    "stack",
    "sub",
    "tanh",
    "transpose",
    "where",
]

_new = Tensor.__new__
Axis = int | tuple[int, ...] | None


def _node(data: ndarray, parents: tuple, backward: Any, saved: Any = None) -> Tensor:
    """Wrap an op's result; record the graph only when some parent needs a gradient."""
    if type(data) is not ndarray:  # ufuncs on 0-d arrays return NumPy scalars
        data = xp.asarray(data)
    out = _new(Tensor)
    out.data = data
    out.grad = None
    out.name = None
    out._retain = False
    if _mode.enabled:
        for p in parents:
            if p.requires_grad:
                out.requires_grad = True
                out._parents = parents
                out._backward = backward
                out._saved = saved
                return out
    out.requires_grad = False
    out._parents = ()
    out._backward = None
    out._saved = None
    return out


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
    return Tensor(x)


# -- arithmetic -------------------------------------------------------------------------------
# Each binary op has a fast path for a Python scalar operand: one parent, no extra tensor.

def add(a: Any, b: Any) -> Tensor:
    """Elementwise ``a + b`` with broadcasting."""
    if isinstance(b, Tensor):
        if isinstance(a, Tensor) and a.data.dtype is b.data.dtype:
            return _node(a.data + b.data, (a, b), _add_backward)
        if not isinstance(a, Tensor):
            a, b = b, a
    s = _scalar(b)
    if s is not None:
        return _node(a.data + s, (a,), _pass_backward)
    a, b = _binary(a, b, "add")
    return _node(a.data + b.data, (a, b), _add_backward)


def _pass_backward(out: Tensor, g: ndarray) -> tuple:
    return (g,)


def _add_backward(out: Tensor, g: ndarray) -> tuple:
    return g, g


def sub(a: Any, b: Any) -> Tensor:
    """Elementwise ``a - b`` with broadcasting."""
    if isinstance(b, Tensor):
        if isinstance(a, Tensor):
            if a.data.dtype is b.data.dtype:
                return _node(a.data - b.data, (a, b), _sub_backward)
        elif (s := _scalar(a)) is not None:
            return _node(s - b.data, (b,), _neg_backward)
    elif (s := _scalar(b)) is not None:
        return _node(a.data - s, (a,), _pass_backward)
    a, b = _binary(a, b, "sub")
    return _node(a.data - b.data, (a, b), _sub_backward)


def _sub_backward(out: Tensor, g: ndarray) -> tuple:
    return g, -g


def neg(a: Tensor) -> Tensor:
    """``-a``."""
    return _node(-a.data, (a,), _neg_backward)


def _neg_backward(out: Tensor, g: ndarray) -> tuple:
    return (-g,)


def mul(a: Any, b: Any) -> Tensor:
    """Elementwise ``a * b`` with broadcasting."""
    if isinstance(b, Tensor):
        if isinstance(a, Tensor) and a.data.dtype is b.data.dtype:
            return _node(a.data * b.data, (a, b), _mul_backward)
        if not isinstance(a, Tensor):
            a, b = b, a
    s = _scalar(b)
    if s is not None:
        return _node(a.data * s, (a,), _scale_backward, s)
    a, b = _binary(a, b, "mul")
    return _node(a.data * b.data, (a, b), _mul_backward)


def _scale_backward(out: Tensor, g: ndarray) -> tuple:
    return (g * out._saved,)


def _mul_backward(out: Tensor, g: ndarray) -> tuple:
    a, b = out._parents
    return (g * b.data if a.requires_grad else None,
            g * a.data if b.requires_grad else None)


def div(a: Any, b: Any) -> Tensor:
    """Elementwise ``a / b`` with broadcasting."""
    if isinstance(b, Tensor):
        if isinstance(a, Tensor) and a.data.dtype is b.data.dtype:
            return _node(a.data / b.data, (a, b), _div_backward)
    elif (s := _scalar(b)) is not None:
        return _node(a.data / s, (a,), _scale_backward, 1.0 / s)
    a, b = _binary(a, b, "div")
    return _node(a.data / b.data, (a, b), _div_backward)


def _div_backward(out: Tensor, g: ndarray) -> tuple:
    a, b = out._parents
    gb = g / b.data
    return (gb if a.requires_grad else None,
            -gb * out.data if b.requires_grad else None)


def pow(a: Any, b: Any) -> Tensor:  # noqa: A001 - mirrors the ** operator
    """Elementwise ``a ** b``; the exponent may be a number or a tensor."""
    if isinstance(a, Tensor) and not isinstance(b, Tensor) and (s := _scalar(b)) is not None:
        return _node(a.data ** s, (a,), _pow_scalar_backward, s)
    a, b = _binary(a, b, "pow")
    return _node(a.data ** b.data, (a, b), _pow_backward)


def _pow_scalar_backward(out: Tensor, g: ndarray) -> tuple:
    p = out._saved
    if p == 2:
        return (g * (2 * out._parents[0].data),)
    return (g * (p * out._parents[0].data ** (p - 1)),)


def _pow_backward(out: Tensor, g: ndarray) -> tuple:
    a, b = out._parents
    ga = gb = None
    if a.requires_grad:
        ga = g * b.data * a.data ** (b.data - 1)
    if b.requires_grad:
        with xp.errstate(divide="ignore", invalid="ignore"):
            log_a = xp.log(a.data)
        # d(a^b)/db = a^b log a; at a == 0 the limit is 0 (as in PyTorch), negative a gives NaN
        gb = g * xp.where(a.data == 0, 0, out.data * log_a)
    return ga, gb


def matmul(a: Any, b: Any) -> Tensor:
    """Matrix product with NumPy's rules: 1-D, 2-D and batched (broadcast) operands."""
    a, b = _binary(a, b, "matmul")
    if a.ndim == 0 or b.ndim == 0:
        raise ShapeError("matmul: operands must have at least one dimension; use * for scalars")
    ka = a.shape[-1]
    kb = b.shape[-2] if b.ndim > 1 else b.shape[0]
    if ka != kb:
        raise ShapeError(f"matmul: shapes {a.shape} and {b.shape} do not align ({ka} != {kb})")
    return _node(a.data @ b.data, (a, b), _matmul_backward)


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


def linear(x: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    """``x @ weight.T + bias`` as one node: one matmul forward, at most three backward.

    ``weight`` has shape (out_features, in_features), the seeds' W[l] of shape (n[l], n[l-1]).
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
        return _node(out, (x, weight), _linear_backward)
    out += bias.data
    return _node(out, (x, weight, bias), _linear_backward)


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


# -- elementwise functions --------------------------------------------------------------------

def exp(x: Tensor) -> Tensor:
    """Elementwise e**x."""
    return _node(xp.exp(x.data), (x,), _exp_backward)


def _exp_backward(out: Tensor, g: ndarray) -> tuple:
    return (g * out.data,)


def log(x: Tensor) -> Tensor:
    """Elementwise natural logarithm."""
    return _node(xp.log(x.data), (x,), _log_backward)


def _log_backward(out: Tensor, g: ndarray) -> tuple:
    return (g / out._parents[0].data,)


def sqrt(x: Tensor) -> Tensor:
    """Elementwise square root."""
    return _node(xp.sqrt(x.data), (x,), _sqrt_backward)


def _sqrt_backward(out: Tensor, g: ndarray) -> tuple:
    return (g / (2 * out.data),)


def abs(x: Tensor) -> Tensor:  # noqa: A001 - the function users know by this name
    """Elementwise absolute value (gradient 0 at 0, as in PyTorch)."""
    return _node(xp.abs(x.data), (x,), _abs_backward)


def _abs_backward(out: Tensor, g: ndarray) -> tuple:
    return (g * xp.sign(out._parents[0].data),)


def tanh(x: Tensor) -> Tensor:
    """Elementwise tanh; backward uses the saved output: 1 - tanh(x)**2."""
    return _node(xp.tanh(x.data), (x,), _tanh_backward)


def _tanh_backward(out: Tensor, g: ndarray) -> tuple:
    t = out.data
    return (g * (1 - t * t),)


def _stable_sigmoid(z: ndarray) -> ndarray:
    # 1 / (1 + e^-z) is accurate in both tails; only e^-z can overflow, so cap the exponent
    # where the result is already below the smallest normal number of the dtype.
    t = xp.maximum(z, _SIGMOID_FLOOR.get(z.dtype.char, -700.0))
    if type(t) is not ndarray:  # 0-d input: NumPy returned a scalar
        t = xp.array(t)
    xp.negative(t, out=t)
    xp.exp(t, out=t)
    t += 1
    return xp.reciprocal(t, out=t)


_SIGMOID_FLOOR = {"e": -11.0, "f": -87.0, "d": -708.0}


def sigmoid(x: Tensor) -> Tensor:
    """Elementwise logistic function 1 / (1 + e**-x), finite for any input."""
    return _node(_stable_sigmoid(x.data), (x,), _sigmoid_backward)


def _sigmoid_backward(out: Tensor, g: ndarray) -> tuple:
    s = out.data
    return (g * (s * (1 - s)),)


def relu(x: Tensor) -> Tensor:
    """Elementwise max(x, 0) (gradient 0 at 0)."""
    return _node(xp.maximum(x.data, 0), (x,), _relu_backward)


def _relu_backward(out: Tensor, g: ndarray) -> tuple:
    return (g * (out.data > 0),)


def leaky_relu(x: Tensor, negative_slope: float = 0.01) -> Tensor:
    """Elementwise x for x > 0, ``negative_slope * x`` otherwise."""
    xd = x.data
    return _node(xp.where(xd > 0, xd, xd * negative_slope), (x,), _leaky_relu_backward,
                 negative_slope)


def _leaky_relu_backward(out: Tensor, g: ndarray) -> tuple:
    return (xp.where(out._parents[0].data > 0, g, g * out._saved),)


def clip(x: Tensor, min: float | None = None, max: float | None = None) -> Tensor:  # noqa: A002
    """Clamp to [min, max]; the gradient passes where min <= x <= max (as in PyTorch)."""
    return _node(xp.clip(x.data, min, max), (x,), _clip_backward, (min, max))


def _clip_backward(out: Tensor, g: ndarray) -> tuple:
    lo, hi = out._saved
    xd = out._parents[0].data
    inside = xp.ones(xd.shape, dtype=bool)
    if lo is not None:
        inside &= xd >= lo
    if hi is not None:
        inside &= xd <= hi
    return (g * inside,)


def astype(x: Tensor, dtype: Any) -> Tensor:
    """Cast to ``dtype``; the gradient is cast back to the input's dtype."""
    dtype = xp.dtype(dtype)
    if x.data.dtype == dtype:
        return x
    return _node(x.data.astype(dtype), (x,), _astype_backward)


def _astype_backward(out: Tensor, g: ndarray) -> tuple:
    return (g.astype(out._parents[0].data.dtype),)


# -- two-operand elementwise --------------------------------------------------------------------

def maximum(a: Any, b: Any) -> Tensor:
    """Elementwise maximum; at ties the gradient is split evenly (as in PyTorch)."""
    a, b = _binary(a, b, "maximum")
    return _node(xp.maximum(a.data, b.data), (a, b), _extremum_backward)


def minimum(a: Any, b: Any) -> Tensor:
    """Elementwise minimum; at ties the gradient is split evenly (as in PyTorch)."""
    a, b = _binary(a, b, "minimum")
    return _node(xp.minimum(a.data, b.data), (a, b), _extremum_backward)


def _extremum_backward(out: Tensor, g: ndarray) -> tuple:
    a, b = out._parents
    wa = (a.data == out.data).astype(g.dtype)
    wb = (b.data == out.data).astype(g.dtype)
    total = wa + wb  # 2 at ties, 1 elsewhere
    return g * wa / total, g * wb / total


def where(condition: Any, a: Any, b: Any) -> Tensor:
    """Pick from ``a`` where ``condition`` holds and from ``b`` elsewhere (with broadcasting)."""
    cond = xp.asarray(condition.data if isinstance(condition, Tensor) else condition, dtype=bool)
    a, b = _binary(a, b, "where")
    return _node(xp.where(cond, a.data, b.data), (a, b), _where_backward, cond)


def _where_backward(out: Tensor, g: ndarray) -> tuple:
    cond = out._saved
    zero = xp.zeros((), dtype=g.dtype)
    return xp.where(cond, g, zero), xp.where(cond, zero, g)


# -- reductions -------------------------------------------------------------------------------

def _expand(g: ndarray, shape: tuple[int, ...], axis: Axis, keepdims: bool) -> ndarray:
    """Undo a reduction's shape change: put back reduced axes, then broadcast (a view)."""
    if axis is not None and not keepdims:
        g = xp.expand_dims(g, axis)
    return xp.broadcast_to(g, shape)


def _sum(x: Tensor, axis: Axis = None, keepdims: bool = False) -> Tensor:
    """Sum over ``axis`` (all axes by default)."""
    return _node(x.data.sum(axis=axis, keepdims=keepdims), (x,), _sum_backward,
                 (axis, keepdims))


def _sum_backward(out: Tensor, g: ndarray) -> tuple:
    axis, keepdims = out._saved
    return (_expand(g, out._parents[0].data.shape, axis, keepdims),)


def _mean(x: Tensor, axis: Axis = None, keepdims: bool = False) -> Tensor:
    """Mean over ``axis`` (all axes by default)."""
    xd = x.data
    out = xp.asarray(xd.mean(axis=axis, keepdims=keepdims))  # .size below needs an array
    count = xd.size // out.size if out.size else 0
    return _node(out, (x,), _mean_backward, (axis, keepdims, count))


def _mean_backward(out: Tensor, g: ndarray) -> tuple:
    axis, keepdims, count = out._saved
    return (_expand(g / count, out._parents[0].data.shape, axis, keepdims),)


def _max(x: Tensor, axis: Axis = None, keepdims: bool = False) -> Tensor:
    """Maximum over ``axis``; tied maxima share the gradient evenly."""
    return _node(x.data.max(axis=axis, keepdims=keepdims), (x,), _minmax_backward,
                 (axis, keepdims))


def _min(x: Tensor, axis: Axis = None, keepdims: bool = False) -> Tensor:
    """Minimum over ``axis``; tied minima share the gradient evenly."""
    return _node(x.data.min(axis=axis, keepdims=keepdims), (x,), _minmax_backward,
                 (axis, keepdims))


def _minmax_backward(out: Tensor, g: ndarray) -> tuple:
    axis, keepdims = out._saved
    xd = out._parents[0].data
    hit = (xd == _expand(out.data, xd.shape, axis, keepdims)).astype(g.dtype)
    hit /= hit.sum(axis=axis, keepdims=True)
    return (_expand(g, xd.shape, axis, keepdims) * hit,)


def logsumexp(x: Tensor, axis: Axis = None, keepdims: bool = False) -> Tensor:
    """log(sum(exp(x))) over ``axis``, computed after subtracting the maximum (no overflow)."""
    xd = x.data
    m = xd.max(axis=axis, keepdims=True)
    m = xp.where(xp.isfinite(m), m, 0)  # all -inf (or inf) slices: leave them to exp/log
    with xp.errstate(divide="ignore"):
        lse = xp.log(xp.exp(xd - m).sum(axis=axis, keepdims=True)) + m
    out = lse if keepdims else (lse.reshape(()) if axis is None else xp.squeeze(lse, axis))
    return _node(out, (x,), _logsumexp_backward, (axis, keepdims, lse))


def _logsumexp_backward(out: Tensor, g: ndarray) -> tuple:
    axis, keepdims, lse = out._saved
    xd = out._parents[0].data
    return (_expand(g, xd.shape, axis, keepdims) * xp.exp(xd - lse),)


def softmax(x: Tensor, axis: int = -1) -> Tensor:
    """exp(x) / sum(exp(x)) along ``axis``, shifted by the maximum so it never overflows."""
    xd = x.data
    e = xp.exp(xd - xd.max(axis=axis, keepdims=True))
    e /= e.sum(axis=axis, keepdims=True)
    return _node(e, (x,), _softmax_backward, axis)


def _softmax_backward(out: Tensor, g: ndarray) -> tuple:
    s = out.data
    gs = g * s
    return (gs - s * gs.sum(axis=out._saved, keepdims=True),)


def log_softmax(x: Tensor, axis: int = -1) -> Tensor:
    """x - logsumexp(x) along ``axis``, computed stably."""
    xd = x.data
    shifted = xd - xd.max(axis=axis, keepdims=True)
    out = shifted - xp.log(xp.exp(shifted).sum(axis=axis, keepdims=True))
    return _node(out, (x,), _log_softmax_backward, axis)


def _log_softmax_backward(out: Tensor, g: ndarray) -> tuple:
    return (g - xp.exp(out.data) * g.sum(axis=out._saved, keepdims=True),)


# -- shape operations -------------------------------------------------------------------------

def reshape(x: Tensor, *shape: Any) -> Tensor:
    """The same values in a new shape (``-1`` infers one dimension)."""
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        shape = tuple(shape[0])
    try:
        out = x.data.reshape(shape)
    except ValueError:
        raise ShapeError(f"reshape: cannot reshape {x.shape} ({x.size} values) into {shape}") \
            from None
    return _node(out, (x,), _reshape_backward)


def _reshape_backward(out: Tensor, g: ndarray) -> tuple:
    return (g.reshape(out._parents[0].data.shape),)


def transpose(x: Tensor, *axes: Any) -> Tensor:
    """Permute axes (reverse them by default, like ``.T``)."""
    if len(axes) == 1 and isinstance(axes[0], (tuple, list)):
        axes = tuple(axes[0])
    axes = axes or None
    return _node(xp.transpose(x.data, axes), (x,), _transpose_backward, axes)


def _transpose_backward(out: Tensor, g: ndarray) -> tuple:
    axes = out._saved
    return (xp.transpose(g, None if axes is None else xp.argsort(axes)),)


def _index(idx: Any) -> Any:
    if isinstance(idx, Tensor):
        return idx.data
    if isinstance(idx, tuple):
        return tuple(i.data if isinstance(i, Tensor) else i for i in idx)
    return idx


def _has_int_array(idx: Any) -> bool:
    parts = idx if isinstance(idx, tuple) else (idx,)
    for i in parts:
        if isinstance(i, list) or (isinstance(i, ndarray) and i.dtype.kind in "iu"):
            return True
    return False


def getitem(x: Tensor, idx: Any) -> Tensor:
    """``x[idx]``: basic slicing, boolean masks and integer-array indexing."""
    idx = _index(idx)
    try:
        out = x.data[idx]
    except IndexError as err:
        raise ShapeError(f"indexing a tensor of shape {x.shape}: {err}") from None
    return _node(out, (x,), _getitem_backward, idx)


def _getitem_backward(out: Tensor, g: ndarray) -> tuple:
    idx = out._saved
    xd = out._parents[0].data
    gx = xp.zeros(xd.shape, dtype=g.dtype)
    if _has_int_array(idx):
        xp.add.at(gx, idx, g)  # repeated indices must add up, not overwrite
    else:
        gx[idx] = g
    return (gx,)


def concatenate(tensors: Sequence[Any], axis: int = 0) -> Tensor:
    """Join tensors along an existing axis."""
    ts = _same_dtype(tensors, "concatenate")
    try:
        out = xp.concatenate([t.data for t in ts], axis=axis)
    except ValueError as err:
        raise ShapeError(f"concatenate: {err}") from None
    sizes = [t.data.shape[axis] for t in ts]
    return _node(out, tuple(ts), _concatenate_backward, (axis, sizes))


def _concatenate_backward(out: Tensor, g: ndarray) -> tuple:
    axis, sizes = out._saved
    cuts = xp.cumsum(sizes)[:-1]
    return tuple(xp.split(g, cuts, axis=axis))


def stack(tensors: Sequence[Any], axis: int = 0) -> Tensor:
    """Join tensors of one shape along a new axis."""
    ts = _same_dtype(tensors, "stack")
    try:
        out = xp.stack([t.data for t in ts], axis=axis)
    except ValueError as err:
        raise ShapeError(f"stack: {err}") from None
    return _node(out, tuple(ts), _stack_backward, axis)


def _stack_backward(out: Tensor, g: ndarray) -> tuple:
    axis = out._saved
    return tuple(xp.moveaxis(g, axis, 0))


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


# -- Tensor methods and operators -------------------------------------------------------------

def _rsub(a: Tensor, b: Any) -> Tensor:
    return sub(b, a)


def _rdiv(a: Tensor, b: Any) -> Tensor:
    return div(b, a)


def _rpow(a: Tensor, b: Any) -> Tensor:
    return pow(b, a)


def _rmatmul(a: Tensor, b: Any) -> Tensor:
    return matmul(b, a)


_methods = {
    "__add__": add, "__radd__": add, "__sub__": sub, "__rsub__": _rsub,
    "__mul__": mul, "__rmul__": mul, "__truediv__": div, "__rtruediv__": _rdiv,
    "__pow__": pow, "__rpow__": _rpow, "__matmul__": matmul, "__rmatmul__": _rmatmul,
    "__neg__": neg, "__getitem__": getitem,
    "exp": exp, "log": log, "sqrt": sqrt, "abs": abs, "tanh": tanh, "sigmoid": sigmoid,
    "relu": relu, "leaky_relu": leaky_relu, "softmax": softmax, "log_softmax": log_softmax,
    "logsumexp": logsumexp, "clip": clip, "astype": astype, "reshape": reshape,
    "transpose": transpose, "sum": _sum, "mean": _mean, "max": _max, "min": _min,
}
for _name, _fn in _methods.items():
    setattr(Tensor, _name, _fn)
Tensor.T = property(transpose, doc="The tensor with its axes reversed.")  # type: ignore[attr-defined]
Tensor.__abs__ = abs  # type: ignore[attr-defined]
Tensor.__iter__ = lambda self: (self[i] for i in range(len(self)))  # type: ignore[attr-defined]
del _name, _fn

