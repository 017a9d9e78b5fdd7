"""Each pipeline step's ONNX form, by the step's kind, and the output head's.

A converter adds nodes to a :class:`~chainrule.onnx.graph.Graph` that compute the step from
the value named ``x`` and returns its output's name; a step that reads table rows also says
which graph inputs it takes (:attr:`StepExport.inputs`).  :func:`pipeline_graph` chains
them: the inputs, each step's nodes, the network's, then :func:`head_to_onnx` (probabilities
and label, or values in the target's units), which reads the head's
:class:`~chainrule.pipeline.Readout` rather than task names.

>>> sorted(CONVERTERS)
['columns', 'scaler']
>>> get("target_scaler")  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
chainrule.errors.ConfigError: ONNX export: no converter for the pipeline step 'target_scaler'; ...
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..data.diagnosis import quote
from ..data.tabular import NA_MARKERS
from ..errors import ConfigError
from ..pipeline import Pipeline
from ..pipeline.head import Head
from ..training.tasks import output_width
from .export import BATCH, input_shape_of, network_to_graph
from .graph import ML_DOMAIN, Graph

__all__ = ["CONVERTERS", "FEATURES", "InputSpec", "StepExport", "features_input", "get",
           "head_to_onnx", "pipeline_graph", "pipeline_inputs"]

FEATURES = "features"
"""The name of the float input: the numeric columns (or the network's inputs)."""


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


@dataclass(frozen=True)
class StepExport:
    """A step kind's ONNX form: ``nodes(graph, step, x, names) -> output name`` (``names``:
    the feature names, for messages about a constant), and for a step that reads table rows
    ``inputs(step) -> [InputSpec]`` (the graph inputs it reads)."""

    nodes: Callable[[Graph, Any, str, list[str] | None], str]
    inputs: Callable[[Any], list[InputSpec]] | None = None


# -- the table encoder ------------------------------------------------------------------------
def _table_inputs(step: Any) -> list[InputSpec]:
    columns = step.columns
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


def _missing_strings() -> list[str]:
    """The strings read as a missing category: the CSV reader's markers in the spellings
    people write (the encoder compares them without regard to case)."""
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


def _coded(graph: Graph, column: Any) -> str:
    """[N, outputs] float target encoding of the string input named after ``column``
    (:mod:`chainrule.data.codes`): ai.onnx.ml ``LabelEncoder`` to the row of its table (a
    category not among the frequent ones reads the rare level, a missing-value marker the
    missing level), ``Gather`` of that row, ``Reshape`` to [N, outputs]."""
    codes = column.codes
    cats = list(codes.categories)
    keys = cats + [m for m in _missing_strings() if m not in cats]
    values = list(range(len(cats))) + [codes.missing_level] * (len(keys) - len(cats))
    index = graph.op("LabelEncoder", column.name, domain=ML_DOMAIN, keys_strings=keys,
                     values_int64s=values, default_int64=codes.rare_level,
                     hint=f"{column.name}.level")
    rows = graph.op("Gather", graph.const(codes.table, f"{column.name}.codes"), index, axis=0,
                    hint=f"{column.name}.rows")
    return graph.op("Reshape", rows, graph.const(np.array([-1, len(codes.outputs)], np.int64),
                                                 f"{column.name}.shape"),
                    hint=f"{column.name}.coded")


def table_to_onnx(graph: Graph, step: Any, x: str, names: list[str] | None = None) -> str:
    """The encoder's feature matrix [N, F] in training order: median imputation, missing
    indicators, one-hot or target-encoded categories (from the table's inputs: ``x`` is
    unused)."""
    columns = step.columns
    numeric = [c for c in columns if c.kind in ("numeric", "boolean")]
    blocks: list[str] = []
    order: list[int] = []
    offset, n, position = 0, len(numeric), {c.name: i for i, c in enumerate(numeric)}
    if numeric:
        missing = graph.op("IsNaN", FEATURES, hint="missing")
        medians = graph.const(np.array([c.median[0] for c in numeric]), "medians",
                              labels=[c.name for c in numeric])
        blocks.append(graph.op("Where", missing, medians, FEATURES, hint="imputed"))
        blocks.append(graph.op("Cast", missing, to=1, hint="missing_indicator"))
        offset = 2 * n
    hot_start: dict[str, int] = {}
    for c in columns:
        if c.kind == "categorical":
            blocks.append(_one_hot(graph, c) if c.codes is None else _coded(graph, c))
            hot_start[c.name] = offset
            offset += c.width
    for c in columns:  # the encoder's order: each column's values, then its indicator
        if c.kind in ("numeric", "boolean"):
            order.append(position[c.name])
            if c.missing_indicator:
                order.append(n + position[c.name])
        elif c.kind == "categorical":
            start = hot_start[c.name]
            order += range(start, start + c.width)
    wide = graph.op("Concat", *blocks, axis=1, hint="encoded_wide") if len(blocks) > 1 \
        else blocks[0]
    return graph.op("Gather", wide, graph.const(np.array(order, np.int64), "feature_order"),
                    axis=1, hint="encoded")


# -- the feature scaler -----------------------------------------------------------------------
def scaler_to_onnx(graph: Graph, step: Any, x: str, names: list[str] | None = None) -> str:
    """Standardisation as ``Sub`` and ``Div``."""
    x = graph.op("Sub", x, graph.const(step.mean_, "scaler.mean", labels=names),
                 hint="centred")
    return graph.op("Div", x, graph.const(step.scale_, "scaler.scale", nonzero=True,
                                          labels=names), hint="standardised")


CONVERTERS: dict[str, StepExport] = {
    "columns": StepExport(table_to_onnx, _table_inputs),
    "scaler": StepExport(scaler_to_onnx),
}
"""The ONNX form of each pipeline step, by the step's kind."""


def get(kind: str) -> StepExport:
    """The converter of the step kind ``kind`` (see :data:`CONVERTERS`)."""
    try:
        return CONVERTERS[kind]
    except (KeyError, TypeError):
        raise ConfigError(f"ONNX export: no converter for the pipeline step {quote(kind)}; "
                          f"the steps with one are {', '.join(sorted(CONVERTERS))}") from None


# -- the head ---------------------------------------------------------------------------------
def head_to_onnx(graph: Graph, out: str, width: int | None, head: Head) -> None:
    """The graph outputs: ``probabilities`` [N, K] and ``label`` [N], or ``values``."""
    if not head.is_classifier:
        if head.scaler is not None:
            out = graph.op("Add", graph.op("Mul", out, graph.const(np.array(head.scaler.scale),
                                                                   "target.scale",
                                                                   nonzero=True)),
                           graph.const(np.array(head.scaler.mean), "target.mean"),
                           hint="values")
        graph.add_output(out, "values", "float32", [BATCH, width])
        return
    readout = head.readout
    probs = out
    if readout.squash == "sigmoid":
        probs = graph.op("Sigmoid", out, hint="p")
    elif readout.squash == "softmax":
        probs = graph.op("Softmax", out, axis=1, hint="p")
    one_column = readout.binary and width == 1
    if one_column:
        probs = graph.op("Concat", graph.op("Sub", graph.const(np.array(1.0), "one"), probs,
                                            hint="p0"), probs, axis=1, hint="p")
    n_probs = 2 if one_column else width
    graph.add_output(probs, "probabilities", "float32", [BATCH, n_probs])
    if readout.binary and not one_column:
        return  # several yes/no columns: no single label
    if readout.binary:
        # The label from the raw output, as chainrule decides it (z > 0 for logits, p > 0.5
        # after a sigmoid), so a probability that rounds to 0.5 cannot flip it.
        cut = graph.const(np.array([readout.cut]), "cut")
        code = graph.op("Cast", graph.op("Greater", out, cut), to=7, hint="code")  # INT64
        code = graph.op("Reshape", code, graph.const(np.array([-1], np.int64), "flat"),
                        hint="code")
    else:
        code = graph.op("ArgMax", out, axis=1, keepdims=0, hint="code")
    label = graph.op("Gather", graph.const(np.array(head.names(n_probs or 2), dtype=object),
                                           "class_names"), code, axis=0, hint="label")
    graph.add_output(label, "label", "string", [BATCH])


# -- the whole pipeline -----------------------------------------------------------------------
def pipeline_inputs(pipeline: Pipeline) -> list[InputSpec]:
    """The graph inputs: those of the step that reads table rows, or one float matrix of
    the network's inputs (named by ``feature_names``, else x0, x1...)."""
    table = pipeline.table
    if table is not None:
        return get(table.kind).inputs(table)  # type: ignore[misc]
    shape = input_shape_of(pipeline.network)
    return [features_input(pipeline.feature_names, shape[1] if len(shape) == 2 else None)]


def features_input(names: list[str] | None, n_inputs: int | None) -> InputSpec:
    """The float input of a pipeline without a table step: one column per feature name
    (x0, x1... for ``n_inputs`` unnamed ones)."""
    names = names or [f"x{i}" for i in range(n_inputs or 0)]
    return InputSpec(FEATURES, "float32", (BATCH, len(names) if names else n_inputs),
                     tuple(names))


def pipeline_graph(pipeline: Pipeline) -> Graph:
    """The graph of a pipeline: its inputs, each step's converter, the network, the head."""
    graph = Graph()
    for s in pipeline_inputs(pipeline):
        graph.add_input(s.name, s.dtype, list(s.shape))
    x = FEATURES
    for step in pipeline.steps:
        x = get(step.kind).nodes(graph, step, x, pipeline.feature_names)
    model = pipeline.network
    out, out_shape = network_to_graph(model, graph, x, input_shape_of(model))
    width = out_shape[-1] if out_shape else output_width(model)
    head_to_onnx(graph, out, width, pipeline.head)
    return graph
