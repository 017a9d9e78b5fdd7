"""A small ONNX graph builder that needs only NumPy until the model is written.

Each layer's export adds nodes to a :class:`Graph` and returns the name of its output; the
graph keeps the nodes, the constants (initializers) and the inputs and outputs as plain
Python data.  Only :meth:`Graph.to_model` imports the ``onnx`` package, so building a graph
(and testing the layers' exports for structure) works without it.

>>> import numpy as np
>>> g = Graph()
>>> x = g.add_input("x", "float32", ["N", 3])
>>> y = g.op("Relu", g.op("Add", x, g.const(np.ones(3, np.float32), "one")))
>>> [n.op_type for n in g.nodes], sorted(g.constants)
(['Add', 'Relu'], ['one_1'])
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..errors import ConfigError
from ..io import printable
from ..version import __version__

__all__ = ["ML_DOMAIN", "ML_OPSET", "OPSET", "Graph", "Node", "ValueInfo"]

OPSET = 17
"""The default ONNX operator set written: 17 is the first with LayerNormalization."""

ML_DOMAIN = "ai.onnx.ml"
ML_OPSET = 3
"""The ai.onnx.ml operator set, used only for the category lookup (LabelEncoder) of a model
trained on a table with text columns."""

_ELEMENT = {"float32": 1, "uint8": 2, "int8": 3, "int32": 6, "int64": 7, "string": 8,
            "bool": 9, "float64": 11}
Dim = int | str | None


@dataclass
class Node:
    """One operator: its type, input and output names, attributes and domain."""

    op_type: str
    inputs: list[str]
    outputs: list[str]
    attrs: dict[str, Any] = field(default_factory=dict)
    domain: str = ""


@dataclass
class ValueInfo:
    """A graph input or output: name, element type (``float32``, ``string``...) and shape
    (an int per fixed dimension, a name such as ``"N"`` for a dynamic one)."""

    name: str
    dtype: str
    shape: list[Dim] | None


class Graph:
    """Nodes, constants, inputs and outputs of one ONNX graph, with fresh names on demand.

    ``float_dtype`` is the element type constants of a layer are written in (float32).
    """

    def __init__(self, float_dtype: Any = np.float32) -> None:
        self.nodes: list[Node] = []
        self.constants: dict[str, np.ndarray] = {}
        self.inputs: list[ValueInfo] = []
        self.outputs: list[ValueInfo] = []
        self.float_dtype = np.dtype(float_dtype)
        self.domains: set[str] = set()
        self._used: set[str] = set()

    # -- names ----------------------------------------------------------------------------------
    def fresh(self, hint: str) -> str:
        """A name not used yet in the graph, built from ``hint``: ``hint_1``, ``hint_2``...
        (never the bare hint, which stays free for the graph's inputs and outputs)."""
        base = re.sub(r"[^A-Za-z0-9_.:/-]", "_", hint) or "t"
        i = 1
        while f"{base}_{i}" in self._used:
            i += 1
        name = f"{base}_{i}"
        self._used.add(name)
        return name

    # -- building -----------------------------------------------------------------------------
    def add_input(self, name: str, dtype: str, shape: Sequence[Dim] | None) -> str:
        """Declare a graph input; returns its name (exactly ``name``)."""
        if name in self._used:
            raise ConfigError(f"ONNX export: the input name {name!r} is used twice; give each "
                              "input its own name")
        self._used.add(name)
        self.inputs.append(ValueInfo(name, dtype, None if shape is None else list(shape)))
        return name

    def add_output(self, value: str, name: str, dtype: str,
                   shape: Sequence[Dim] | None) -> str:
        """Expose ``value`` as the graph output ``name`` (an Identity node renames it)."""
        if name in self._used:
            raise ConfigError(f"ONNX export: the output name {name!r} is already taken")
        self._used.add(name)
        self.nodes.append(Node("Identity", [value], [name]))
        self.outputs.append(ValueInfo(name, dtype, None if shape is None else list(shape)))
        return name

    def const(self, value: Any, hint: str = "const", dtype: Any = None,
              nonzero: bool = False, labels: Sequence[str] | None = None) -> str:
        """Add a constant (an initializer); floating-point values take :attr:`float_dtype`
        unless ``dtype`` says otherwise.  Returns its name.

        A floating-point value that is not finite, or does not fit the element type (1e39 in
        float32 would be written as infinity), is refused with a ConfigError naming the
        constant (and the entry's name in ``labels``, one per value of a vector); so is one
        that rounds to 0 when ``nonzero`` (a divisor, a scale).
        """
        arr = np.asarray(value)
        if dtype is not None:
            arr = _narrowed(arr, np.dtype(dtype), hint, nonzero, labels)
        elif arr.dtype.kind == "f":
            arr = _narrowed(arr, self.float_dtype, hint, nonzero, labels)
        elif arr.dtype.kind in "US":
            arr = arr.astype(object)
        name = self.fresh(hint)
        self.constants[name] = np.ascontiguousarray(arr) if arr.dtype != object else arr
        return name

    def op(self, op_type: str, *inputs: str, hint: str | None = None, outputs: int = 1,
           domain: str = "", **attrs: Any) -> Any:
        """Add the node ``op_type(*inputs, **attrs)``; returns its output name (a list of
        names when ``outputs > 1``).  An input of ``""`` is an omitted optional input."""
        names = [self.fresh(hint or op_type.lower()) for _ in range(outputs)]
        self.nodes.append(Node(op_type, list(inputs), names,
                               {k: v for k, v in attrs.items() if v is not None}, domain))
        if domain:
            self.domains.add(domain)
        return names[0] if outputs == 1 else names

    # -- writing ------------------------------------------------------------------------------
    def to_model(self, opset: int = OPSET, producer: str = "chainrule",
                 graph_name: str = "chainrule", doc: str = "") -> Any:
        """The graph as an ``onnx.ModelProto`` (imports the onnx package)."""
        try:
            import onnx
            from onnx import helper, numpy_helper
        except ImportError:
            raise ConfigError("ONNX export needs the onnx package: pip install onnx (or pip "
                              "install 'chainrule[onnx]')") from None
        def info(v: ValueInfo) -> Any:
            return helper.make_tensor_value_info(v.name, _ELEMENT[v.dtype], v.shape)

        nodes = [helper.make_node(n.op_type, n.inputs, n.outputs, domain=n.domain or None,
                                  **n.attrs) for n in self.nodes]
        inits = []
        for name, arr in self.constants.items():
            if arr.dtype == object:
                inits.append(helper.make_tensor(name, onnx.TensorProto.STRING, arr.shape,
                                                [str(s).encode("utf-8") for s in arr.ravel()]))
            else:
                inits.append(numpy_helper.from_array(arr, name))
        graph = helper.make_graph(nodes, graph_name, [info(v) for v in self.inputs],
                                  [info(v) for v in self.outputs], inits, doc_string=doc)
        imports = [helper.make_opsetid("", opset)]
        imports += [helper.make_opsetid(d, ML_OPSET) for d in sorted(self.domains)]
        model = helper.make_model(graph, opset_imports=imports, producer_name=producer,
                                  producer_version=__version__)
        # The IR version of the opset, not the newest the onnx package knows: runtimes
        # refuse IR versions newer than theirs.
        model.ir_version = min(onnx.IR_VERSION, _ir_for(opset))
        return model


def _narrowed(arr: np.ndarray, dtype: np.dtype, hint: str, nonzero: bool,
              labels: Sequence[str] | None = None) -> np.ndarray:
    """``arr`` as ``dtype``, refusing floating-point values the cast would turn into infinity
    (or into 0 when ``nonzero``), and values that were not finite to begin with."""
    with np.errstate(over="ignore", under="ignore", invalid="ignore"):
        out = arr.astype(dtype)
    if dtype.kind != "f" or arr.dtype.kind not in "fiu":
        return out
    bad = ~np.isfinite(out)
    if nonzero:
        bad |= out == 0
    if not bad.any():
        return out
    i = np.unravel_index(int(np.argmax(bad)), arr.shape) if arr.ndim else ()
    where = f" at [{', '.join(str(int(k)) for k in i)}]" if arr.ndim else ""
    if labels is not None and arr.ndim == 1 and len(labels) == arr.size:
        where += f" (column {printable(labels[int(i[0])], 80)})"
    v = arr[i]
    if not np.isfinite(v):
        why = "is not a finite number; the model diverged or was damaged"
    elif out[i] == 0 and v != 0:
        why = (f"is too small for {dtype.name} (it would be written as 0, and this value "
               "divides or scales)")
    elif out[i] == 0:
        why = "is 0, and this value divides or scales"
    else:
        why = (f"is beyond {dtype.name}'s range (largest {np.finfo(dtype).max:.4g}) and would "
               "be written as infinity; the ONNX graph computes in " + dtype.name +
               ": rescale those values (change a column's units, standardise the inputs or "
               "the target) or check the model for overflow")
    raise ConfigError(f"ONNX export: {hint} holds {v!s}{where}, which {why}")


def _ir_for(opset: int) -> int:
    """The lowest IR version that carries ``opset`` (from ONNX's versioning table)."""
    table = [(15, 8), (18, 8), (20, 9), (21, 10), (23, 11)]
    for top, ir in table:
        if opset <= top:
            return ir
    return 11
