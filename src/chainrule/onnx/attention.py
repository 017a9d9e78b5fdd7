"""The ONNX forms of the attention layers, in evaluation form (dropout is the identity), opset 17.

========================  ====================================================================
layer                     ONNX operators
========================  ====================================================================
PositionalEncoding        Shape + Slice of the ``pe`` table (to the input's length) + Add
TransformerEncoderLayer   self-attention written out (MatMul, Split, Reshape, Transpose,
                          Softmax), LayerNormalization, MatMul + Add, Relu; no masks
========================  ====================================================================

A layer exported here runs without masks: a network in a file takes one input, and a
transformer layer inside it attends to every position; the character transformer's layers
carry its causal mask (:func:`causal_mask`, sliced to the input's length).  Each function
has the signature of :data:`chainrule.onnx.layers.EXPORTS`' entries,
``export(layer, graph, x, shape) -> str``.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..errors import ConfigError, ShapeError
from .graph import Graph

__all__ = ["ATTENTION_EXPORTS", "causal_mask", "positional_encoding_to_onnx",
           "transformer_encoder_layer_to_onnx"]

Shape = tuple[int | None, ...] | None


def _rank(layer: Any, shape: Shape) -> int:
    if shape is None or len(shape) not in (2, 3):
        raise ShapeError(f"{type(layer).__name__} needs inputs of rank 2 or 3 to export, got "
                         f"shape {shape}; pass example_input to export_onnx")
    return len(shape)


def _dense(graph: Graph, x: str, weight: np.ndarray, bias: Any, hint: str) -> str:
    """``x @ weight.T + bias`` on the last dimension, as the Linear layer computes."""
    y = graph.op("MatMul", x, graph.const(weight.T, f"{hint}.weight_t"), hint=hint)
    if bias is None:
        return y
    return graph.op("Add", y, graph.const(bias.data, f"{hint}.bias"), hint=hint)


def positional_encoding_to_onnx(layer: Any, graph: Graph, x: str, shape: Shape) -> str:
    """PositionalEncoding: ``x + pe[:L]``, the length L read from the input at run time."""
    rank = _rank(layer, shape)
    axis = 1 if layer.batch_first and rank == 3 else 0
    length = graph.op("Shape", x, start=axis, end=axis + 1, hint="pe.length")
    zero = graph.const(np.array([0], np.int64), "pe.start")
    table = graph.op("Slice", graph.const(layer.pe, "pe.table"), zero, length, zero,
                     hint="pe.rows")
    if rank == 3 and axis == 0:  # (L, E) -> (L, 1, E) against (L, N, E)
        table = graph.op("Unsqueeze", table, graph.const(np.array([1], np.int64), "pe.axis"),
                         hint="pe.rows")
    return graph.op("Add", x, table, hint="positional_encoding")


def causal_mask(graph: Graph, x: str, max_len: int) -> str:
    """The (L, L) causal mask for batch-first values ``x`` (0 on and below the diagonal, a
    large negative number above, as ``nn.generate_square_subsequent_mask``'s -inf): a
    (max_len, max_len) table sliced to the input's length L at run time."""
    # -1e9 rather than -inf (a model file's constants are finite numbers): exp(-1e9 - max)
    # is 0 in float32, so the softmax gives exactly the weights of the -inf mask.
    table = np.triu(np.full((max_len, max_len), -1e9, np.float32), k=1)
    length = graph.op("Shape", x, start=1, end=2, hint="causal.length")
    zero = graph.const(np.array([0], np.int64), "causal.start")
    rows = graph.op("Slice", graph.const(table, "causal.table"), zero, length, zero,
                    hint="causal.rows")
    one = graph.const(np.array([1], np.int64), "causal.axis")
    return graph.op("Slice", rows, zero, length, one, hint="causal.mask")


def _self_attention(attn: Any, graph: Graph, x: str, mask: str | None = None) -> str:
    """MultiheadAttention(x, x, x) on batch-first (N, L, E) values, with an additive (L, L)
    ``mask`` (:func:`causal_mask`) or none."""
    if attn.in_proj_weight is None:
        raise ConfigError("ONNX export: self-attention with kdim or vdim unlike embed_dim has "
                          "no ONNX form here")
    e, h, d = attn.embed_dim, attn.num_heads, attn.head_dim
    qkv = _dense(graph, x, attn.in_proj_weight.data, attn.in_proj_bias, "attn.in_proj")
    q, k, v = graph.op("Split", qkv, graph.const(np.array([e, e, e], np.int64), "attn.split"),
                       axis=-1, outputs=3, hint="attn.qkv")
    heads = graph.const(np.array([0, 0, h, d], np.int64), "attn.heads")
    q, k, v = (graph.op("Reshape", t, heads, hint="attn.heads") for t in (q, k, v))
    q = graph.op("Transpose", q, perm=[0, 2, 1, 3], hint="attn.q")
    k = graph.op("Transpose", k, perm=[0, 2, 3, 1], hint="attn.k_t")
    v = graph.op("Transpose", v, perm=[0, 2, 1, 3], hint="attn.v")
    scores = graph.op("Mul", graph.op("MatMul", q, k, hint="attn.scores"),
                      graph.const(np.array(1.0 / math.sqrt(d)), "attn.scale"),
                      hint="attn.scores")
    if mask is not None:  # (L, L) broadcast over (N, heads, L, L)
        scores = graph.op("Add", scores, mask, hint="attn.masked")
    weights = graph.op("Softmax", scores, axis=-1, hint="attn.weights")
    out = graph.op("Transpose", graph.op("MatMul", weights, v, hint="attn.heads_out"),
                   perm=[0, 2, 1, 3], hint="attn.heads_out")
    out = graph.op("Reshape", out, graph.const(np.array([0, 0, e], np.int64), "attn.merge"),
                   hint="attn.merged")
    return _dense(graph, out, attn.out_proj.weight.data, attn.out_proj.bias, "attn.out_proj")


def _layer_norm(graph: Graph, x: str, norm: Any, hint: str) -> str:
    return graph.op("LayerNormalization", x, graph.const(norm.weight.data, f"{hint}.scale"),
                    graph.const(norm.bias.data, f"{hint}.bias"), axis=-1,
                    epsilon=float(norm.eps), hint=hint)


def transformer_encoder_layer_to_onnx(layer: Any, graph: Graph, x: str, shape: Shape,
                                      causal_len: int | None = None) -> str:
    """TransformerEncoderLayer in evaluation form, with no mask (see the module's table), or
    with the causal mask of at most ``causal_len`` positions (the character transformer's)."""
    if layer.activation != "relu":
        raise ConfigError("ONNX export: a TransformerEncoderLayer exports with "
                          "activation='relu' only")
    rank = _rank(layer, shape)
    if rank == 2:  # one sequence (L, E): a batch of one
        x = graph.op("Unsqueeze", x, graph.const(np.array([0], np.int64), "enc.axis"),
                     hint="enc.batched")
    elif not layer.self_attn.batch_first:
        x = graph.op("Transpose", x, perm=[1, 0, 2], hint="enc.batch_first")

    mask = None if causal_len is None else causal_mask(graph, x, causal_len)

    def attention(t: str) -> str:
        return _self_attention(layer.self_attn, graph, t, mask)

    def feedforward(t: str) -> str:
        hidden = graph.op("Relu", _dense(graph, t, layer.linear1.weight.data, layer.linear1.bias,
                                         "enc.linear1"), hint="enc.relu")
        return _dense(graph, hidden, layer.linear2.weight.data, layer.linear2.bias,
                      "enc.linear2")

    if layer.norm_first:
        x = graph.op("Add", x, attention(_layer_norm(graph, x, layer.norm1, "enc.norm1")),
                     hint="enc.residual1")
        x = graph.op("Add", x, feedforward(_layer_norm(graph, x, layer.norm2, "enc.norm2")),
                     hint="enc.residual2")
    else:
        x = _layer_norm(graph, graph.op("Add", x, attention(x), hint="enc.residual1"),
                        layer.norm1, "enc.norm1")
        x = _layer_norm(graph, graph.op("Add", x, feedforward(x), hint="enc.residual2"),
                        layer.norm2, "enc.norm2")
    if rank == 2:
        return graph.op("Squeeze", x, graph.const(np.array([0], np.int64), "enc.axis"),
                        hint="transformer_encoder_layer")
    if not layer.self_attn.batch_first:
        return graph.op("Transpose", x, perm=[1, 0, 2], hint="transformer_encoder_layer")
    return x


ATTENTION_EXPORTS = {
    "PositionalEncoding": positional_encoding_to_onnx,
    "TransformerEncoderLayer": transformer_encoder_layer_to_onnx,
}
"""The ONNX form of each attention layer, by layer name (entries for
:data:`chainrule.onnx.layers.EXPORTS`)."""
