"""A model trained by ``chainrule train``, exported with its preprocessing.

Raw feature values go in and the same numbers ``chainrule predict`` gives come out:

* input ``features``, float32 [N, n]: the numeric (and true/false, as 1/0) columns in the
  order training used them, NaN where a value is missing (absent when the model has none);
* one string input [N, 1] per categorical column, named after the column, holding the
  category as the model file lists it (``chainrule info`` shows them); an empty string or a
  missing-value marker such as ``NA`` is a missing value, and a category not seen in training
  encodes as all zeros (as ``--unknown zeros``; ONNX cannot refuse a row);
* dropped columns are not inputs.  Date columns are refused (their expansion into year,
  month, day and weekday needs date parsing, which ONNX lacks): retrain with ``--drop COL``.

The graph repeats the encoder: median imputation (``IsNaN`` + ``Where``), the missing-value
indicators (``Cast``), one-hot categories (ai.onnx.ml ``LabelEncoder`` to an index, then
``Equal`` against 0..K-1), the columns put in training order (``Concat`` + ``Gather``),
standardisation as ``Sub`` and ``Div``, the network, and the output: ``probabilities`` [N, K]
(sigmoid or softmax as the task says; a one-column binary output gives [1 - p, p]) and
``label`` [N] (the class name), or ``values`` [N, k] in the target's units for regression.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import ConfigError, ModelFileError, ShapeError
from .export import BATCH, input_shape_of, network_to_graph, write_model
from .graph import ML_DOMAIN, OPSET, Graph

__all__ = ["InputSpec", "export_model_file", "model_file_inputs", "onnx_inputs",
           "onnx_signature"]

FEATURES = "features"


@dataclass(frozen=True)
class InputSpec:
    """One input of the exported graph: its name, element type, shape and the table columns
    it carries (for ``features``, one per column of the matrix)."""

    name: str
    dtype: str
    shape: tuple[Any, ...]
    columns: tuple[str, ...]

    def describe(self) -> str:
        """One line for ``chainrule info``."""
        dims = ", ".join(str(d) for d in self.shape)
        if self.name == FEATURES and self.columns and self.columns[0] != self.name:
            return (f"{self.name}: {self.dtype} [{dims}] ({', '.join(self.columns)}; NaN = "
                    "missing)")
        return f"{self.name}: {self.dtype} [{dims}]"


def _encoder_columns(pre: dict[str, Any], where: str) -> list[Any] | None:
    if not pre.get("columns"):
        return None
    from ..data.columns import TableEncoder

    try:
        return TableEncoder.from_dict(pre["columns"]).columns
    except Exception as err:  # a damaged file: report it, never a traceback
        raise ModelFileError(f"{where}: the preprocessing metadata is damaged: {err}") from None


def onnx_signature(metadata: dict[str, Any], n_inputs: int | None = None,
                   where: str = "the model") -> list[InputSpec]:
    """The inputs the exported graph of a model file takes, from its metadata.

    ``n_inputs`` (the network's input width) names the inputs of a model trained on
    arrays with no stored feature names.  Raises :class:`ConfigError` for a model with
    date columns.
    """
    pre = metadata.get("preprocessing") or {}
    columns = _encoder_columns(pre, where)
    if columns is None:
        names = pre.get("feature_names") or [f"x{i}" for i in range(n_inputs or 0)]
        width = len(names) if names else n_inputs
        return [InputSpec(FEATURES, "float32", (BATCH, width), tuple(names))]
    dates = [c.name for c in columns if c.kind == "datetime"]
    if dates:
        raise ConfigError(f"ONNX export: the model reads date column(s) {', '.join(dates)}, "
                          "which ONNX cannot parse; retrain with --drop "
                          f"{','.join(dates)} (or give the parts as numeric columns)")
    numeric = tuple(c.name for c in columns if c.kind in ("numeric", "boolean"))
    specs = [InputSpec(FEATURES, "float32", (BATCH, len(numeric)), numeric)] if numeric else []
    for c in columns:
        if c.kind != "categorical":
            continue
        if c.name == FEATURES:
            raise ConfigError("ONNX export: a categorical column is named 'features', the name "
                              "of the numeric input; rename the column and retrain")
        specs.append(InputSpec(c.name, "string", (BATCH, 1), (c.name,)))
    return specs


def model_file_inputs(path: str | os.PathLike[str]) -> list[InputSpec]:
    """The inputs :func:`export_model_file` gives the graph of the model file at ``path``,
    found as the export finds them (no onnx package needed).  Raises :class:`ConfigError`
    for a model with date columns."""
    model, meta, where = _load(path)
    if not meta.get("preprocessing"):  # saved by chainrule.save: the network's own input
        from .export import build_graph

        return [InputSpec(v.name, v.dtype, tuple(v.shape or ()), ())
                for v in build_graph(model).inputs]
    return _file_signature(model, meta, where)


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


# -- the graph ------------------------------------------------------------------------------------


def _missing_strings() -> list[str]:
    """The strings read as a missing category: the CSV reader's markers in the spellings
    people write (the encoder compares them without regard to case)."""
    from ..data.tabular import NA_MARKERS

    out: list[str] = []
    for m in NA_MARKERS:
        for v in (m, m.lower(), m.upper(), m.title()):
            if v not in out:
                out.append(v)
    return out


def _one_hot(graph: Graph, column: Any) -> str:
    """[N, K(+1)] float one-hot of the string input named after ``column``."""
    cats = list(column.categories)
    width = len(cats) + int(column.missing_category)
    keys = cats + [m for m in _missing_strings() if m not in cats]
    missing_index = len(cats) if column.missing_category else -1
    values = list(range(len(cats))) + [missing_index] * (len(keys) - len(cats))
    index = graph.op("LabelEncoder", column.name, domain=ML_DOMAIN, keys_strings=keys,
                     values_int64s=values, default_int64=-1, hint=f"{column.name}.index")
    hits = graph.op("Equal", index, graph.const(np.arange(width, dtype=np.int64),
                                                f"{column.name}.codes"),
                    hint=f"{column.name}.hits")
    return graph.op("Cast", hits, to=1, hint=f"{column.name}.one_hot")  # 1 = FLOAT


def _encoded(graph: Graph, columns: list[Any]) -> str:
    """The encoder's feature matrix [N, F], in training order."""
    numeric = [c for c in columns if c.kind in ("numeric", "boolean")]
    blocks: list[str] = []
    order: list[int] = []
    offset, n, position = 0, len(numeric), {c.name: i for i, c in enumerate(numeric)}
    if numeric:
        x = FEATURES
        missing = graph.op("IsNaN", x, hint="missing")
        medians = graph.const(np.array([c.median[0] for c in numeric]), "medians",
                              labels=[c.name for c in numeric])
        blocks.append(graph.op("Where", missing, medians, x, hint="imputed"))
        blocks.append(graph.op("Cast", missing, to=1, hint="missing_indicator"))
        offset = 2 * n
    hot_start: dict[str, int] = {}
    for c in columns:
        if c.kind == "categorical":
            blocks.append(_one_hot(graph, c))
            hot_start[c.name] = offset
            offset += len(c.categories) + int(c.missing_category)
    for c in columns:  # the encoder's order: each column's values, then its indicator
        if c.kind in ("numeric", "boolean"):
            order.append(position[c.name])
            if c.missing_indicator:
                order.append(n + position[c.name])
        elif c.kind == "categorical":
            start = hot_start[c.name]
            order += range(start, start + len(c.categories) + int(c.missing_category))
    wide = graph.op("Concat", *blocks, axis=1, hint="encoded_wide") if len(blocks) > 1 \
        else blocks[0]
    return graph.op("Gather", wide, graph.const(np.array(order, np.int64), "feature_order"),
                    axis=1, hint="encoded")


def _head(graph: Graph, out: str, width: int | None, predictor: Any) -> None:
    """The graph outputs: probabilities and label, or values."""
    task = predictor.task
    if not task.is_classifier:
        if predictor.target_scaler:
            ts = predictor.target_scaler
            out = graph.op("Add", graph.op("Mul", out, graph.const(np.array(ts["scale"]),
                                                                   "target.scale",
                                                                   nonzero=True)),
                           graph.const(np.array(ts["mean"]), "target.mean"), hint="values")
        graph.add_output(out, "values", "float32", [BATCH, width])
        return
    probs = out
    if task.name == "binary_logits":
        probs = graph.op("Sigmoid", out, hint="p")
    elif task.name == "multiclass":
        probs = graph.op("Softmax", out, axis=1, hint="p")
    binary = task.name in ("binary", "binary_logits")
    if binary and width == 1:
        probs = graph.op("Concat", graph.op("Sub", graph.const(np.array(1.0), "one"), probs,
                                            hint="p0"), probs, axis=1, hint="p")
    n_probs = 2 if binary and width == 1 else width
    graph.add_output(probs, "probabilities", "float32", [BATCH, n_probs])
    if binary and width != 1:
        return  # several yes/no columns: no single label
    if binary:
        # The label from the raw output, as chainrule decides it (z > 0 for logits, p > 0.5
        # after a sigmoid), so a probability that rounds to 0.5 cannot flip it.
        cut = graph.const(np.array([0.0 if task.name == "binary_logits" else 0.5]), "cut")
        code = graph.op("Cast", graph.op("Greater", out, cut), to=7, hint="code")  # INT64
        code = graph.op("Reshape", code, graph.const(np.array([-1], np.int64), "flat"),
                        hint="code")
    else:
        code = graph.op("ArgMax", out, axis=1, keepdims=0, hint="code")
    names = predictor.class_names or [str(i) for i in range(max(2, n_probs or 2))]
    label = graph.op("Gather", graph.const(np.array(names, dtype=object), "class_names"),
                     code, axis=0, hint="label")
    graph.add_output(label, "label", "string", [BATCH])


def _load(path: str | os.PathLike[str]) -> tuple[Any, dict[str, Any], str]:
    from ..tools.saving import load_with_metadata

    model, meta = load_with_metadata(path)
    return model, meta, os.fspath(path)


def _file_signature(model: Any, meta: dict[str, Any], where: str) -> list[InputSpec]:
    """The inputs of a model file with preprocessing; the network's input width names the
    columns of a model trained on arrays."""
    shape = input_shape_of(model)
    return onnx_signature(meta, n_inputs=shape[1] if len(shape) == 2 else None, where=where)


def model_file_graph(path: str | os.PathLike[str]) -> Graph:
    """The graph of a model file: its preprocessing, network and output head."""
    from ..predictor import Predictor
    from ..training import tasks

    model, meta, where = _load(path)
    if not meta.get("preprocessing"):
        from .export import build_graph

        return build_graph(model)  # saved by chainrule.save: the network alone
    predictor = Predictor(model, meta, where)
    shape = input_shape_of(model)
    graph = Graph()
    for s in _file_signature(model, meta, where):
        graph.add_input(s.name, s.dtype, list(s.shape))
    columns = _encoder_columns(predictor.preprocessing, where)
    x = _encoded(graph, columns) if columns is not None else FEATURES
    if predictor.scaler is not None:
        names = predictor.feature_names
        x = graph.op("Sub", x, graph.const(predictor.scaler.mean_, "scaler.mean",
                                           labels=names), hint="centred")
        x = graph.op("Div", x, graph.const(predictor.scaler.scale_, "scaler.scale",
                                           nonzero=True, labels=names), hint="standardised")
    out, out_shape = network_to_graph(model, graph, x, shape)
    width = out_shape[-1] if out_shape else tasks.output_width(model)
    _head(graph, out, width, predictor)
    return graph


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
