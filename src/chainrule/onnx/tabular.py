"""A model file exported with its preprocessing: :func:`export_model_file` (and
:func:`export_onnx`, which takes a network or a model file's path).

A model trained by ``chainrule train`` is a :class:`~chainrule.pipeline.Pipeline`; each of its
steps has a converter (:mod:`chainrule.onnx.steps`).

Raw feature values go in and the same numbers ``chainrule predict`` gives come out:

* input ``features``, float32 [N, n]: the numeric (and true/false, as 1/0) columns in the
  order training used them, NaN where a value is missing (absent when the model has none);
* a true/false column is a number in ``features``: 1.0 for true, 0.0 for false, NaN where
  missing (the words yes/no, true/false are for CSV files; the graph takes numbers);
* one string input [N, 1] per categorical column, named after the column, holding the
  category as the model file lists it (``chainrule info`` shows them); an empty string or a
  missing-value marker such as ``NA`` is a missing value, and a category not seen in training
  encodes as all zeros (as ``--unknown zeros``; ONNX cannot refuse a row), or in a
  target-encoded column (more than 50 categories, :mod:`chainrule.data.codes`) as the
  model's rare categories do;
* dropped columns are not inputs.  Date columns are refused (their expansion into year,
  month, day and weekday needs date parsing, which ONNX lacks): retrain with ``--drop COL``.

The graph repeats the encoder: median imputation (``IsNaN`` + ``Where``), the missing-value
indicators (``Cast``), one-hot categories (ai.onnx.ml ``LabelEncoder`` to an index, then
``Equal`` against 0..K-1), target-encoded ones (``LabelEncoder`` to a row of the column's
table, then ``Gather``), the columns put in training order (``Concat`` + ``Gather``),
standardisation as ``Sub`` and ``Div``, the network, and the output: ``probabilities`` [N, K]
(sigmoid or softmax as the task says; a one-column binary output gives [1 - p, p]) and
``label`` [N] (the class name), or ``values`` [N, k] in the target's units for regression.
"""

from __future__ import annotations

import os
from typing import Any

from ..errors import ConfigError, ModelFileError, ShapeError
from ..nn import Module
from ..pipeline import Pipeline, TableStep
from ..tools.saving import load_with_metadata
from .export import build_graph, write_model
from .graph import OPSET, Graph
from .steps import InputSpec, features_input, get, pipeline_graph, pipeline_inputs

__all__ = ["InputSpec", "export_model_file", "export_onnx", "model_file_graph",
           "model_file_inputs", "onnx_inputs", "onnx_signature"]


def onnx_signature(metadata: dict[str, Any], n_inputs: int | None = None,
                   where: str = "the model") -> list[InputSpec]:
    """The inputs the exported graph of a model file takes, from its metadata alone.

    ``n_inputs`` (the network's input width) names the inputs of a model trained on
    arrays with no stored feature names.  Raises :class:`ConfigError` for a model with
    date columns.
    """
    pre = metadata.get("preprocessing") or {}
    if pre.get("columns"):
        try:
            table = TableStep.from_dict(pre["columns"])
        except Exception as err:  # a damaged file: report it, never a traceback
            raise ModelFileError(f"{where}: the preprocessing metadata is damaged: {err}"
                                 ) from None
        return get(table.kind).inputs(table)  # type: ignore[misc]
    return [features_input(pre.get("feature_names"), n_inputs)]


def model_file_inputs(path: str | os.PathLike[str]) -> list[InputSpec]:
    """The inputs :func:`export_model_file` gives the graph of the model file at ``path``,
    found as the export finds them (no onnx package needed).  Raises :class:`ConfigError`
    for a model with date columns."""
    model, meta = load_with_metadata(path)
    if not meta.get("preprocessing"):  # saved by chainrule.save: the network's own input
        return [InputSpec(v.name, v.dtype, tuple(v.shape or ()), ())
                for v in build_graph(model).inputs]
    return pipeline_inputs(Pipeline.from_dict(meta["preprocessing"], model, os.fspath(path)))


def onnx_inputs(source: dict[str, Any] | str | os.PathLike[str]) -> list[str]:
    """One line per input of the ONNX export of a model file (``source`` is its path, or its
    metadata), for ``chainrule info``; a model that cannot be exported gives one line saying
    why.

    >>> onnx_inputs({"preprocessing": {"feature_names": ["x1", "x2"]}})
    ['features: float32 [N, 2] (x1, x2; NaN = missing)']
    """
    try:
        specs = onnx_signature(source) if isinstance(source, dict) else \
            model_file_inputs(source)
    except (ConfigError, ModelFileError, ShapeError) as err:
        return [f"not exportable: {err}"]
    return [s.describe() for s in specs]


def model_file_graph(path: str | os.PathLike[str]) -> Graph:
    """The graph of a model file: its pipeline's steps, network and output head (the
    network alone for a file saved by ``chainrule.save`` without preprocessing)."""
    model, meta = load_with_metadata(path)
    if not meta.get("preprocessing"):
        return build_graph(model)
    return pipeline_graph(Pipeline.from_dict(meta["preprocessing"], model, os.fspath(path)))


def export_model_file(path: str | os.PathLike[str], out: str | os.PathLike[str] | None, *,
                      opset: int = OPSET) -> Any:
    """Export the model file at ``path`` (from ``chainrule train``) to the ONNX file ``out``
    with its preprocessing (see the module docstring); returns the ``onnx.ModelProto``.

    A file saved by ``chainrule.save`` without preprocessing exports its network alone, as
    :func:`chainrule.onnx.export_onnx` does.
    """
    graph = model_file_graph(path)
    return write_model(graph, out, opset=opset,
                       doc=f"chainrule model {os.path.basename(os.fspath(path))} with its "
                           "preprocessing")


def export_onnx(model: Module | Pipeline | str | os.PathLike[str],
                path: str | os.PathLike[str] | None, example_input: Any = None, *,
                opset: int = OPSET) -> Any:
    """Write ``model`` as an ONNX file at ``path``; returns the ``onnx.ModelProto``.

    ``model`` is a network (input ``input``, output ``output``, float32, batch axis ``N``),
    a :class:`~chainrule.pipeline.Pipeline` (its steps, network and head, as a model file of
    it would export), or the path of a model file written by ``chainrule train``, which is
    exported with its preprocessing (see :func:`export_model_file`).  ``example_input`` (one
    batch, any batch size) fixes the input shape; without it the shape comes from the first
    layer (a Conv2d network then takes any height and width).  ``opset`` is the ONNX operator
    set (17 or later).  Needs the ``onnx`` package (``pip install 'chainrule[onnx]'``).
    """
    if isinstance(model, (str, os.PathLike)):
        if example_input is not None:
            raise ConfigError("export_onnx: example_input is for networks; a model file "
                              "already says what its inputs are")
        return export_model_file(model, path, opset=opset)
    if isinstance(model, Pipeline):
        if example_input is not None:
            raise ConfigError("export_onnx: example_input is for networks; a pipeline "
                              "already says what its inputs are")
        return write_model(pipeline_graph(model), path, opset=opset,
                           doc="chainrule pipeline: preprocessing, network and output head")
    graph = build_graph(model, example_input)
    return write_model(graph, path, opset=opset,
                       doc=f"chainrule {type(model).__name__}, exported in evaluation mode")
