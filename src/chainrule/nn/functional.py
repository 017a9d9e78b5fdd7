"""Loss functions as fused primitives, each forward beside its backward.

A loss computed from logits is one node whose backward is the course's output delta: for
sigmoid with binary cross-entropy and for softmax with cross-entropy, dL/dz = p - y (divided by
the number of terms for ``reduction='mean'``).  Computing it in one step is both faster and
stable: no log of a probability that rounded to 0.

Targets are data, not parameters: they are converted to the input's dtype and never receive a
gradient.  ``sample_weight`` (one weight per example, i.e. per row) makes the mean the weighted
mean sum(w_i l_i) / sum(w_i), so integer weights equal duplicated rows; the same definition is
used wherever chainrule takes sample weights.

A loss node saves its derivative dloss as an array together with how to compute it again,
``(derivative, target, weight)``, the derivative a function written with operations that work
on tensors too: ``((dloss, how), scale)`` when the loss is reduced to one number (the pair the
training plan reads), ``((dloss, how),)`` otherwise.  A gradient of a gradient calls the
derivative on the input tensor, so dloss is a function of the input there rather than a
constant: second derivatives of every loss, as PyTorch gives them.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from ..engine import Primitive, Tensor, ops
from ..engine.backend import NUMPY, errstate, namespace, ndarray
from ..engine.devices import to_numpy
from ..errors import ConfigError, DataError, ShapeError
from ._arrays import as_array_like, dtype_name
from .conv import conv2d
from .normalize import batch_norm, layer_norm
from .pooling import adaptive_avg_pool2d, avg_pool2d, max_pool2d

__all__ = [
    "REDUCTIONS",
    "adaptive_avg_pool2d",
    "avg_pool2d",
    "batch_norm",
    "bce_with_logits_terms",
    "binary_cross_entropy",
    "binary_cross_entropy_with_logits",
    "conv2d",
    "cross_entropy",
    "layer_norm",
    "max_pool2d",
    "mse_loss",
]

REDUCTIONS = ("mean", "sum", "none")

Derivative = Callable[[Any, Any], Any]
"""dL/d(input) of an element-wise loss as ``derivative(input, target)``, arrays or tensors."""


def _kind(xp: Any, dtype: Any) -> str:
    """'b', 'i' or 'f' for a boolean, integer or real floating dtype, '' for any other (NumPy's
    dtype.kind, from the standard's isdtype on other libraries)."""
    if xp is NUMPY:
        kind = dtype.kind
        return "i" if kind == "u" else kind if kind in "bif" else ""
    for kind, name in (("f", "real floating"), ("i", "integral"), ("b", "bool")):
        if xp.isdtype(dtype, name):
            return kind
    return ""


def _target(target: Any, like: Tensor, name: str) -> ndarray:
    x = like.data
    t = target.data if isinstance(target, Tensor) else target
    if type(t) is not type(x):
        t = as_array_like(t, x)
    xp = namespace(x)
    if not (t.dtype.kind in "biuf" if xp is NUMPY else _kind(xp, t.dtype)):
        raise DataError(f"{name}: target must be numeric, got dtype {dtype_name(t.dtype)}")
    if t.shape != x.shape:
        raise ShapeError(
            f"{name}: input has shape {x.shape} but target has shape {t.shape}; they "
            "must match (reshape the target, e.g. y.reshape(-1, 1))"
        )
    return t if t.dtype == x.dtype else xp.astype(t, x.dtype, copy=False)


def _check_reduction(reduction: str) -> None:
    if reduction not in REDUCTIONS:
        raise ConfigError(f"unknown reduction {reduction!r}; choose one of "
                          f"{', '.join(REDUCTIONS)}")


def _weights(sample_weight: Any, like: ndarray, name: str, reduction: str) -> ndarray | None:
    """Per-example weights as an array broadcastable against per-element losses."""
    if sample_weight is None:
        return None
    # Checked on the host (the checks read the values anyway), then put beside ``like``.
    value = sample_weight.data if isinstance(sample_weight, Tensor) else sample_weight
    xp = NUMPY
    w = as_array_like(value, NUMPY.zeros(0))
    n = like.shape[0] if like.ndim else 1
    if w.dtype.kind not in "biuf" or w.shape != (n,):
        raise ShapeError(f"{name}: sample_weight must be {n} numbers (one per example), got "
                         f"shape {w.shape} and dtype {w.dtype}")
    w = w.astype(xp.float64)
    dtype = dtype_name(like.dtype)
    if not xp.isfinite(w).all() or (w < 0).any() or not w.max() > 0:
        raise DataError(f"{name}: sample_weight must be finite, non-negative and not all zero")
    if reduction == "mean":
        # The loss is sum(w_i l_i) / sum(w_i): only the ratios count, so dividing by the
        # largest lets weights like 1e308 (or 1e-300) reach a float32 loss as finite numbers.
        w = w / w.max()
    else:
        with xp.errstate(over="ignore"):
            if not xp.isfinite(w.astype(dtype)).all():
                raise DataError(f"{name}: sample_weight up to {w.max():g} is beyond "
                                f"{dtype}'s range, which reduction={reduction!r} keeps; "
                                "scale the weights down (or use reduction='mean')")
    w = w.astype(dtype)
    w = w.reshape((n,) + (1,) * (like.ndim - 1)) if like.ndim else w.reshape(())
    return as_array_like(w, like)


def _loss_saved_again(out: Tensor) -> tuple:
    """The saved values for a gradient of a gradient: dloss recomputed from the input tensor
    by the loss's own derivative, so it is recorded as a function of the input."""
    (_, how), *scale = out.saved
    derivative, target, weight = how
    dloss = derivative(out.inputs[0], target)
    return ((dloss if weight is None else dloss * weight, how), *scale)


def _loss_primitives(name: str, formula: str) -> tuple[Primitive, Primitive]:
    """The reduced and the element-wise form of one loss, shown by the loss's own name."""
    def reduced(out: Tensor, g: ndarray) -> tuple:
        (dloss, _), scale = out.saved
        return (dloss * (g * scale),)

    def elementwise(out: Tensor, g: ndarray) -> tuple:
        ((dloss, _),) = out.saved
        return (g * dloss,)

    return (Primitive(name, reduced, formula, saved=_loss_saved_again),
            Primitive(name, elementwise, formula.replace(")", ", reduction='none')", 1),
                      saved=_loss_saved_again))


def _reduce(x: Tensor, loss: ndarray, dloss: ndarray, derivative: Derivative, target: Any,
            reduction: str, prims: tuple[Primitive, Primitive],
            weight: ndarray | None) -> Tensor:
    """Finish a loss node: ``loss`` holds per-element values, ``dloss`` their derivative,
    ``derivative(input, target)`` computes it again (for gradients of gradients)."""
    if weight is not None:
        loss = loss * weight
        dloss = dloss * weight
    how = (derivative, target, weight)
    if reduction == "none":
        return prims[1](loss, (x,), ((dloss, how),))
    xp = namespace(loss)
    total = xp.sum(loss)
    if reduction == "mean":
        if weight is None:
            scale = 1.0 / loss.size if loss.size else float("nan")
        else:
            per_example = loss.size // max(weight.size, 1)  # outputs per row
            scale = 1.0 / (float(xp.sum(weight)) * per_example)
        return prims[0](xp.asarray(total * scale, dtype=loss.dtype), (x,),
                        ((dloss, how), scale))
    return prims[0](xp.asarray(total, dtype=loss.dtype), (x,), ((dloss, how), 1.0))


# The derivatives dL/d(input) of the element-wise losses, on arrays or tensors alike.
def _squared_error_derivative(x: Any, y: ndarray) -> Any:
    return 2 * (x - y)


def _logistic_derivative(z: Any, y: ndarray) -> Any:
    """sigmoid(z) - y: binary cross-entropy's from the logits."""
    return (ops.sigmoid(z) if isinstance(z, Tensor) else ops.stable_sigmoid(z)) - y


def _bce_derivative(p: Any, y: ndarray) -> Any:
    maximum = ops.maximum if isinstance(p, Tensor) else namespace(p).maximum
    return (p - y) / maximum(p * (1 - p), 1e-12)


def mse_loss(input: Tensor, target: Any, reduction: str = "mean",  # noqa: A002
             sample_weight: Any = None) -> Tensor:
    """Squared error (input - target)**2, averaged by default."""
    _check_reduction(reduction)
    y = _target(target, input, "mse_loss")
    diff = input.data - y
    w = _weights(sample_weight, diff, "mse_loss", reduction)
    # dloss is _squared_error_derivative(input.data, y), with input.data - y already at hand
    return _reduce(input, diff * diff, 2 * diff, _squared_error_derivative, y, reduction, _MSE,
                   w)


_MSE = _loss_primitives("mse_loss", "mse_loss({0}, target)")


def binary_cross_entropy_with_logits(logits: Tensor, target: Any, reduction: str = "mean",
                                     sample_weight: Any = None) -> Tensor:
    """-[y log sigmoid(z) + (1 - y) log(1 - sigmoid(z))] from logits z; dL/dz = sigmoid(z) - y.

    Written as max(z, 0) - z y + log(1 + e^-|z|), which is finite for any z.
    """
    _check_reduction(reduction)
    y = _target(target, logits, "binary_cross_entropy_with_logits")
    z = logits.data
    w = _weights(sample_weight, z, "binary_cross_entropy_with_logits", reduction)

    return _reduce(logits, bce_with_logits_terms(z, y), _logistic_derivative(z, y),
                   _logistic_derivative, y, reduction, _BCE_LOGITS, w)


_BCE_LOGITS = _loss_primitives("bce_with_logits_loss", "bce_with_logits_loss({0}, target)")
_BCE_OF_SIGMOID = _loss_primitives("bce_loss", "bce_loss(sigmoid({0}), target)")
_BCE = _loss_primitives("bce_loss", "bce_loss({0}, target)")


def bce_with_logits_terms(z: ndarray, y: ndarray) -> ndarray:
    """Binary cross-entropy of logits ``z`` against targets ``y``, element by element (no
    reduction, no graph): the one formula the loss and the compiled step share.

    >>> from chainrule.engine.backend import NUMPY as np
    >>> bce_with_logits_terms(np.asarray([0.0, 40.0]), np.asarray([1.0, 1.0])).round(6)
    array([0.693147, 0.      ])
    """
    # max(z, 0) - z y + log(1 + e^-|z|): never exponentiates a positive number.
    xp = namespace(z)
    if xp is not NUMPY:
        return xp.log1p(xp.exp(-xp.abs(z))) + xp.maximum(z, 0.0) - z * y
    # In place on the CPU, because on small batches the allocations cost as much as the
    # arithmetic.
    loss = xp.abs(z)
    xp.negative(loss, out=loss)
    xp.exp(loss, out=loss)
    xp.log1p(loss, out=loss)
    loss += xp.maximum(z, 0)
    loss -= z * y
    return loss


def binary_cross_entropy(probs: Tensor, target: Any, reduction: str = "mean",
                         sample_weight: Any = None) -> Tensor:
    """Binary cross-entropy of probabilities.

    When ``probs`` is the output of :func:`chainrule.sigmoid` (as after ``nn.Sigmoid()``), the
    loss is computed from the sigmoid's input instead, so the gradient reaching the logits is
    exactly the course's ``p - y`` and stays finite when p rounds to 0 or 1.  Otherwise the
    logarithms are clamped at -100, as in PyTorch.
    """
    _check_reduction(reduction)
    if probs.op == "sigmoid":  # sigmoid + BCE: work from the logits
        z = probs.inputs[0]
        y = _target(target, z, "binary_cross_entropy")
        w = _weights(sample_weight, z.data, "binary_cross_entropy", reduction)
        # dloss is _logistic_derivative(z, y), with the sigmoid already computed: probs
        return _reduce(z, bce_with_logits_terms(z.data, y), probs.data - y,
                       _logistic_derivative, y, reduction, _BCE_OF_SIGMOID, w)
    p = probs.data
    xp = namespace(p)
    y = _target(target, probs, "binary_cross_entropy")
    if p.size and not (xp.min(p) >= 0 and xp.max(p) <= 1):  # NaN fails both comparisons
        h = to_numpy(p)
        raise DataError("binary_cross_entropy: inputs must be probabilities in [0, 1] (got "
                        f"values from {NUMPY.nanmin(h)} to {NUMPY.nanmax(h)}"
                        f"{', and NaN' if NUMPY.isnan(h).any() else ''}); for raw scores use "
                        "BCEWithLogitsLoss")
    with errstate(xp, divide="ignore"):
        log_p = xp.maximum(xp.log(p), -100)
        log_q = xp.maximum(xp.log1p(-p), -100)
    loss = -(y * log_p + (1 - y) * log_q)
    w = _weights(sample_weight, p, "binary_cross_entropy", reduction)
    return _reduce(probs, loss, _bce_derivative(p, y), _bce_derivative, y, reduction, _BCE, w)


def cross_entropy(logits: Tensor, target: Any, reduction: str = "mean",
                  sample_weight: Any = None, ignore_index: int = -100) -> Tensor:
    """Softmax cross-entropy from logits of shape (N, C), or PyTorch's (N, C, d1, ...) for a
    class per position (a sequence's tokens, an image's pixels), or (C,) for one example.

    ``target`` is either integer class labels of shape (N,) (or (N, d1, ...)) or class
    probabilities (one-hot or soft) shaped like the logits.  Labels equal to ``ignore_index``
    (PyTorch's -100 by default: padding) count for nothing, and ``'mean'`` divides by the
    labels kept.  ``sample_weight`` weighs each of the N examples.  dL/dz = softmax(z) - y, the
    course's output delta.
    """
    _check_reduction(reduction)
    if not isinstance(logits, Tensor):
        logits = Tensor(logits)
    shape = logits.shape
    if len(shape) == 2:
        return _cross_entropy_rows(logits, target, reduction, sample_weight, ignore_index)
    if len(shape) == 1:  # one example: (C,) logits, a label or (C,) probabilities
        t = target.data if isinstance(target, Tensor) else target
        t = as_array_like(t, logits.data) if type(t) is not type(logits.data) else t
        t = namespace(t).reshape(t, (1, -1) if t.ndim == 1 else (1,))
        out = _cross_entropy_rows(ops.reshape(logits, 1, shape[0]), t, reduction,
                                  sample_weight, ignore_index)
        return ops.reshape(out, ()) if reduction == "none" else out
    if len(shape) == 0:
        raise ShapeError("cross_entropy: logits must have shape (N, C), (N, C, d1, ...) or "
                         "(C,), got a 0-d tensor")
    # (N, C, d1, ...): the class axis last, then one row per position
    n, c, rest = shape[0], shape[1], shape[2:]
    perm = (0, *range(2, len(shape)), 1)
    rows = ops.reshape(ops.transpose(logits, perm), -1, c)
    t = target.data if isinstance(target, Tensor) else target
    t = as_array_like(t, logits.data) if type(t) is not type(logits.data) else t
    xp = namespace(logits.data)
    if t.shape == shape:  # probabilities per position
        t = xp.reshape(xp.permute_dims(t, perm), (-1, c))
    elif t.shape == (n, *rest):
        t = xp.reshape(t, (-1,))
    else:
        raise ShapeError(f"cross_entropy: logits have shape {shape}; the target must be labels "
                         f"of shape {(n, *rest)} or probabilities of shape {shape}, got "
                         f"{t.shape}")
    w = None
    if sample_weight is not None:  # each example's weight, at each of its positions
        w = NUMPY.repeat(NUMPY.asarray(to_numpy(getattr(sample_weight, "data",
                                                         sample_weight))), math.prod(rest))
    out = _cross_entropy_rows(rows, t, reduction, w, ignore_index)
    return ops.reshape(out, (n, *rest)) if reduction == "none" else out


def _cross_entropy_rows(logits: Tensor, target: Any, reduction: str, sample_weight: Any,
                        ignore_index: int) -> Tensor:
    z = logits.data
    n, c = z.shape
    xp = namespace(z)
    t = target.data if isinstance(target, Tensor) else target
    if type(t) is not type(z):
        t = as_array_like(t, z)
    shifted = z - xp.max(z, axis=1, keepdims=True)
    e = xp.exp(shifted)
    sum_e = xp.sum(e, axis=1, keepdims=True)
    log_p = shifted - xp.log(sum_e)
    p = e / sum_e
    onehot = soft = None  # the target, as _softmax_ce_derivative reads it
    kind = _kind(xp, t.dtype)
    keep = None  # 1 for the labels that count, 0 for ignore_index's
    if t.shape == (n,) and kind in ("i", "b"):
        labels = t if t.dtype == xp.int64 else xp.astype(t, xp.int64)
        # Only a negative label (or a class number asked for) can be ignore_index's: on the
        # usual batch, labels all in 0..C-1, it costs the range check's own minimum.
        lo = xp.min(labels) if n else 0
        if n and (ignore_index >= 0 or lo < 0):
            hit = labels == ignore_index
            if bool(xp.any(hit)):
                keep = xp.astype(~hit, z.dtype)
                labels = xp.where(hit, xp.zeros_like(labels), labels)
                lo = xp.min(labels)
        if n and (lo < 0 or xp.max(labels) >= c):
            h = to_numpy(labels)
            bad = h[(h < 0) | (h >= c)][0]
            raise DataError(f"cross_entropy: class label {bad} is outside 0..{c - 1} "
                             f"(the logits have {c} classes)")
        if xp is NUMPY:  # fancy indexing, in place: the fastest on the CPU
            rows = xp.arange(n)
            loss = -log_p[rows, labels]
            p[rows, labels] -= 1  # p - onehot(y), in place
            delta = p
        else:
            loss = -xp.take_along_axis(log_p, labels[:, None], axis=1)[:, 0]
            delta = p - xp.astype(labels[:, None] == xp.arange(c)[None, :], p.dtype)
        onehot = (labels, c)
    elif t.shape == (n, c):
        y = xp.astype(t, z.dtype, copy=False)
        loss = -xp.sum(y * log_p, axis=1)
        # = p - y when rows of y sum to 1
        delta = p * xp.sum(y, axis=1, keepdims=True) - y
        soft = y
    elif t.shape == (n,):
        raise DataError(f"cross_entropy: class labels must be integers, got dtype "
                        f"{dtype_name(t.dtype)}")
    else:
        raise ShapeError(f"cross_entropy: logits have shape {z.shape}; the target must be "
                         f"labels of shape ({n},) or probabilities of shape ({n}, {c}), "
                         f"got {t.shape}")
    w = _weights(sample_weight, loss, "cross_entropy", reduction)
    if keep is not None:  # ignored labels weigh 0, and 'mean' divides by the kept ones
        w = keep if w is None else w * keep
    if w is not None:
        loss = loss * w
        delta = delta * w[:, None]
    how = (_softmax_ce_derivative, (onehot, soft), None if w is None else w[:, None])
    if reduction == "none":
        return _CE_ROWS(loss, (logits,), ((delta, how),))
    denom = n if w is None else float(xp.sum(w))
    scale = (1.0 / denom if denom else float("nan")) if reduction == "mean" else 1.0
    return _CE(xp.asarray(xp.sum(loss) * scale, dtype=z.dtype), (logits,),
               ((delta, how), scale))


def _softmax_ce_derivative(z: Tensor, target: tuple) -> Tensor:
    """dL/dz = softmax(z) * sum(y) - y of softmax cross-entropy, on the logits tensor, for
    labels (``target[0]``: the labels and the number of classes) or class probabilities
    (``target[1]``); the forward computes the same on arrays, in place, from the softmax it
    already has."""
    onehot, y = target
    xp = namespace(z.data)
    if onehot is not None:
        labels, c = onehot
        return ops.softmax(z, axis=1) - xp.take(xp.eye(c, dtype=z.dtype), labels, axis=0)
    return ops.softmax(z, axis=1) * xp.sum(y, axis=1, keepdims=True) - y


def _rowwise_loss_backward(out: Tensor, g: ndarray) -> tuple:
    ((delta, _),) = out.saved
    return (delta * namespace(g).reshape(g, (-1, 1)),)


_CE = _loss_primitives("cross_entropy_loss", "cross_entropy_loss({0}, target)")[0]
_CE_ROWS = Primitive("cross_entropy_loss", _rowwise_loss_backward,
                     "cross_entropy_loss({0}, target, reduction='none')",
                     saved=_loss_saved_again)
