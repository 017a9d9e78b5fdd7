"""Each layer's ONNX form: a function ``export(layer, graph, x, shape) -> str`` per class.

The export protocol is the one a layer class implements as a method,
``to_onnx(self, graph, x, shape) -> str``: add nodes to ``graph`` (a
:class:`chainrule.onnx.graph.Graph`) that compute the layer from the value named ``x``, whose
shape is ``shape`` (a tuple with None for unknown sizes such as the batch, or None when even
the rank is unknown), and return the name of the result.  :func:`export_layer` calls the
class's method where it has one and falls back on :data:`EXPORTS`, this module's table by
layer name.  Everything is exported in evaluation form: Dropout is the identity and batch
normalisation uses its running statistics.

========================  ====================================================================
layer                     ONNX operators (opset 17)
========================  ====================================================================
Linear                    Gemm (2-D input) or MatMul + Add
Sigmoid, Tanh, ReLU       Sigmoid, Tanh, Relu
LeakyReLU                 LeakyRelu (alpha = negative_slope)
Softmax, LogSoftmax       Softmax, LogSoftmax (axis)
Identity, Dropout(2d)     Identity
Flatten                   Flatten (start_dim 1 to the end) or Shape + Concat + Reshape
Unflatten                 Shape + Concat + Reshape
Conv2d                    Conv (pads, strides, dilations, group)
MaxPool2d, AvgPool2d      MaxPool, AveragePool (count_include_pad = 1)
AdaptiveAvgPool2d         GlobalAveragePool (1x1) or AveragePool (window = input / output)
BatchNorm1d, BatchNorm2d  BatchNormalization (running statistics); ReduceMean and
                          arithmetic without them
LayerNorm                 LayerNormalization (axis = -len(normalized_shape))
Embedding                 Cast (to int64) + Gather
RNN, LSTM, GRU            RNN, LSTM, GRU per layer (gates reordered to ONNX's: LSTM i o f c,
                          GRU z r h with linear_before_reset = 1); the output sequence only
CharBigram, CharMLP,      the character models: their layers' forms in turn (the
CharRecurrent,            transformer's layers with its causal mask, sliced to the input's
CharTransformer           length)
PositionalEncoding,       see :mod:`chainrule.onnx.attention` (no masks)
TransformerEncoderLayer
Sequential                its layers in order
========================  ====================================================================
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from ..errors import ConfigError, ShapeError
from ..nn import Module
from .attention import ATTENTION_EXPORTS, transformer_encoder_layer_to_onnx
from .graph import Graph

__all__ = ["EXPORTS", "export_layer", "layer_names"]

Shape = tuple[int | None, ...] | None
Export = Callable[[Any, Graph, str, Shape], str]


def export_layer(layer: Module, graph: Graph, x: str, shape: Shape) -> str:
    """Add ``layer``'s nodes to ``graph``, reading the value ``x`` of shape ``shape``;
    returns the output's name.  Raises :class:`ConfigError` for a layer with no ONNX form."""
    method = getattr(type(layer), "to_onnx", None)
    if method is not None:
        return method(layer, graph, x, shape)
    # A user's class that shares a name with one of chainrule's is registered under a dotted
    # name, so it never picks up chainrule's export by accident.
    fn = EXPORTS.get(type(layer).layer_name)
    if fn is None:
        raise ConfigError(
            f"ONNX export: {type(layer).__name__} has no ONNX form; layers that export are "
            f"{', '.join(layer_names())}.  Give the class a method to_onnx(self, graph, x, "
            "shape) that adds its nodes and returns the output's name (see "
            "chainrule.onnx.layers)")
    return fn(layer, graph, x, shape)


def layer_names() -> list[str]:
    """The layers that export, by name."""
    return sorted(EXPORTS)


# -- dense layers and activations ---------------------------------------------------------------
def linear_to_onnx(layer: Any, graph: Graph, x: str, shape: Shape) -> str:
    """Linear: ``Gemm(x, W, b, transB=1)`` for (N, in) inputs; ``MatMul(x, W.T) + b`` for
    others (the layer acts on the last dimension)."""
    w = layer.weight.data
    if shape is not None and len(shape) == 2:
        b = layer.bias.data if layer.bias is not None else np.zeros(w.shape[0])
        return graph.op("Gemm", x, graph.const(w, "linear.weight"),
                        graph.const(b, "linear.bias"), transB=1, hint="linear")
    y = graph.op("MatMul", x, graph.const(w.T, "linear.weight_t"), hint="linear")
    if layer.bias is None:
        return y
    return graph.op("Add", y, graph.const(layer.bias.data, "linear.bias"), hint="linear")


def _elementwise(op_type: str) -> Export:
    def export(layer: Any, graph: Graph, x: str, shape: Shape) -> str:
        return graph.op(op_type, x, hint=op_type.lower())

    export.__doc__ = f"The element-wise layer as ONNX {op_type}."
    return export


def identity_to_onnx(layer: Any, graph: Graph, x: str, shape: Shape) -> str:
    """Identity, and Dropout (the identity outside training): ONNX Identity."""
    return graph.op("Identity", x, hint=type(layer).__name__.lower())


def leaky_relu_to_onnx(layer: Any, graph: Graph, x: str, shape: Shape) -> str:
    """LeakyReLU: ``LeakyRelu(alpha=negative_slope)``."""
    return graph.op("LeakyRelu", x, alpha=float(layer.negative_slope), hint="leaky_relu")


def softmax_to_onnx(layer: Any, graph: Graph, x: str, shape: Shape) -> str:
    """Softmax and LogSoftmax along the layer's axis (ONNX's per-axis form, opset 13 on)."""
    op_type = "LogSoftmax" if type(layer).__name__ == "LogSoftmax" else "Softmax"
    return graph.op(op_type, x, axis=int(layer.axis), hint=op_type.lower())


def sequential_to_onnx(layer: Any, graph: Graph, x: str, shape: Shape) -> str:
    """Sequential: each layer's export in turn, the shape carried along."""
    for i, module in enumerate(layer):
        try:
            x = export_layer(module, graph, x, shape)
            shape = module.output_shape(shape)
        except (ConfigError, ShapeError) as err:
            raise type(err)(f"layer {i} ({type(module).__name__}): {err}") from None
    return x


def flatten_to_onnx(layer: Any, graph: Graph, x: str, shape: Shape) -> str:
    """Flatten(start_dim, end_dim): ONNX Flatten when it joins dimension 1 to the last,
    otherwise a Reshape to the kept leading and trailing sizes around -1."""
    if shape is None:
        if (layer.start_dim, layer.end_dim) == (1, -1):
            return graph.op("Flatten", x, axis=1, hint="flatten")
        raise ShapeError(f"Flatten(start_dim={layer.start_dim}, end_dim={layer.end_dim}) needs "
                         "the input's rank to export; pass example_input to export_onnx")
    rank = len(shape)
    start = layer.start_dim + rank if layer.start_dim < 0 else layer.start_dim
    end = layer.end_dim + rank if layer.end_dim < 0 else layer.end_dim
    if start == 1 and end == rank - 1:
        return graph.op("Flatten", x, axis=1, hint="flatten")
    if start >= end:
        return graph.op("Identity", x, hint="flatten")
    parts = []
    if start > 0:
        parts.append(graph.op("Shape", x, start=0, end=start, hint="flatten.head"))
    parts.append(graph.const(np.array([-1], np.int64), "flatten.joined"))
    if end < rank - 1:
        parts.append(graph.op("Shape", x, start=end + 1, hint="flatten.tail"))
    target = graph.op("Concat", *parts, axis=0, hint="flatten.shape") if len(parts) > 1 \
        else parts[0]
    return graph.op("Reshape", x, target, hint="flatten")


def unflatten_to_onnx(layer: Any, graph: Graph, x: str, shape: Shape) -> str:
    """Unflatten(dim, sizes): a Reshape to the sizes around dimension ``dim``, whose other
    dimensions (the batch among them) are read from the input at run time."""
    if layer.dim < 0 and shape is None:
        raise ShapeError(f"Unflatten(dim={layer.dim}) needs the input's rank to export; pass "
                         "example_input to export_onnx")
    axis = layer.dim if layer.dim >= 0 else layer.dim + len(shape)
    parts = []
    if axis > 0:
        parts.append(graph.op("Shape", x, start=0, end=axis, hint="unflatten.head"))
    parts.append(graph.const(np.array(layer.unflattened_size, np.int64), "unflatten.sizes"))
    if shape is None or axis < len(shape) - 1:
        parts.append(graph.op("Shape", x, start=axis + 1, hint="unflatten.tail"))
    target = graph.op("Concat", *parts, axis=0, hint="unflatten.shape") if len(parts) > 1 \
        else parts[0]
    return graph.op("Reshape", x, target, hint="unflatten")


# -- convolution and pooling ----------------------------------------------------------------------
def _onnx_pads(top: int, bottom: int, left: int, right: int) -> list[int]:
    return [top, left, bottom, right]  # ONNX: all the starts, then all the ends


def conv2d_to_onnx(layer: Any, graph: Graph, x: str, shape: Shape) -> str:
    """Conv2d: ONNX Conv (the same cross-correlation, NCHW, weight (O, C/groups, kh, kw))."""
    from ..nn.conv import resolve_padding  # the one rule for "same" and "valid"

    pad = resolve_padding(layer.padding, layer.kernel_size, layer.stride, layer.dilation,
                          "Conv2d")
    inputs = [x, graph.const(layer.weight.data, "conv.weight")]
    if layer.bias is not None:
        inputs.append(graph.const(layer.bias.data, "conv.bias"))
    return graph.op("Conv", *inputs, kernel_shape=list(layer.kernel_size),
                    strides=list(layer.stride), dilations=list(layer.dilation),
                    pads=_onnx_pads(*pad), group=int(layer.groups), hint="conv")


def max_pool2d_to_onnx(layer: Any, graph: Graph, x: str, shape: Shape) -> str:
    """MaxPool2d: ONNX MaxPool (padding never wins a max, as chainrule's -inf padding)."""
    ph, pw = layer.padding
    return graph.op("MaxPool", x, kernel_shape=list(layer.kernel_size),
                    strides=list(layer.stride), pads=[ph, pw, ph, pw], hint="max_pool")


def avg_pool2d_to_onnx(layer: Any, graph: Graph, x: str, shape: Shape) -> str:
    """AvgPool2d: ONNX AveragePool with the zero padding counted, as chainrule does."""
    ph, pw = layer.padding
    return graph.op("AveragePool", x, kernel_shape=list(layer.kernel_size),
                    strides=list(layer.stride), pads=[ph, pw, ph, pw], count_include_pad=1,
                    hint="avg_pool")


def adaptive_avg_pool2d_to_onnx(layer: Any, graph: Graph, x: str, shape: Shape) -> str:
    """AdaptiveAvgPool2d: GlobalAveragePool for output 1x1; otherwise AveragePool with
    window = stride = input size / output size, so the input's height and width must be
    known (chainrule pools equal windows only)."""
    oh, ow = layer.output_size
    if (oh, ow) == (1, 1):
        return graph.op("GlobalAveragePool", x, hint="adaptive_avg_pool")
    if shape is None or len(shape) != 4 or shape[2] is None or shape[3] is None:
        raise ShapeError(f"AdaptiveAvgPool2d(output_size={layer.output_size}) needs the input's "
                         "height and width to export; pass example_input to export_onnx")
    h, w = int(shape[2]), int(shape[3])
    if h % oh or w % ow:
        raise ShapeError(f"AdaptiveAvgPool2d(output_size={layer.output_size}) cannot pool "
                         f"{h}x{w} inputs into equal windows")
    k = [h // oh, w // ow]
    return graph.op("AveragePool", x, kernel_shape=k, strides=k, hint="adaptive_avg_pool")


# -- normalisation ------------------------------------------------------------------------------
def batch_norm_to_onnx(layer: Any, graph: Graph, x: str, shape: Shape) -> str:
    """BatchNorm1d/2d in evaluation form: BatchNormalization with the running statistics
    (scale 1 and shift 0 without ``affine``); a layer that keeps no running statistics
    normalises with the batch's own, written out with ReduceMean."""
    c = layer.num_features
    weight = layer.weight.data if layer.weight is not None else np.ones(c)
    bias = layer.bias.data if layer.bias is not None else np.zeros(c)
    if layer.running_mean is not None:
        return graph.op("BatchNormalization", x, graph.const(weight, "bn.scale"),
                        graph.const(bias, "bn.bias"), graph.const(layer.running_mean, "bn.mean"),
                        graph.const(layer.running_var, "bn.var"), epsilon=float(layer.eps),
                        hint="batch_norm")
    if shape is None:
        raise ShapeError(f"{type(layer).__name__} without running statistics needs the input's "
                         "rank to export; pass example_input to export_onnx")
    axes = [a for a in range(len(shape)) if a != 1]
    view = [1, c] + [1] * (len(shape) - 2)
    mean = graph.op("ReduceMean", x, axes=axes, keepdims=1, hint="bn.mean")
    centred = graph.op("Sub", x, mean, hint="bn.centred")
    var = graph.op("ReduceMean", graph.op("Mul", centred, centred), axes=axes, keepdims=1,
                   hint="bn.var")
    std = graph.op("Sqrt", graph.op("Add", var, graph.const(np.array(layer.eps), "bn.eps")),
                   hint="bn.std")
    y = graph.op("Div", centred, std, hint="bn.normed")
    y = graph.op("Mul", y, graph.const(weight.reshape(view), "bn.scale"), hint="bn.scaled")
    return graph.op("Add", y, graph.const(bias.reshape(view), "bn.bias"), hint="batch_norm")


def layer_norm_to_onnx(layer: Any, graph: Graph, x: str, shape: Shape) -> str:
    """LayerNorm: LayerNormalization over the last len(normalized_shape) axes (opset 17)."""
    ns = tuple(layer.normalized_shape)
    weight = layer.weight.data if layer.weight is not None else np.ones(ns)
    bias = layer.bias.data if layer.bias is not None else np.zeros(ns)
    return graph.op("LayerNormalization", x, graph.const(weight, "ln.scale"),
                    graph.const(bias, "ln.bias"), axis=-len(ns), epsilon=float(layer.eps),
                    hint="layer_norm")


# -- sequences ----------------------------------------------------------------------------------
def embedding_to_onnx(layer: Any, graph: Graph, x: str, shape: Shape) -> str:
    """Embedding: ``Gather(weight, Cast(x, int64))`` (the network's input is declared float32,
    which holds every index up to 2**24 exactly)."""
    idx = graph.op("Cast", x, to=7, hint="embedding.index")  # 7: TensorProto.INT64
    return graph.op("Gather", graph.const(layer.weight.data, "embedding.weight"), idx, axis=0,
                    hint="embedding")


# Where each of ONNX's gates sits in PyTorch's stacked weights: ONNX's LSTM stacks i, o, f, c
# (PyTorch i, f, g, o) and its GRU z, r, h (PyTorch r, z, n).
_ONNX_GATES = {"RNN": [0], "LSTM": [0, 3, 1, 2], "GRU": [1, 0, 2]}


def _onnx_gates(a: np.ndarray, kind: str, hidden: int) -> np.ndarray:
    """The rows of a stacked weight or bias (gates along axis 0) in ONNX's gate order."""
    return np.concatenate([a[g * hidden:(g + 1) * hidden] for g in _ONNX_GATES[kind]])


def recurrent_to_onnx(layer: Any, graph: Graph, x: str, shape: Shape) -> str:
    """RNN, LSTM and GRU: one ONNX RNN/LSTM/GRU node per layer (both directions in one, with
    ``direction='bidirectional'``), zero initial states, the gates reordered to ONNX's order;
    the output sequence (T, N, D*hidden) is the result (h_n is not exported)."""
    if shape is None:
        raise ShapeError(f"{type(layer).__name__} needs the input's rank to export; pass "
                         "example_input to export_onnx")
    kind, hidden = layer.kind, layer.hidden_size
    unbatched = len(shape) == 2
    if unbatched:
        x = graph.op("Unsqueeze", x, graph.const(np.array([1], np.int64), "rnn.axis"),
                     hint="rnn.batched")
    elif layer.batch_first:
        x = graph.op("Transpose", x, perm=[1, 0, 2], hint="rnn.seq_first")
    attrs: dict[str, Any] = {"hidden_size": hidden,
                             "direction": "bidirectional" if layer.bidirectional else "forward"}
    if kind == "RNN":
        attrs["activations"] = ["Relu" if layer.nonlinearity == "relu" else "Tanh"] * (
            2 if layer.bidirectional else 1)
    if kind == "GRU":
        attrs["linear_before_reset"] = 1  # PyTorch's r * (W_hn h + b_hn)
    for depth in range(layer.num_layers):
        suffixes = [f"_l{depth}"] + ([f"_l{depth}_reverse"] if layer.bidirectional else [])
        w, r, b = [], [], []
        for suffix in suffixes:
            w_ih, w_hh = (getattr(layer, f"weight_{k}{suffix}").data for k in ("ih", "hh"))
            w.append(_onnx_gates(w_ih, kind, hidden))
            r.append(_onnx_gates(w_hh, kind, hidden))
            if layer.bias:
                b.append(np.concatenate([_onnx_gates(getattr(layer, f"bias_{k}{suffix}").data,
                                                     kind, hidden) for k in ("ih", "hh")]))
        inputs = [x, graph.const(np.stack(w), f"{kind.lower()}.W"),
                  graph.const(np.stack(r), f"{kind.lower()}.R")]
        if b:
            inputs.append(graph.const(np.stack(b), f"{kind.lower()}.B"))
        y = graph.op(kind, *inputs, hint=kind.lower(), **attrs)      # (T, D, N, hidden)
        y = graph.op("Transpose", y, perm=[0, 2, 1, 3], hint=f"{kind.lower()}.out")
        x = graph.op("Reshape", y, graph.const(np.array([0, 0, -1], np.int64), "rnn.shape"),
                     hint=f"{kind.lower()}.out")                     # (T, N, D*hidden)
    if unbatched:
        return graph.op("Squeeze", x, graph.const(np.array([1], np.int64), "rnn.axis"),
                        hint=kind.lower())
    if layer.batch_first:
        return graph.op("Transpose", x, perm=[1, 0, 2], hint=kind.lower())
    return x


def _chain(graph: Graph, x: str, shape: Shape, parts: list[Any]) -> str:
    for module in parts:
        x = export_layer(module, graph, x, shape)
        shape = None if shape is None else module.output_shape(shape)
    return x


def char_recurrent_to_onnx(layer: Any, graph: Graph, x: str, shape: Shape) -> str:
    """A character model's token vectors, recurrent layers and logits at every position."""
    return _chain(graph, x, shape, [layer.tokens, layer.recurrent, layer.out])


def char_window_to_onnx(layer: Any, graph: Graph, x: str, shape: Shape) -> str:
    """The bigram table (the last token's row) or the window MLP (the window's vectors joined,
    a tanh layer, the logits)."""
    if type(layer).__name__ == "CharBigram":
        last = graph.op("Gather", x, graph.const(np.array([-1], dtype=np.int64), "last"),
                        axis=1, hint="last_token")  # (N, 1): the last token of each window
        rows = export_layer(layer.table, graph, last, None)
        return graph.op("Flatten", rows, axis=1, hint="bigram")
    vectors = export_layer(layer.tokens, graph, x, None)
    joined = graph.op("Reshape", vectors, graph.const(
        np.array([0, layer.block_size * layer.embed], dtype=np.int64), "window"),
        hint="window")
    hidden = graph.op("Tanh", export_layer(layer.hidden_layer, graph, joined, (None, None)),
                      hint="tanh")
    return export_layer(layer.out, graph, hidden, (None, None))


def char_transformer_to_onnx(layer: Any, graph: Graph, x: str, shape: Shape) -> str:
    """The character transformer: token vectors plus positions (the learned table's first L
    rows, or the sinusoidal encoding), its pre-norm layers with the causal mask, the final
    LayerNorm and the logits at every position; any length up to its block size."""
    vectors = export_layer(layer.tokens, graph, x, None)
    if layer.positions == "learned":
        length = graph.op("Shape", x, start=1, end=2, hint="positions.length")
        zero = graph.const(np.array([0], np.int64), "positions.start")
        rows = graph.op("Slice", graph.const(layer.position.weight.data, "positions.table"),
                        zero, length, zero, hint="positions.rows")
        vectors = graph.op("Add", vectors, rows, hint="positions")
    else:
        vectors = export_layer(layer.position, graph, vectors, (None, None, layer.embed))
    for block in layer.blocks:
        vectors = transformer_encoder_layer_to_onnx(block, graph, vectors,
                                                    (None, None, layer.embed),
                                                    causal_len=layer.block_size)
    return _chain(graph, vectors, None, [layer.norm, layer.out])


EXPORTS: dict[str, Export] = {
    "Linear": linear_to_onnx,
    "Sequential": sequential_to_onnx,
    "Sigmoid": _elementwise("Sigmoid"),
    "Tanh": _elementwise("Tanh"),
    "ReLU": _elementwise("Relu"),
    "LeakyReLU": leaky_relu_to_onnx,
    "Identity": identity_to_onnx,
    "Dropout": identity_to_onnx,
    "Dropout2d": identity_to_onnx,
    "Softmax": softmax_to_onnx,
    "LogSoftmax": softmax_to_onnx,
    "Flatten": flatten_to_onnx,
    "Unflatten": unflatten_to_onnx,
    "Conv2d": conv2d_to_onnx,
    "MaxPool2d": max_pool2d_to_onnx,
    "AvgPool2d": avg_pool2d_to_onnx,
    "AdaptiveAvgPool2d": adaptive_avg_pool2d_to_onnx,
    "BatchNorm1d": batch_norm_to_onnx,
    "BatchNorm2d": batch_norm_to_onnx,
    "LayerNorm": layer_norm_to_onnx,
    "Embedding": embedding_to_onnx,
    "RNN": recurrent_to_onnx,
    "LSTM": recurrent_to_onnx,
    "GRU": recurrent_to_onnx,
    **ATTENTION_EXPORTS,
    "CharBigram": char_window_to_onnx,
    "CharMLP": char_window_to_onnx,
    "CharRecurrent": char_recurrent_to_onnx,
    "CharTransformer": char_transformer_to_onnx,
}
"""The ONNX form of each of chainrule's layers, by layer name."""
