"""The transformer encoder layer, as ``torch.nn.TransformerEncoderLayer``: self-attention and a
two-layer feed-forward network, each with a residual connection and layer normalisation.

A GPT-style (decoder-only) block is the same layer with ``norm_first=True`` run with a causal
mask: ``layer(x, src_mask=generate_square_subsequent_mask(L), is_causal=True)``.

>>> import numpy as np, chainrule as cr
>>> layer = TransformerEncoderLayer(8, 2, dim_feedforward=16, dropout=0.0, rng=0)
>>> layer(cr.tensor(np.zeros((5, 3, 8), dtype="float32"))).shape       # (L, N, E)
(5, 3, 8)
>>> [name for name, _ in layer.named_parameters()][:4]
['self_attn.in_proj_weight', 'self_attn.in_proj_bias', 'self_attn.out_proj.weight', \
'self_attn.out_proj.bias']
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..engine import Tensor, ops
from ..engine.backend import dtype_name
from ..engine.random import RNGLike, get_rng
from ..errors import ConfigError
from ._checks import check_dtype, check_number, check_size, lookup
from .attention import MultiheadAttention
from .cells import as_input
from .layers import Dropout, Linear
from .module import Module, Shape
from .normalization import LayerNorm

__all__ = ["FEEDFORWARD_ACTIVATIONS", "TransformerEncoderLayer"]

FEEDFORWARD_ACTIVATIONS: dict[str, Callable[[Tensor], Tensor]] = {"relu": ops.relu}
"""The activations a transformer layer's feed-forward network may apply, by name.  PyTorch's
'gelu' is exact (it uses erf), which chainrule's operations cannot compose yet."""


class TransformerEncoderLayer(Module):
    """Self-attention then a feed-forward network, as ``torch.nn.TransformerEncoderLayer``
    (the same arguments, parameter names and shapes, initialisation and masks).

    With ``norm_first=False`` (the default, the original transformer)::

        x = norm1(x + dropout1(self_attn(x)))
        x = norm2(x + dropout2(linear2(dropout(activation(linear1(x))))))

    and with ``norm_first=True`` the norms come before each block: ``x = x + block(norm(x))``.
    Inputs are (L, N, d_model), (N, L, d_model) with ``batch_first=True``, or (L, d_model);
    ``src_mask`` and ``src_key_padding_mask`` follow :class:`MultiheadAttention` (a boolean
    True masks a position out, a float is added to the scores).  ``activation`` is 'relu' or a
    function of a tensor (a layer with a function cannot be saved to a file).

    >>> import numpy as np, chainrule as cr
    >>> layer = cr.nn.TransformerEncoderLayer(8, 2, dim_feedforward=16, batch_first=True, rng=0)
    >>> layer(np.zeros((3, 5, 8), np.float32)).shape
    (3, 5, 8)

    Args:
        d_model: Features of each position (input and output).
        nhead: Attention heads; must divide ``d_model``.
        dim_feedforward: Width of the feed-forward network's hidden layer.
        dropout: Probability used by every dropout (attention weights and the three
            ``dropout`` layers) while training.
        activation: The feed-forward network's activation: ``'relu'`` or a function of a
            tensor.
        layer_norm_eps: ``eps`` of the two LayerNorms.
        batch_first: Whether 3-D inputs are (N, L, d_model) rather than (L, N, d_model).
        norm_first: Whether the LayerNorms come before each block (pre-norm) rather than
            after the residual sum (post-norm).
        bias: Must be True (its LayerNorms always have a bias).
        dtype: Floating-point type of the parameters.
        rng: Seed or generator for the initial draw and the dropout masks; by default the
            shared generator.

    Forward arguments: ``src``; ``src_mask`` (L, L) or (N * nhead, L, L);
    ``src_key_padding_mask`` (N, L); ``is_causal`` (a hint that ``src_mask`` is the causal
    mask).  The output has the shape of ``src``.

    Raises:
        ConfigError: A size is not a positive integer, ``nhead`` does not divide
            ``d_model``, ``dropout`` is not in [0, 1), ``activation`` is neither a known
            name nor callable, ``bias=False``, or ``dtype`` is not a floating-point type;
            ``get_config`` (saving) with a function as the activation.
        ShapeError: When called, the input or a mask has the wrong shape.
    """

    def __init__(self, d_model: int, nhead: int, dim_feedforward: int = 2048,
                 dropout: float = 0.1, activation: str | Callable[[Tensor], Tensor] = "relu",
                 layer_norm_eps: float = 1e-5, batch_first: bool = False,
                 norm_first: bool = False, bias: bool = True, dtype: Any = "float32",
                 rng: RNGLike = None) -> None:
        super().__init__()
        who = "TransformerEncoderLayer"
        d_model = check_size(d_model, who, "d_model")
        dim_feedforward = check_size(dim_feedforward, who, "dim_feedforward")
        self.dropout_p = check_number(dropout, who, "dropout", 0.0, 1.0, high_open=True)
        layer_norm_eps = check_number(layer_norm_eps, who, "layer_norm_eps", 0.0, 1.0)
        dtype = check_dtype(dtype, who)
        if isinstance(activation, str):
            self.activation_fn = lookup(FEEDFORWARD_ACTIVATIONS, {}, activation,
                                        "transformer activation")
            activation = activation.lower()
        elif callable(activation):
            self.activation_fn = activation
        else:
            raise ConfigError(f"{who}: activation must be 'relu' or a function of a tensor, "
                              f"got {activation!r}")
        self.activation = activation
        if not bias:
            raise ConfigError(f"{who}: bias=False needs a LayerNorm without a bias, which "
                              "chainrule does not have yet; use bias=True")
        gen = get_rng(rng)
        self.self_attn = MultiheadAttention(d_model, nhead, dropout=dropout, bias=bias,
                                            batch_first=batch_first, dtype=dtype, rng=gen)
        self.linear1 = Linear(d_model, dim_feedforward, bias=bias, dtype=dtype, rng=gen)
        self.dropout = Dropout(dropout, rng=gen)
        self.linear2 = Linear(dim_feedforward, d_model, bias=bias, dtype=dtype, rng=gen)
        self.norm_first = bool(norm_first)
        self.norm1 = LayerNorm(d_model, eps=layer_norm_eps, dtype=dtype)
        self.norm2 = LayerNorm(d_model, eps=layer_norm_eps, dtype=dtype)
        self.dropout1 = Dropout(dropout, rng=gen)
        self.dropout2 = Dropout(dropout, rng=gen)

    def forward(self, src: Any, src_mask: Any = None, src_key_padding_mask: Any = None,
                is_causal: bool = False) -> Tensor:
        x = as_input(src, self.linear1.weight)
        if self.norm_first:
            x = x + self._attention_block(self.norm1(x), src_mask, src_key_padding_mask,
                                          is_causal)
            return x + self._feedforward_block(self.norm2(x))
        x = self.norm1(x + self._attention_block(x, src_mask, src_key_padding_mask, is_causal))
        return self.norm2(x + self._feedforward_block(x))

    def _attention_block(self, x: Tensor, mask: Any, padding: Any, is_causal: bool) -> Tensor:
        out, _ = self.self_attn(x, x, x, attn_mask=mask, key_padding_mask=padding,
                                need_weights=False, is_causal=is_causal)
        return self.dropout1(out)

    def _feedforward_block(self, x: Tensor) -> Tensor:
        # on the rows of a matrix: NumPy multiplies a 3-D input by the weights one sequence
        # at a time (32 x 12 x 64 by 64 x 256, float32: 624 us against 197 us as one product)
        rows = ops.reshape(x, (-1, x.shape[-1])) if x.ndim > 2 else x
        hidden = self.dropout(self.activation_fn(self.linear1(rows)))
        return self.dropout2(ops.reshape(self.linear2(hidden), x.shape))

    def get_config(self) -> dict[str, Any]:
        if not isinstance(self.activation, str):
            raise ConfigError("TransformerEncoderLayer: a layer whose activation is a "
                              "function cannot be described in a file; use activation='relu'")
        attn = self.self_attn
        return {"d_model": attn.embed_dim, "nhead": attn.num_heads,
                "dim_feedforward": self.linear1.out_features, "dropout": self.dropout_p,
                "activation": self.activation, "layer_norm_eps": self.norm1.eps,
                "batch_first": attn.batch_first, "norm_first": self.norm_first,
                "bias": attn.in_proj_bias is not None, "dtype": dtype_name(attn.dtype)}

    @classmethod
    def from_config(cls, config: Any) -> TransformerEncoderLayer:
        # The weights come from the file: a private seed keeps the shared generator still.
        return cls(**{**config, "rng": 0})

    def output_shape(self, input_shape: Shape) -> Shape:
        return self.self_attn.output_shape(input_shape)

    def extra_repr(self) -> str:
        return ("norm_first=True" if self.norm_first else "")
