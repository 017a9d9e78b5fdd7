"""Attention layers, as PyTorch names them: :class:`MultiheadAttention`, the causal mask
:func:`generate_square_subsequent_mask` and the sinusoidal :class:`PositionalEncoding` of
PyTorch's transformer tutorial.  The function :func:`scaled_dot_product_attention` and the
masks' two conventions are in :mod:`chainrule.nn.sdpa` (imported here too).

Masks are data, not parameters: arrays (or tensors, whose values are read); NumPy masks go to
the device of the parameters.  A boolean mask of :class:`MultiheadAttention` is True where a
position is **masked out**; a float mask is added to the scores.  PyTorch's
``MultiheadAttention`` gives NaN for a query whose keys are all masked when
``need_weights=True`` and zeros when ``need_weights=False``; chainrule gives zeros in both.

Self-attention without dropout and without the weights (what a transformer layer asks for) is
three nodes, besides reshapes: the packed input projection, the attention of every head
(:func:`chainrule.nn.sdpa.self_attention`) and the output projection.

>>> import numpy as np, chainrule as cr
>>> mha = MultiheadAttention(4, 2, batch_first=True, rng=0)
>>> x = cr.tensor(np.ones((1, 3, 4), "float32"), requires_grad=True)
>>> out, _ = mha(x, x, x, need_weights=False)
>>> t, ops = out, []
>>> while t.inputs:
...     ops.append(t.op); t = t.inputs[0]
>>> [op for op in ops if op != "reshape"]
['linear', 'self_attention', 'linear']
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..engine import Tensor, ops
from ..engine.backend import dtype_name, namespace
from ..engine.devices import to_device
from ..engine.random import RNGLike, get_rng
from ..errors import ConfigError, ShapeError
from . import init as _init
from ._checks import check_dtype, check_number, check_size
from .layers import Dropout, Linear
from .module import Module, Parameter, Shape, empty
from .sdpa import (
    additive_mask,
    as_mask,
    attention,
    scaled_dot_product_attention,
    self_attention,
    tensor_like,
)

__all__ = [
    "MultiheadAttention",
    "PositionalEncoding",
    "generate_square_subsequent_mask",
    "scaled_dot_product_attention",
]


def generate_square_subsequent_mask(sz: int, dtype: Any = "float32",
                                    device: Any = None) -> Any:
    """The causal mask of ``torch.nn.Transformer.generate_square_subsequent_mask``: a float
    (sz, sz) array, 0 on and below the diagonal and ``-inf`` above, so position i attends to
    positions 0..i only.  A NumPy array, or an array on ``device`` when one is named (the
    attention layers move a NumPy mask to their device on every call; this saves the copy).

    >>> generate_square_subsequent_mask(3)
    array([[  0., -inf, -inf],
           [  0.,   0., -inf],
           [  0.,   0.,   0.]], dtype=float32)

    Args:
        sz: The sequence length (rows and columns of the mask).
        dtype: Floating-point type of the mask.
        device: Where the mask lives (``"cpu"``, ``"cuda"``); by default a NumPy array.

    Returns:
        The (sz, sz) mask, to pass as ``attn_mask``/``src_mask``.

    Raises:
        ConfigError: ``sz`` is not a positive integer.
    """
    sz = check_size(sz, "generate_square_subsequent_mask", "sz")
    # on the host: the standard has no triu
    mask = np.triu(np.full((sz, sz), -np.inf, dtype=check_dtype(dtype, "causal mask")), k=1)
    return mask if device is None else to_device(mask, device)


class MultiheadAttention(Module):
    """Multi-head attention, as ``torch.nn.MultiheadAttention``: the same arguments, parameter
    names and shapes, initialisation and mask conventions.

    Parameters: ``in_proj_weight`` (3E, E), the query, key and value projections stacked
    (xavier-uniform), or ``q_proj_weight`` (E, E), ``k_proj_weight`` (E, kdim) and
    ``v_proj_weight`` (E, vdim) when ``kdim`` or ``vdim`` differ from E; ``in_proj_bias``
    (3E,) (zeros); ``out_proj``, a Linear(E, E) whose bias starts at zero.

    ``forward(query, key, value)`` takes (L, N, E), (S, N, kdim), (S, N, vdim) (or
    (N, L, E)... with ``batch_first=True``, or (L, E)... for one sequence) and returns
    ``(output, weights)``: output like the query, weights (N, L, S) averaged over the heads,
    (N, num_heads, L, S) with ``average_attn_weights=False``, or None with
    ``need_weights=False``.  Boolean masks are True where a position is **masked out**:
    ``key_padding_mask`` (N, S) and ``attn_mask`` (L, S) or (N * num_heads, L, S); float
    masks are added to the scores.

    >>> import numpy as np, chainrule as cr
    >>> mha = MultiheadAttention(8, 2, batch_first=True, rng=0)
    >>> x = cr.tensor(np.zeros((3, 5, 8), dtype="float32"))
    >>> out, w = mha(x, x, x)
    >>> out.shape, w.shape, [n for n, _ in mha.named_parameters()]
    ((3, 5, 8), (3, 5, 5), ['in_proj_weight', 'in_proj_bias', 'out_proj.weight', 'out_proj.bias'])

    Args:
        embed_dim: Features E of the query and of the output.
        num_heads: Parallel heads; each takes ``embed_dim // num_heads`` features.
        dropout: Probability of zeroing each attention weight while training.
        bias: Whether the input and output projections learn biases.
        batch_first: Whether inputs and output are (N, L, E) rather than (L, N, E).
        kdim: Features of the key; by default ``embed_dim``.
        vdim: Features of the value; by default ``embed_dim``.
        dtype: Floating-point type of the parameters.
        rng: Seed or generator for the initial draw and the dropout masks; by default the
            shared generator.

    Forward arguments: ``query``, ``key``, ``value`` as above; ``key_padding_mask`` (N, S);
    ``need_weights`` (False returns None for the weights); ``attn_mask`` (L, S) or
    (N * num_heads, L, S); ``average_attn_weights`` (average the weights over heads);
    ``is_causal`` (a hint that ``attn_mask`` is the causal mask, which must be given too).

    Raises:
        ConfigError: A size is not a positive integer, ``embed_dim`` is not divisible by
            ``num_heads``, ``dropout`` is not in [0, 1), or ``dtype`` is not a floating-point
            type; when called, ``is_causal=True`` without an ``attn_mask``.
        ShapeError: When called, the query, key, value or a mask has the wrong shape.
    """

    def __init__(self, embed_dim: int, num_heads: int, dropout: float = 0.0, bias: bool = True,
                 batch_first: bool = False, kdim: int | None = None, vdim: int | None = None,
                 dtype: Any = "float32", rng: RNGLike = None) -> None:
        super().__init__()
        who = "MultiheadAttention"
        self.embed_dim = e = check_size(embed_dim, who, "embed_dim")
        self.num_heads = check_size(num_heads, who, "num_heads")
        if e % self.num_heads:
            raise ConfigError(f"{who}: embed_dim ({e}) must be divisible by num_heads "
                              f"({self.num_heads}): each head takes embed_dim / num_heads "
                              "features")
        self.head_dim = e // self.num_heads
        self.kdim = e if kdim is None else check_size(kdim, who, "kdim")
        self.vdim = e if vdim is None else check_size(vdim, who, "vdim")
        self.dropout = check_number(dropout, who, "dropout", 0.0, 1.0, high_open=True)
        self.batch_first = bool(batch_first)
        dt = check_dtype(dtype, who)
        self.rng = gen = get_rng(rng)
        if self.kdim == e and self.vdim == e:
            self.in_proj_weight = _init.xavier_uniform_(Parameter(empty((3 * e, e), dt, who)),
                                                        rng=gen)
        else:  # PyTorch's separate projections; each is initialised on its own
            self.in_proj_weight = None
            for name, d in (("q_proj_weight", e), ("k_proj_weight", self.kdim),
                            ("v_proj_weight", self.vdim)):
                setattr(self, name, _init.xavier_uniform_(Parameter(empty((e, d), dt, who)),
                                                          rng=gen))
        self.in_proj_bias = (_init.zeros_(Parameter(empty((3 * e,), dt, who))) if bias
                             else None)
        self.out_proj = Linear(e, e, bias=bias, dtype=dt, rng=gen)
        if bias:
            _init.zeros_(self.out_proj.bias)

    @property
    def dtype(self) -> Any:
        return self.out_proj.weight.data.dtype

    def get_config(self) -> dict[str, Any]:
        return {"embed_dim": self.embed_dim, "num_heads": self.num_heads,
                "dropout": self.dropout, "bias": self.in_proj_bias is not None,
                "batch_first": self.batch_first, "kdim": self.kdim, "vdim": self.vdim,
                "dtype": dtype_name(self.dtype)}

    @classmethod
    def from_config(cls, config: Any) -> MultiheadAttention:
        # The weights come from the file: a private seed keeps the shared generator still.
        return cls(**{**config, "rng": 0})

    def _project(self, query: Tensor, key: Tensor, value: Tensor) -> tuple[Tensor, ...]:
        """The three input projections, (N, L, E) each; self-attention as one product."""
        e, b = self.embed_dim, self.in_proj_bias
        parts = [slice(0, e), slice(e, 2 * e), slice(2 * e, 3 * e)]
        if self.in_proj_weight is None:
            weights = [self.q_proj_weight, self.k_proj_weight, self.v_proj_weight]
        elif query is key and key is value:
            both = ops.linear(query, self.in_proj_weight, b)
            return tuple(both[..., s] for s in parts)
        else:
            weights = [self.in_proj_weight[s] for s in parts]
        biases = [None] * 3 if b is None else [b[s] for s in parts]
        return tuple(ops.linear(x, w, bb) for x, w, bb in zip((query, key, value), weights,
                                                              biases))

    def _heads(self, x: Tensor) -> Tensor:
        n, length, _ = x.shape
        return ops.transpose(ops.reshape(x, (n, length, self.num_heads, self.head_dim)),
                             0, 2, 1, 3)

    def forward(self, query: Any, key: Any, value: Any, key_padding_mask: Any = None,
                need_weights: bool = True, attn_mask: Any = None,
                average_attn_weights: bool = True,
                is_causal: bool = False) -> tuple[Tensor, Tensor | None]:
        w = self.out_proj.weight.data
        is_self = query is key and key is value
        q, k, v = (tensor_like(t, w) for t in (query, key, value))
        if is_self:  # one projection product instead of three
            k = v = q
        batched = self._check(q, k, v)
        if not batched:
            q, k, v = (ops.reshape(t, (1, *t.shape)) for t in (q, k, v))
        elif not self.batch_first:  # work batch-first: (N, L, E)
            q, k, v = (ops.transpose(t, 1, 0, 2) for t in (q, k, v))
        if is_self:
            k = v = q
        n, length, _ = q.shape
        source = k.shape[1]
        bias = self._bias(key_padding_mask, attn_mask, is_causal, batched, n, length, source)
        p = self.dropout if self.training else 0.0
        scale = 1.0 / math.sqrt(self.head_dim)
        if is_self and p == 0 and not need_weights and self.in_proj_weight is not None:
            # one node for every head: no head split, slices or merge in the graph; the
            # projections on the rows of a matrix (one product, not one per sequence)
            rows = ops.reshape(q, (n * length, self.embed_dim))
            both = ops.reshape(ops.linear(rows, self.in_proj_weight, self.in_proj_bias),
                               (n, length, 3 * self.embed_dim))
            out = self.out_proj(ops.reshape(self_attention(both, self.num_heads, bias, scale),
                                            (n * length, self.embed_dim)))
            out, weights = ops.reshape(out, (n, length, self.embed_dim)), None
        else:
            qp, kp, vp = self._project(q, k, v)
            out, weights = attention(self._heads(qp), self._heads(kp), self._heads(vp), bias,
                                     p, scale, self.rng, need_weights)
            out = self.out_proj(ops.reshape(ops.transpose(out, 0, 2, 1, 3),
                                            (n, length, self.embed_dim)))
        if not batched:
            out = ops.reshape(out, out.shape[1:])
        elif not self.batch_first:
            out = ops.transpose(out, 1, 0, 2)
        if not need_weights:
            return out, None
        if average_attn_weights:
            weights = weights.mean(axis=1)
        return out, (weights if batched else ops.reshape(weights, weights.shape[1:]))

    def _check(self, q: Tensor, k: Tensor, v: Tensor) -> bool:
        """Whether the inputs are batched; a ShapeError naming the expected shapes if they
        do not fit."""
        e, kd, vd = self.embed_dim, self.kdim, self.vdim
        if self.batch_first:
            want = f"(N, L, {e}), (N, S, {kd}) and (N, S, {vd})"
        else:
            want = f"(L, N, {e}), (S, N, {kd}) and (S, N, {vd})"
        want += f", or (L, {e}), (S, {kd}) and (S, {vd}) for one sequence"
        ranks = {q.ndim, k.ndim, v.ndim}
        ok = len(ranks) == 1 and ranks <= {2, 3} and (q.shape[-1], k.shape[-1],
                                                      v.shape[-1]) == (e, kd, vd)
        if ok and q.ndim == 3:
            bq, bk, bv = ((t.shape[0] if self.batch_first else t.shape[1]) for t in (q, k, v))
            ok = bq == bk == bv
        if ok:
            ok = k.shape[:-1] == v.shape[:-1]
        if not ok:
            raise ShapeError(f"MultiheadAttention: query, key and value must have shapes "
                             f"{want}; got {q.shape}, {k.shape} and {v.shape}")
        return q.ndim == 3

    def _bias(self, key_padding_mask: Any, attn_mask: Any, is_causal: bool, batched: bool,
              n: int, length: int, source: int) -> Any:
        """Both masks as one additive array broadcasting to the scores (N, heads, L, S), on
        the parameters' device."""
        w, h = self.out_proj.weight.data, self.num_heads
        dt = w.dtype
        if is_causal and attn_mask is None:
            raise ConfigError("MultiheadAttention: is_causal=True is a hint that attn_mask is "
                              "the causal mask, as in PyTorch; pass attn_mask="
                              f"generate_square_subsequent_mask({length}) with it")
        bias = None
        if attn_mask is not None:
            m = additive_mask(as_mask(attn_mask, "attn_mask", w), dt, False)
            shapes = [(length, source), (n * h, length, source) if batched else
                      (h, length, source)]
            if m.shape not in shapes:
                raise ShapeError(f"MultiheadAttention: attn_mask must have shape "
                                 f"{shapes[0]} or {shapes[1]}"
                                 f"{' (N * num_heads, L, S)' if batched else ''}, got {m.shape}")
            bias = m if m.ndim == 2 else namespace(m).reshape(m, (n, h, length, source))
        if key_padding_mask is not None:
            m = additive_mask(as_mask(key_padding_mask, "key_padding_mask", w), dt, False)
            want = (n, source) if batched else (source,)
            if m.shape != want:
                raise ShapeError(f"MultiheadAttention: key_padding_mask must have shape "
                                 f"{want} ({'(N, S)' if batched else '(S,)'}), got {m.shape}")
            m = namespace(m).reshape(m, (n, 1, 1, source))
            bias = m if bias is None else bias + m
        return bias

    def output_shape(self, input_shape: Shape) -> Shape:
        if input_shape is not None and (len(input_shape) not in (2, 3)
                                        or input_shape[-1] not in (None, self.embed_dim)):
            raise ShapeError(f"MultiheadAttention({self.embed_dim}, {self.num_heads}) needs "
                             f"queries of shape (L, N, {self.embed_dim}), got {input_shape}")
        return input_shape

    def extra_repr(self) -> str:
        return (f"{self.embed_dim}, {self.num_heads}"
                + (f", dropout={self.dropout}" if self.dropout else "")
                + ("" if self.in_proj_bias is not None else ", bias=False")
                + (", batch_first=True" if self.batch_first else "")
                + (f", kdim={self.kdim}" if self.kdim != self.embed_dim else "")
                + (f", vdim={self.vdim}" if self.vdim != self.embed_dim else ""))


class PositionalEncoding(Module):
    """Add the sinusoidal position code of "Attention is all you need" to a sequence, then
    dropout, as the ``PositionalEncoding`` of PyTorch's transformer tutorial.

    ``pe[pos, 2i] = sin(pos * div[i])`` and ``pe[pos, 2i + 1] = cos(pos * div[i])`` with
    ``div[i] = exp(-2i * ln(10000) / embed_dim)``; ``pe`` (max_len, embed_dim) is a buffer
    (saved, not trained).  Inputs are (L, N, E), (N, L, E) with ``batch_first=True``, or
    (L, E), with L at most ``max_len``.

    >>> import numpy as np, chainrule as cr
    >>> PositionalEncoding(4, dropout=0.0).pe[1].round(4)       # sin 1, cos 1, sin .01, cos .01
    array([0.8415, 0.5403, 0.01  , 1.    ], dtype=float32)

    Args:
        embed_dim: Features E of each position (the last dimension of the input).
        dropout: Probability of zeroing each output element while training.
        max_len: The most positions an input may have (the rows of ``pe``).
        batch_first: Whether 3-D inputs are (N, L, E) rather than (L, N, E).
        dtype: Floating-point type of the ``pe`` buffer.
        rng: Seed or generator for the dropout masks; by default the shared generator.

    Shapes: input ``(L, N, E)``, ``(N, L, E)`` with ``batch_first``, or ``(L, E)``; the
    output has the same shape.

    Raises:
        ConfigError: A size is not a positive integer, ``dropout`` is not in [0, 1), or
            ``dtype`` is not a floating-point type.
        ShapeError: When called, the input is not 2-D or 3-D ending in ``embed_dim``, or it
            has more than ``max_len`` positions.
    """

    def __init__(self, embed_dim: int, dropout: float = 0.1, max_len: int = 5000,
                 batch_first: bool = False, dtype: Any = "float32",
                 rng: RNGLike = None) -> None:
        super().__init__()
        self.embed_dim = d = check_size(embed_dim, "PositionalEncoding", "embed_dim")
        self.max_len = check_size(max_len, "PositionalEncoding", "max_len")
        self.batch_first = bool(batch_first)
        self.dropout = Dropout(dropout, rng=rng)
        # the table is made on the host; register_buffer puts it on the default device
        position = np.arange(self.max_len, dtype=np.float64)[:, None]
        div = np.exp(np.arange(0, d, 2, dtype=np.float64) * (-math.log(10000.0) / d))
        pe = empty((self.max_len, d), check_dtype(dtype, "PositionalEncoding"),
                   "PositionalEncoding")
        pe[:, 0::2] = np.sin(position * div)
        pe[:, 1::2] = np.cos(position * div[: d // 2])
        self.register_buffer("pe", pe)

    def forward(self, x: Any) -> Tensor:
        x = tensor_like(x, self.pe)
        if x.ndim not in (2, 3) or x.shape[-1] != self.embed_dim:
            raise ShapeError(f"PositionalEncoding({self.embed_dim}) needs inputs of shape "
                             f"{'(N, L' if self.batch_first else '(L, N'}, {self.embed_dim}) "
                             f"or (L, {self.embed_dim}), got {x.shape}")
        axis = 1 if self.batch_first and x.ndim == 3 else 0
        length = x.shape[axis]
        if length > self.max_len:
            raise ShapeError(f"PositionalEncoding: the sequence has {length} positions, more "
                             f"than max_len={self.max_len}; build it with a larger max_len")
        pe = self.pe[:length, :]
        if x.ndim == 3:
            pe = namespace(pe).expand_dims(pe, axis=1 - axis)
        return self.dropout(x + pe)

    def get_config(self) -> dict[str, Any]:
        return {"embed_dim": self.embed_dim, "dropout": self.dropout.p,
                "max_len": self.max_len, "batch_first": self.batch_first,
                "dtype": dtype_name(self.pe.dtype)}

    def output_shape(self, input_shape: Shape) -> Shape:
        if input_shape is not None and (len(input_shape) not in (2, 3)
                                        or input_shape[-1] not in (None, self.embed_dim)):
            raise ShapeError(f"PositionalEncoding({self.embed_dim}) needs inputs ending in "
                             f"{self.embed_dim} features, got {input_shape}")
        return input_shape

    def extra_repr(self) -> str:
        return (f"{self.embed_dim}, dropout={self.dropout.p}, max_len={self.max_len}"
                + (", batch_first=True" if self.batch_first else ""))
