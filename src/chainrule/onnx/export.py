"""Writing a network as an ONNX graph: :func:`build_graph` and :func:`write_model`
(:func:`chainrule.onnx.export_onnx` writes a network or a model file).

The graph is built from each layer's ONNX form (:mod:`chainrule.onnx.layers`) in evaluation
mode (Dropout is the identity, batch normalisation uses its running statistics), with float32
weights, operator set 17 (the first with LayerNormalization) and a dynamic batch axis ``N``.
The input is called ``input`` and the output ``output``.

>>> import os, tempfile
>>> from chainrule import nn
>>> model = nn.Sequential(nn.Linear(2, 4, rng=0), nn.Tanh(), nn.Linear(4, 1, rng=1))
>>> graph = build_graph(model)
>>> [n.op_type for n in graph.nodes]
['Gemm', 'Tanh', 'Gemm', 'Identity']
>>> graph.inputs[0].shape, graph.outputs[0].shape
(['N', 2], ['N', 1])
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from ..errors import ConfigError, ShapeError
from ..nn import Module
from .graph import OPSET, Graph
from .layers import export_layer

__all__ = ["build_graph", "input_shape_of", "network_to_graph", "write_model"]

Shape = tuple[int | None, ...] | None
BATCH = "N"


def input_shape_of(model: Module, example_input: Any = None) -> tuple[int | None, ...]:
    """The shape of the network's input with None for the batch: from ``example_input`` when
    given, otherwise from the first layer (Linear: (None, in_features); Conv2d: (None, C,
    None, None); LayerNorm and BatchNorm: their feature sizes)."""
    if example_input is not None:
        data = getattr(example_input, "data", example_input)
        shape = np.shape(data)
        if len(shape) == 0:
            raise ShapeError("export_onnx: example_input must have a batch axis, got a scalar")
        return (None, *(int(d) for d in shape[1:]))
    leaf = next((m for m in model.modules() if next(m.children(), None) is None), None)
    if type(leaf).__name__ == "Embedding":  # token indices: a batch of any length
        return (None, None)
    first = model
    while hasattr(first, "__len__") and hasattr(first, "__getitem__") and len(first):
        first = first[0]
    name = type(first).__name__
    if hasattr(first, "in_features"):
        return (None, int(first.in_features))
    if hasattr(first, "in_channels"):
        return (None, int(first.in_channels), None, None)
    if hasattr(first, "normalized_shape"):
        return (None, *(int(d) for d in first.normalized_shape))
    if name == "BatchNorm1d":
        return (None, int(first.num_features))
    raise ShapeError(f"export_onnx: cannot tell the input shape of a network that starts with "
                     f"{name}; pass example_input (e.g. one batch of inputs)")


def network_to_graph(model: Module, graph: Graph, x: str, shape: Shape) -> tuple[str, Shape]:
    """Add ``model``'s nodes reading ``x`` (of ``shape``); returns the output's name and
    shape."""
    out = export_layer(model, graph, x, shape)
    try:
        out_shape = model.output_shape(shape)
    except ShapeError as err:
        raise ShapeError(f"export_onnx: the network cannot run on inputs of shape {shape}: "
                         f"{err}") from None
    return out, out_shape


def _dims(shape: Shape, names: tuple[str, ...] = (BATCH,)) -> list[Any] | None:
    if shape is None:
        return None
    dims: list[Any] = []
    for i, d in enumerate(shape):
        dims.append(d if d is not None else (names[i] if i < len(names) else None))
    return dims


def build_graph(model: Module, example_input: Any = None, *, input_name: str = "input",
                output_name: str = "output") -> Graph:
    """The ONNX graph of ``model`` as a :class:`~chainrule.onnx.graph.Graph` (no onnx
    package needed; :func:`export_onnx` writes it)."""
    if not isinstance(model, Module):
        raise ConfigError(f"export_onnx: model must be a chainrule Module, got "
                          f"{type(model).__name__}")
    shape = input_shape_of(model, example_input)
    graph = Graph()
    spatial = (BATCH, None, "H", "W") if len(shape) == 4 else (BATCH,)
    x = graph.add_input(input_name, "float32", _dims(shape, spatial))
    out, out_shape = network_to_graph(model, graph, x, shape)
    graph.add_output(out, output_name, "float32", _dims(out_shape))
    return graph


def write_model(graph: Graph, path: str | os.PathLike[str] | None, *, opset: int = OPSET,
                doc: str = "") -> Any:
    """Check the graph's model with ``onnx.checker`` (full check, with shape inference) and
    write it atomically to ``path`` (when given); returns the ``onnx.ModelProto``."""
    if type(opset) is not int or opset < OPSET:
        raise ConfigError(f"export_onnx: opset must be an integer of at least {OPSET} (the "
                          f"first with LayerNormalization), got {opset!r}")
    model = graph.to_model(opset=opset, doc=doc)
    import onnx

    try:
        onnx.checker.check_model(model, full_check=True)
    except onnx.checker.ValidationError as err:
        raise ConfigError(f"export_onnx: the exported graph is not valid ONNX: {err}") from None
    if path is not None:
        from ..io import atomic_write

        atomic_write(path, [model.SerializeToString()])
    return model
