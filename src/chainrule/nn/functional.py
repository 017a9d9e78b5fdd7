"""Loss functions as fused primitives, each forward beside its backward.

A loss computed from logits is one node whose backward is the seeds' output delta: for sigmoid
with binary cross-entropy and for softmax with cross-entropy, dL/dz = p - y (divided by the
number of terms for ``reduction='mean'``).  Computing it in one step is both faster and
stable: no log of a probability that rounded to 0.

Targets are data, not parameters: they are converted to the input's dtype and never receive a
gradient.
"""

from __future__ import annotations

from typing import Any

from ..engine import ConfigError, DataError, ShapeError, Tensor
from ..engine.backend import ndarray, xp
from ..engine.ops import _node, _sigmoid_backward, _stable_sigmoid

__all__ = [
    "REDUCTIONS",
    "binary_cross_entropy",
    "binary_cross_entropy_with_logits",
    "cross_entropy",
    "mse_loss",
]

REDUCTIONS = ("mean", "sum", "none")


def _target(target: Any, like: Tensor, name: str) -> ndarray:
    t = target.data if isinstance(target, Tensor) else target
    if type(t) is not ndarray:
        t = xp.asarray(t)
    if t.dtype.kind not in "biuf":
        raise DataError(f"{name}: target must be numeric, got dtype {t.dtype}")
    if t.shape != like.data.shape:
        raise ShapeError(
            f"{name}: input has shape {like.data.shape} but target has shape {t.shape}; they "
            "must match (reshape the target, e.g. y.reshape(-1, 1))"
        )
    return t.astype(like.data.dtype, copy=False)


def _check_reduction(reduction: str) -> None:
    if reduction not in REDUCTIONS:
        raise ConfigError(f"unknown reduction {reduction!r}; choose one of "
                          f"{', '.join(REDUCTIONS)}")


def _reduce(x: Tensor, loss: ndarray, dloss: ndarray, reduction: str) -> Tensor:
    """Finish a loss node: ``loss`` holds per-element values, ``dloss`` their derivative."""
    if reduction == "none":
        return _node(loss, (x,), _elementwise_loss_backward, dloss)
    if reduction == "mean":
        n = loss.size
        return _node(xp.asarray(loss.sum() / n, dtype=loss.dtype), (x,), _reduced_loss_backward,
                     (dloss, 1.0 / n))
    return _node(xp.asarray(loss.sum(), dtype=loss.dtype), (x,), _reduced_loss_backward,
                 (dloss, 1.0))


def _elementwise_loss_backward(out: Tensor, g: ndarray) -> tuple:
    return (g * out._saved,)


def _reduced_loss_backward(out: Tensor, g: ndarray) -> tuple:
    dloss, scale = out._saved
    return (dloss * (g * scale),)


def mse_loss(input: Tensor, target: Any, reduction: str = "mean") -> Tensor:  # noqa: A002
    """Squared error (input - target)**2, averaged by default."""
    _check_reduction(reduction)
    diff = input.data - _target(target, input, "mse_loss")
    return _reduce(input, diff * diff, 2 * diff, reduction)


def binary_cross_entropy_with_logits(logits: Tensor, target: Any,
                                     reduction: str = "mean") -> Tensor:
    """-[y log sigmoid(z) + (1 - y) log(1 - sigmoid(z))] from logits z; dL/dz = sigmoid(z) - y.

    Written as max(z, 0) - z y + log(1 + e^-|z|), which is finite for any z.
    """
    _check_reduction(reduction)
    y = _target(target, logits, "binary_cross_entropy_with_logits")
    z = logits.data
    return _reduce(logits, _bce_from_logits(z, y), _stable_sigmoid(z) - y, reduction)


def _bce_from_logits(z: ndarray, y: ndarray) -> ndarray:
    # max(z, 0) - z y + log(1 + e^-|z|): never exponentiates a positive number.  In place,
    # because on small batches the allocations cost as much as the arithmetic.
    loss = xp.abs(z)
    xp.negative(loss, out=loss)
    xp.exp(loss, out=loss)
    xp.log1p(loss, out=loss)
    loss += xp.maximum(z, 0)
    loss -= z * y
    return loss


def binary_cross_entropy(probs: Tensor, target: Any, reduction: str = "mean") -> Tensor:
    """Binary cross-entropy of probabilities.

    When ``probs`` is the output of :func:`chainrule.sigmoid` (as after ``nn.Sigmoid()``), the
    loss is computed from the sigmoid's input instead, so the gradient reaching the logits is
    exactly the seeds' ``p - y`` and stays finite when p rounds to 0 or 1.  Otherwise the
    logarithms are clamped at -100, as in PyTorch.
    """
    _check_reduction(reduction)
    if probs._backward is _sigmoid_backward:  # sigmoid + BCE: work from the logits
        z = probs._parents[0]
        y = _target(target, z, "binary_cross_entropy")
        return _reduce(z, _bce_from_logits(z.data, y), probs.data - y, reduction)
    p = probs.data
    y = _target(target, probs, "binary_cross_entropy")
    if p.size and (p.min() < 0 or p.max() > 1):
        raise DataError("binary_cross_entropy: inputs must be probabilities in [0, 1]; "
                         "for raw scores use BCEWithLogitsLoss")
    with xp.errstate(divide="ignore"):
        log_p = xp.maximum(xp.log(p), -100)
        log_q = xp.maximum(xp.log1p(-p), -100)
    loss = -(y * log_p + (1 - y) * log_q)
    dloss = (p - y) / xp.maximum(p * (1 - p), 1e-12)
    return _reduce(probs, loss, dloss, reduction)


def cross_entropy(logits: Tensor, target: Any, reduction: str = "mean") -> Tensor:
    """Softmax cross-entropy from logits of shape (N, C).

    ``target`` is either integer class labels of shape (N,) or class probabilities (one-hot or
    soft) of shape (N, C).  dL/dz = softmax(z) - y, the seeds' output delta.
    """
    _check_reduction(reduction)
    z = logits.data
    if z.ndim != 2:
        raise ShapeError(f"cross_entropy: logits must have shape (N, C), got {z.shape}")
    n, c = z.shape
    t = xp.asarray(target.data if isinstance(target, Tensor) else target)
    shifted = z - z.max(axis=1, keepdims=True)
    e = xp.exp(shifted)
    sum_e = e.sum(axis=1, keepdims=True)
    log_p = shifted - xp.log(sum_e)
    p = e / sum_e
    if t.shape == (n,) and t.dtype.kind in "iub":
        labels = t.astype(xp.intp)
        if n and (labels.min() < 0 or labels.max() >= c):
            bad = labels[(labels < 0) | (labels >= c)][0]
            raise DataError(f"cross_entropy: class label {bad} is outside 0..{c - 1} "
                             f"(the logits have {c} classes)")
        rows = xp.arange(n)
        loss = -log_p[rows, labels]
        p[rows, labels] -= 1  # p - onehot(y), in place
        delta = p
    elif t.shape == (n, c):
        y = t.astype(z.dtype, copy=False)
        loss = -(y * log_p).sum(axis=1)
        delta = p * y.sum(axis=1, keepdims=True) - y  # = p - y when rows of y sum to 1
    elif t.shape == (n,):
        raise DataError(f"cross_entropy: class labels must be integers, got dtype {t.dtype}")
    else:
        raise ShapeError(f"cross_entropy: logits have shape {z.shape}; the target must be "
                         f"labels of shape ({n},) or probabilities of shape ({n}, {c}), "
                         f"got {t.shape}")
    if reduction == "none":
        return _node(loss, (logits,), _rowwise_loss_backward, delta)
    scale = 1.0 / n if reduction == "mean" else 1.0
    return _node(xp.asarray(loss.sum() * scale, dtype=z.dtype), (logits,),
                 _reduced_loss_backward, (delta, scale))


def _rowwise_loss_backward(out: Tensor, g: ndarray) -> tuple:
    return (out._saved * g[:, None],)
