"""Scaled dot-product attention: ``softmax(q @ k^T * scale + mask) @ v`` as PyTorch's
function computes it, its masks, and the attention node the layers record (the causal mask
:func:`~chainrule.nn.attention.generate_square_subsequent_mask`, made on the host, is with
the layers).

The two mask conventions are PyTorch's, and they are opposite for boolean masks:

* :func:`scaled_dot_product_attention`: a boolean ``attn_mask`` says where a query **may**
  attend (True = keep);
* :class:`~chainrule.nn.attention.MultiheadAttention` (and the transformer layers): a boolean
  ``attn_mask`` or ``key_padding_mask`` says what is **masked out** (True = ignore).

In both, a floating-point mask is added to the scores (``-inf`` removes a position).  A query
that may attend to nothing (its whole row masked) gets zero weights and a zero output with
zero gradients, as PyTorch's ``scaled_dot_product_attention`` gives (its "safe softmax").

Without dropout the whole product is one graph node (``attention``, or ``self_attention``
for the packed projection of a self-attention layer, heads split and merged inside): its
backward is five batched products, ``dv = p^T g``, ``dp = g v^T``, ``ds = p * (dp -
sum(dp * p))``, ``dq = ds k * scale``, ``dk = ds^T q * scale``, with the weights ``p`` kept
from the forward pass.  The rule uses array-API functions only, so a gradient of a gradient
runs it again on tensors (``p`` recomputed from the inputs by recorded operations).  With
dropout, or when the weights are wanted as a tensor, the same arithmetic is composed of the
engine's operations (:func:`attention`).

>>> import numpy as np, chainrule as cr
>>> q = cr.tensor(np.ones((1, 2, 4)))
>>> scaled_dot_product_attention(q, q, cr.tensor(np.arange(8.0).reshape(1, 2, 4)),
...                              is_causal=True).data[0]       # row 0 sees only position 0
array([[0., 1., 2., 3.],
       [2., 3., 4., 5.]])
"""

from __future__ import annotations

import math
from typing import Any

from ..engine import Primitive, Tensor, ops
from ..engine.backend import dtype_name, namespace, ndarray
from ..engine.devices import device_of
from ..engine.random import RNGLike, get_rng
from ..errors import ConfigError, ShapeError
from ._arrays import as_array_like
from ._checks import check_number

__all__ = ["additive_mask", "as_mask", "attention", "scaled_dot_product_attention",
           "self_attention", "tensor_like"]


def as_mask(mask: Any, name: str, like: Any) -> Any:
    """``mask`` as a boolean or floating-point array on the device of array ``like``."""
    a = as_array_like(mask.data if isinstance(mask, Tensor) else mask, like)
    kind = dtype_name(a.dtype)
    if kind != "bool" and not kind.startswith("float"):
        raise ConfigError(f"{name} must be boolean or floating point, got dtype {kind}; "
                          "use a bool array (which positions) or a float one (added to the "
                          "scores, -inf removes a position)")
    return a


def additive_mask(mask: Any, dtype: Any, true_means_keep: bool) -> Any:
    """A mask as numbers added to the scores: float masks as they are, boolean ones as 0
    where a position is kept and -inf where it is removed (``dtype``: the scores' dtype, of
    the mask's library)."""
    xp = namespace(mask)
    if dtype_name(mask.dtype) != "bool":
        return xp.astype(mask, dtype, copy=False)
    keep = mask if true_means_keep else ~mask
    return xp.where(keep, xp.zeros((), dtype=dtype), xp.full((), -math.inf, dtype=dtype))


def _safe_softmax(scores: Tensor) -> Tensor:
    """Softmax over the last axis; a row that is all ``-inf`` (nothing to attend to) gives
    zeros, and no NaN reaches the gradient (the softmax never sees that row)."""
    xp = namespace(scores.data)
    alive = xp.any(scores.data > -math.inf, axis=-1, keepdims=True)
    if bool(xp.all(alive)):
        return ops.softmax(scores, -1)
    return ops.where(alive, ops.softmax(ops.where(alive, scores, 0.0), -1), 0.0)


def _dropout(weights: Tensor, p: float, rng: RNGLike) -> Tensor:
    if p == 0:
        return weights
    # drawn on the host (one seed, one mask on every device), then moved once
    keep = get_rng(rng).random(weights.shape) >= p
    w = weights.data
    return weights * as_array_like(keep.astype(dtype_name(w.dtype)) / (1 - p), w)


def _check_bias(bias: Any, scores: tuple[int, ...]) -> None:
    """A mask must broadcast to the scores' shape (..., L, S) without growing them."""
    shape = bias.shape
    if not (len(shape) <= len(scores) and all(
            n in (1, m) for n, m in zip(reversed(shape), reversed(scores)))):
        raise ShapeError(f"attention: the mask of shape {shape} does not broadcast to the "
                         f"scores' shape {scores} (..., L, S)")


# -- the attention node -------------------------------------------------------------------------
def _weights(xp: Any, q: ndarray, k: ndarray, bias: Any, scale: float) -> ndarray:
    """softmax(q k^T * scale + bias) over the last axis, rows with nothing to attend to zero."""
    s = (q @ xp.matrix_transpose(k)) * scale
    if bias is not None:
        s = s + bias
    top = xp.max(s, axis=-1, keepdims=True)
    e = xp.exp(s - xp.where(top > -math.inf, top, 0))  # an all -inf row: exp gives zeros
    total = xp.sum(e, axis=-1, keepdims=True)
    return e / xp.where(total > 0, total, 1)


def _grads(xp: Any, q: Any, k: Any, v: Any, p: Any, g: Any, scale: float) -> tuple:
    """dq, dk, dv of ``p @ v`` with ``p = softmax(q k^T * scale + bias)``, for ``g``."""
    dv = xp.matrix_transpose(p) @ g
    dp = g @ xp.matrix_transpose(v)
    ds = p * (dp - xp.sum(dp * p, axis=-1, keepdims=True)) * scale
    return ds @ k, xp.matrix_transpose(ds) @ q, dv


def _weights_again(q: Tensor, k: Tensor, bias: Any, scale: float) -> Tensor:
    """The weights computed from tensors by recorded operations (a gradient of a gradient
    differentiates through them)."""
    scores = ops.matmul(q, ops.transpose(k, *range(k.ndim - 2), k.ndim - 1, k.ndim - 2))
    scores = scores * scale
    return _safe_softmax(scores if bias is None else scores + bias)


def _attend_backward(out: Tensor, g: ndarray) -> tuple:
    p, _, scale = out.saved
    q, k, v = (t.data for t in out.inputs)
    return _grads(namespace(g), q, k, v, p, g, scale)


def _attend_saved(out: Tensor) -> tuple:
    q, k, _ = out.inputs
    _, bias, scale = out.saved
    return _weights_again(q, k, bias, scale), bias, scale


ATTEND = Primitive("attention", _attend_backward, "attention({0}, {1}, {2})",
                   saved=_attend_saved)


def _split(xp: Any, qkv: Any, heads: int) -> tuple[Any, Any, Any]:
    """q, k, v of shape (N, heads, L, head_dim) from a packed projection (N, L, 3E)."""
    n, length, width = qkv.shape
    parts = xp.reshape(qkv, (n, length, 3, heads, width // (3 * heads)))
    return tuple(xp.permute_dims(parts[:, :, i, ...], (0, 2, 1, 3)) for i in range(3))


def _merge(xp: Any, heads: Any) -> Any:
    """(N, heads, L, head_dim) -> (N, L, heads * head_dim)."""
    n, h, length, d = heads.shape
    return xp.reshape(xp.permute_dims(heads, (0, 2, 1, 3)), (n, length, h * d))


def _packed_backward(out: Tensor, g: ndarray) -> tuple:
    p, _, scale, heads = out.saved
    xp = namespace(g)
    q, k, v = _split(xp, out.inputs[0].data, heads)
    n, length, width = g.shape
    grads = _grads(xp, q, k, v, p, xp.permute_dims(
        xp.reshape(g, (n, length, heads, width // heads)), (0, 2, 1, 3)), scale)
    # back to the packed layout (N, L, 3, heads, head_dim) in one copy
    packed = xp.stack([xp.permute_dims(d, (0, 2, 1, 3)) for d in grads], axis=2)
    return (xp.reshape(packed, (n, length, 3 * width)),)


def _packed_saved(out: Tensor) -> tuple:
    qkv = out.inputs[0]
    _, bias, scale, heads = out.saved
    q, k, _ = _split(qkv.__array_namespace__(), qkv, heads)
    return _weights_again(q, k, bias, scale), bias, scale, heads


SELF_ATTEND = Primitive("self_attention", _packed_backward, "self_attention({0})",
                        saved=_packed_saved)


def self_attention(qkv: Tensor, heads: int, bias: Any, scale: float) -> Tensor:
    """Multi-head self-attention from the packed projection ``qkv`` (N, L, 3E) (queries, keys
    and values side by side, each ``heads`` blocks wide) to the heads' outputs side by side
    (N, L, E), as one node; ``bias`` is added to the scores (N, heads, L, L)."""
    qd = qkv.data
    xp = namespace(qd)
    q, k, v = _split(xp, qd, heads)
    if bias is not None:
        _check_bias(bias, (*q.shape[:-1], k.shape[-2]))
    p = _weights(xp, q, k, bias, scale)
    return SELF_ATTEND(_merge(xp, p @ v), (qkv,), (p, bias, scale, heads))


def attention(query: Tensor, key: Tensor, value: Tensor, bias: Any, dropout_p: float,
              scale: float, rng: RNGLike = None, need_weights: bool = True
              ) -> tuple[Tensor, Tensor | None]:
    """The attention output and the weights: ``softmax(query @ key^T * scale + bias) @ value``
    with dropout on the weights; ``bias`` (additive, -inf removes) must broadcast to the
    scores' shape (..., L, S).  Without dropout and ``need_weights`` the product is one node
    and the weights come back as None."""
    if bias is not None:
        _check_bias(bias, (*query.shape[:-1], key.shape[-2]))
    if dropout_p == 0 and not need_weights:
        xp = namespace(query.data, key.data, value.data)
        p = _weights(xp, query.data, key.data, bias, scale)
        return ATTEND(p @ value.data, (query, key, value), (p, bias, scale)), None
    scores = ops.matmul(query, ops.transpose(key, *range(key.ndim - 2), key.ndim - 1,
                                             key.ndim - 2)) * scale
    if bias is not None:
        scores = scores + bias
    weights = _dropout(_safe_softmax(scores), dropout_p, rng)
    return ops.matmul(weights, value), weights


def tensor_like(x: Any, like: Any = None, cast: bool = True) -> Tensor:
    """``x`` as a tensor; with array ``like``, on its device (host data is moved there, as a
    layer's parameters or the queries ask) and, with ``cast``, in its dtype."""
    if like is None:
        return x if isinstance(x, Tensor) else Tensor(x)
    if not isinstance(x, Tensor):
        x = Tensor(as_array_like(x, like), device=device_of(like))
    if not cast:
        return x
    have, want = x.data.dtype, like.dtype
    # by name: dtypes of two libraries never compare equal (array-api-strict warns)
    if have is want or dtype_name(have) == dtype_name(want):
        return x
    return ops.astype(x, dtype_name(want))


def scaled_dot_product_attention(query: Any, key: Any, value: Any, attn_mask: Any = None,
                                 dropout_p: float = 0.0, is_causal: bool = False,
                                 scale: float | None = None, *, rng: RNGLike = None) -> Tensor:
    """``softmax(query @ key^T * scale + mask) @ value``, as
    ``torch.nn.functional.scaled_dot_product_attention``.

    Shapes: query (..., L, E), key (..., S, E), value (..., S, Ev) -> (..., L, Ev); the
    leading dimensions broadcast.  ``scale`` defaults to 1/sqrt(E).  A boolean ``attn_mask``
    is True where a query may attend; a float one is added to the scores; either broadcasts
    to (..., L, S).  ``is_causal=True`` lets query i attend to keys 0..i (the lower triangle
    of an (L, S) mask; give no ``attn_mask`` with it).  ``dropout_p`` drops attention weights
    (always, as PyTorch's function does: pass 0 in evaluation), drawn from ``rng``.
    """
    q = tensor_like(query)
    k, v = tensor_like(key, q.data, cast=False), tensor_like(value, q.data, cast=False)
    if q.ndim < 2 or k.ndim < 2 or v.ndim < 2:
        raise ShapeError(f"scaled_dot_product_attention: query, key and value need shapes "
                         f"(..., L, E), (..., S, E) and (..., S, Ev), got {q.shape}, {k.shape} "
                         f"and {v.shape}")
    if q.shape[-1] != k.shape[-1] or k.shape[-2] != v.shape[-2]:
        raise ShapeError(f"scaled_dot_product_attention: query (..., L, E), key (..., S, E) "
                         f"and value (..., S, Ev) must agree in E and S, got {q.shape}, "
                         f"{k.shape} and {v.shape}")
    dropout_p = check_number(dropout_p, "scaled_dot_product_attention", "dropout_p", 0.0, 1.0,
                             high_open=True)
    qd = q.data
    length, source = q.shape[-2], k.shape[-2]
    if is_causal:
        if attn_mask is not None:
            raise ConfigError("scaled_dot_product_attention: give either attn_mask or "
                              "is_causal=True, not both (add the causal mask into yours)")
        xp = namespace(qd)
        rows = xp.arange(length)[:, None]  # the lower triangle, made on the queries' device
        bias = additive_mask(rows >= xp.arange(source)[None, :], qd.dtype, True)
    elif attn_mask is not None:
        bias = additive_mask(as_mask(attn_mask, "attn_mask", qd), qd.dtype, True)
    else:
        bias = None
    scale = 1.0 / math.sqrt(q.shape[-1]) if scale is None else float(scale)
    return attention(q, k, v, bias, dropout_p, scale, rng, need_weights=False)[0]
