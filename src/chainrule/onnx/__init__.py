"""ONNX export: a chainrule network, or a model file with its preprocessing, as ONNX.

:func:`export_onnx` writes a network (operator set 17, float32, a dynamic batch axis);
:func:`export_model_file` writes a model trained by ``chainrule train`` with its
preprocessing, so raw feature values go in and probabilities come out;
:func:`model_file_inputs` (and :func:`onnx_inputs`, as text) list what such an export takes.
Each layer's ONNX form is in :mod:`chainrule.onnx.layers`; the graph is built by
:class:`chainrule.onnx.graph.Graph` with plain Python data, and only writing it needs the
``onnx`` package (``pip install 'chainrule[onnx]'``).
"""

from .export import build_graph
from .graph import OPSET, Graph
from .layers import EXPORTS, export_layer
from .steps import CONVERTERS, InputSpec
from .tabular import (
    export_model_file,
    export_onnx,
    model_file_inputs,
    onnx_inputs,
    onnx_signature,
)

__all__ = ["CONVERTERS", "EXPORTS", "OPSET", "Graph", "InputSpec", "build_graph", "export_layer",
           "export_model_file", "export_onnx", "model_file_inputs", "onnx_inputs",
           "onnx_signature"]
