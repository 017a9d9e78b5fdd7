"""Explain a computation: its forward pass, its backward pass, and its graph, step by step.

The course teaches backpropagation on small computation graphs: compute c = w x, a = c + b,
d = a - y, J = 1/2 d^2 from left to right, then the derivatives dJ/dd, dJ/da, ..., dJ/dw from
right to left, each one "local derivative times the gradient arriving from the right".
:func:`explain` prints exactly those two tables for any computation built with the engine,
and draws the graph (Graphviz DOT text, rendered to SVG or PNG when ``dot`` is installed).

>>> import chainrule as cr
>>> w, b = cr.tensor(2.0, requires_grad=True), cr.tensor(8.0, requires_grad=True)
>>> x, y = cr.tensor(-2.0), cr.tensor(2.0)
>>> c = w * x; a = c + b; d = a - y; J = 0.5 * d ** 2
>>> ex = cr.explain(J, names=locals())
>>> ex.value("J"), ex.grad("w"), ex.grad("b")
(2.0, -4.0, 2.0)
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..engine import GraphError, Tensor
from ..engine.backend import namespace
from ..engine.devices import to_numpy
from .display import (
    BACKWARD_FILL,
    constant,
    dot_escape,
    fmt,
    graph_svg,
    html_table,
    plain,
    same,
    text_table,
)
from .graphwalk import Contributions, Expansion, all_nodes, gradients, name_nodes, sum_to

__all__ = ["BackwardStep", "Explanation", "ForwardStep", "explain", "has_graphviz"]


@dataclass
class ForwardStep:
    """One node of the forward pass: ``name = formula`` (e.g. ``v1 = 1 - w``) with its value.

    ``op`` is the operation's name (``sub``), ``inputs`` the names of the nodes it reads and
    ``formula`` the operation written out with its inputs and constants.  ``backward`` is True
    for an operation that a backward pass recorded (``explain(..., backward_of=J)``: a node of
    the gradient's graph that is not a node of J's forward pass).
    """

    name: str
    op: str
    inputs: tuple[str, ...]
    value: np.ndarray
    kind: str  # 'parameter' (a leaf that wants a gradient), 'constant' or 'operation'
    formula: str = ""
    backward: bool = False


@dataclass
class BackwardStep:
    """One edge of the backward pass, from ``via`` back to its input ``name``.

    ``local`` is the local derivative d(via)/d(name) (for arrays: the vector-Jacobian product
    with a seed of ones), ``upstream`` is dJ/d(via), ``contribution`` what this edge adds to
    dJ/d(name), and ``grad`` the total dJ/d(name) once every edge into it is counted.
    ``via`` is None for the output's own row, dJ/dJ = 1.
    """

    name: str
    via: str | None
    local: np.ndarray | None
    upstream: np.ndarray | None
    contribution: np.ndarray
    grad: np.ndarray


@dataclass(repr=False)
class Explanation:
    """The forward and backward passes of one computation; print it to see both tables."""

    output: str
    forward: list[ForwardStep]
    backward: list[BackwardStep]
    values: dict[str, np.ndarray] = field(repr=False)
    grads: dict[str, np.ndarray] = field(repr=False)
    _edges: list[tuple[str, str]] = field(repr=False, default_factory=list)
    backward_of: str | None = None  # the name of J when the output is a gradient of J

    # -- looking things up --------------------------------------------------------------------
    def value(self, name: str) -> Any:
        """The forward value of node ``name`` (a float for one-element nodes)."""
        return plain(self._lookup(self.values, name, "value"))

    def grad(self, name: str) -> Any:
        """dJ/d(name), the output's gradient with respect to node ``name``."""
        return plain(self._lookup(self.grads, name, "gradient"))

    def _lookup(self, table: dict[str, np.ndarray], name: str, what: str) -> np.ndarray:
        if name not in table:
            raise KeyError(f"no {what} for node {name!r}; nodes with one: {', '.join(table)}")
        return table[name]

    # -- tables ---------------------------------------------------------------------------------
    def forward_table(self) -> str:
        """The forward pass, left to right: node, what it computes, value (or shape).

        For a gradient (``backward_of``) a fourth column says which pass made each operation.
        """
        return self._forward_caption() + "\n" + text_table(*self._forward_rows())

    def _forward_caption(self) -> str:
        if self.backward_of is None:
            return "Forward pass (left to right)"
        return (f"Computing {self.output} (left to right): {self.backward_of}'s forward pass, "
                "then its backward pass")

    def _forward_rows(self) -> tuple[tuple[str, ...], list[tuple[str, ...]]]:
        if self.backward_of is None:
            return ("node", "computes", "value"), [
                (s.name, s.formula or s.op, fmt(s.value)) for s in self.forward]
        return ("node", "computes", "value", "pass"), [
            (s.name, s.formula or s.op, fmt(s.value),
             "backward" if s.backward else "forward" if s.kind == "operation" else "")
            for s in self.forward]

    def backward_table(self) -> str:
        """The backward pass, right to left, in the course's notation dJ/dw."""
        return "Backward pass (right to left)\n" + text_table(
            ("node", "local derivative", "upstream gradient", "gradient"), self._backward_rows())

    def _backward_rows(self) -> list[tuple[str, str, str, str]]:
        J = _term(self.output)
        rows = []
        for s in self.backward:
            if s.via is None:
                rows.append((s.name, "", "", f"d{J}/d{J} = {fmt(s.grad)}"))
                continue
            name, via = _term(s.name), _term(s.via)
            local = "" if s.local is None else f"∂{via}/∂{name} = {fmt(s.local)}"
            upstream = f"d{J}/d{via} = {fmt(s.upstream)}"
            grad = f"d{J}/d{name} = {fmt(s.grad)}"
            if not same(s.contribution, s.grad):  # a node used twice: show this edge's share
                grad = f"+= {fmt(s.contribution)}  (total {grad})"
            rows.append((s.name, local, upstream, grad))
        return rows

    def __str__(self) -> str:
        if not self.backward:
            return self.forward_table()
        return self.forward_table() + "\n\n" + self.backward_table()

    # -- the graph ------------------------------------------------------------------------------
    def to_dot(self) -> str:
        """The computation graph as Graphviz DOT text; each node shows its value and gradient
        (the operations of a backward pass, see ``backward_of``, filled in orange)."""
        J = _term(self.output)
        ids = {s.name: f"n{i}" for i, s in enumerate(self.forward)}
        lines = ["digraph computation {", "  rankdir=LR;",
                 '  node [fontname="Helvetica", fontsize=11];']
        styles = {"parameter": 'shape=box, style=filled, fillcolor="#dbe9f6"',
                  "constant": 'shape=box, style=filled, fillcolor="#eeeeee"',
                  "operation": "shape=ellipse",
                  "backward": f'shape=ellipse, style=filled, fillcolor="{BACKWARD_FILL}"'}
        for s in self.forward:
            head = s.name if s.kind != "operation" else f"{s.name} = {s.formula}"
            label = [head, f"value {fmt(s.value)}"]
            if s.name in self.grads:
                label.append(f"d{J}/d{_term(s.name)} = {fmt(self.grads[s.name])}")
            text = "\\n".join(dot_escape(t) for t in label)
            kind = "backward" if s.backward else s.kind
            lines.append(f'  {ids[s.name]} [label="{text}", {styles[kind]}];')
        for parent, child in self._edges:
            lines.append(f"  {ids[parent]} -> {ids[child]};")
        lines.append("}")
        return "\n".join(lines) + "\n"

    def render(self, path: str | Path, format: str | None = None) -> Path:  # noqa: A002
        """Draw the graph to ``path`` with Graphviz (format from the suffix: .svg, .png, .pdf).

        Raises RuntimeError when the ``dot`` program is not installed; :meth:`to_dot` works
        without it.
        """
        dot = shutil.which("dot")
        if dot is None:
            raise RuntimeError("rendering needs Graphviz's `dot` program (e.g. apt-get install "
                               "graphviz); to_dot() gives the DOT text without it")
        path = Path(path)
        fmt = format or path.suffix.lstrip(".") or "svg"
        subprocess.run([dot, f"-T{fmt}", "-o", str(path)], input=self.to_dot().encode(),
                       check=True, capture_output=True)
        return path

    def to_svg(self) -> str:
        """The graph as SVG: drawn by Graphviz when ``dot`` is installed, otherwise by a
        small layered layout of chainrule's own (no dependency)."""
        dot = shutil.which("dot")
        if dot is not None:
            done = subprocess.run([dot, "-Tsvg"], input=self.to_dot().encode(), check=True,
                                  capture_output=True)
            text = done.stdout.decode()
            return text[text.find("<svg"):]  # drop the XML prologue for inline HTML
        J = _term(self.output)
        nodes = []
        for s in self.forward:
            lines = [s.name if s.kind != "operation" else f"{s.name} = {s.formula}",
                     f"value {fmt(s.value)}"]
            if s.name in self.grads:
                lines.append(f"d{J}/d{_term(s.name)} = {fmt(self.grads[s.name])}")
            nodes.append((s.name, lines, "backward" if s.backward else s.kind))
        return graph_svg(nodes, self._edges)

    def _repr_html_(self) -> str:
        """Notebooks show both tables and the graph."""
        fwd = html_table(*self._forward_rows(), caption=self._forward_caption())
        parts = [fwd]
        if self.backward:
            parts.append(html_table(("node", "local derivative", "upstream gradient",
                                     "gradient"), self._backward_rows(),
                                    caption="Backward pass (right to left)"))
        parts.append(f"<div>{self.to_svg()}</div>")
        return '<div class="chainrule-explain">' + "\n".join(parts) + "</div>"

    def __repr__(self) -> str:
        return str(self)


def has_graphviz() -> bool:
    """Whether Graphviz's ``dot`` program is on the PATH (needed only for rendering)."""
    return shutil.which("dot") is not None


def explain(output: Tensor, names: Mapping[str, Any] | None = None,
            grad: Any = None, backward_of: Tensor | None = None) -> Explanation:
    """Tabulate the forward and backward passes that produced ``output``.

    ``names`` maps names to tensors (``names=locals()`` picks up your variable names;
    ``dict(model.named_parameters())`` names a model's parameters); otherwise a tensor's
    ``.name`` is used, then ``J`` for the output, ``v1, v2, ...`` for intermediate results,
    ``p1, p2, ...`` for other leaves that require gradients, and the value for constants.
    ``grad`` seeds the backward pass for a non-scalar output (default: ones, i.e. the
    gradient of ``output.sum()``).

    Gradients are computed with ``backward(retain_graph=True)`` and then put back as they
    were, so explaining a computation leaves every ``.grad`` untouched.  Call it before the
    computation's own ``backward()`` (which frees the graph) or after one with
    ``retain_graph=True``.

    >>> import chainrule as cr
    >>> w = cr.tensor(3.0, requires_grad=True)
    >>> print(cr.explain(w ** 2, names={"w": w}).backward_table())
    Backward pass (right to left)
    node  local derivative  upstream gradient  gradient
    ----  ----------------  -----------------  ---------
    J                                          dJ/dJ = 1
    w     ∂J/∂w = 6         dJ/dJ = 1          dJ/dw = 6

    A gradient taken with ``create_graph=True`` is a computation too: explain it to see the
    backward pass as a graph of its own, and its backward pass gives second derivatives.
    ``backward_of=J`` names the computation it is the gradient of: the operations of J's
    backward pass are marked (column ``pass``, orange in the drawing) and ``w.grad`` is shown
    as ``dJ/dw`` (``g`` for another gradient, such as one from ``cr.grad``, unless named):

    >>> J = w ** 3
    >>> J.backward(create_graph=True)
    >>> ex = cr.explain(w.grad, names={"w": w, "J": J}, backward_of=J)
    >>> print(ex.forward_table())
    Computing dJ/dw (left to right): J's forward pass, then its backward pass
    node   computes   value  pass
    -----  ---------  -----  --------
    w      parameter  3
    v1     w ** 2     9      backward
    v2     3 * v1     27     backward
    1      constant   1
    dJ/dw  1 * v2     27     backward
    >>> ex.grad("w")                         # d(dJ/dw)/dw = d(3 w^2)/dw = 6 w
    18.0
    """
    if not isinstance(output, Tensor):
        raise TypeError(f"explain: expected a Tensor, got {type(output).__name__}")
    if any(n.node.freed for n in all_nodes(output)):
        raise GraphError("explain: this graph was freed by an earlier backward(); call "
                         "explain() first, or pass retain_graph=True to backward()")
    shown = Expansion()  # a recurrent layer's sequence node is shown step by step
    order = all_nodes(output, shown)
    loss, first_pass = _forward_of(backward_of, names, shown)
    output_name = _output_name(output, names, loss)
    output = shown(output)
    label = name_nodes(order, output, names, output_name, shown)

    def name_of(t: Tensor) -> str:
        return label[id(shown(t))]

    forward: list[ForwardStep] = []
    edges: list[tuple[str, str]] = []
    for t in order:
        node = t.node
        if node.is_leaf:
            kind = "parameter" if t.requires_grad else "constant"
            forward.append(ForwardStep(name_of(t), kind, (), t.numpy().copy(), kind))
            continue
        ins = tuple(name_of(p) for p in node.inputs)
        forward.append(ForwardStep(name_of(t), node.op or "", ins, t.numpy().copy(), "operation",
                                   node.formula(name_of, constant),
                                   backward=first_pass is not None and id(t) not in first_pass))
        edges.extend((name_of(p), name_of(t)) for p in node.inputs)
    values = {s.name: s.value for s in forward}

    if not output.requires_grad:
        return Explanation(name_of(output), forward, [], values, {}, edges, loss)
    grads, contributions = gradients(output, order, grad, shown)
    backward = _backward_steps(output, order, grads, contributions, label, shown)
    named_grads = {label[i]: g for i, g in grads.items()}
    return Explanation(name_of(output), forward, backward, values, named_grads, edges, loss)


def _forward_of(backward_of: Tensor | None, names: Mapping[str, Any] | None,
                shown: Expansion) -> tuple[str | None, set[int] | None]:
    """J's name and the ids of its forward pass's nodes, for ``explain(..., backward_of=J)``."""
    if backward_of is None:
        return None, None
    if not isinstance(backward_of, Tensor):
        raise TypeError(f"explain: backward_of must be a Tensor, got "
                        f"{type(backward_of).__name__}")
    if backward_of.node.freed:
        raise GraphError("explain: the graph of backward_of was freed by its backward(); "
                         "pass create_graph=True (which keeps it) or retain_graph=True")
    given = [k for k, v in (names or {}).items()
             if v is backward_of and not k.startswith("_")]
    loss = given[0] if given else backward_of.name or "J"
    return loss, {id(t) for t in all_nodes(backward_of, shown)}


def _output_name(output: Tensor, names: Mapping[str, Any] | None, loss: str | None) -> str:
    """The output's name when none is given: ``dJ/dw`` for a named tensor's ``.grad``, ``g``
    for another gradient of ``backward_of``, and ``J`` for any other computation."""
    for key, value in (names or {}).items():
        if isinstance(value, Tensor) and value.grad is output and not key.startswith("_"):
            return f"d{_term(loss or 'J')}/d{_term(key)}"
    return "J" if loss is None else "g"


def _term(name: str) -> str:
    """A name as it goes into d(...)/d(...): a derivative's name is put in parentheses."""
    return f"({name})" if "/" in name else name


def _backward_steps(output: Tensor, order: list[Tensor], grads: dict[int, np.ndarray],
                    contributions: Contributions, label: dict[int, str],
                    shown: Expansion) -> list[BackwardStep]:
    out_grad = grads[id(output)]
    steps = [BackwardStep(label[id(output)], None, None, None, out_grad, out_grad)]
    for t in reversed(order):  # right to left: a node comes before its inputs
        if id(t) not in contributions:
            continue
        upstream = grads[id(t)]
        ones = namespace(t.data).ones(t.data.shape, dtype=t.data.dtype)  # on the node's device
        locals_ = dict(zip(map(id, shown.inputs(t)), t.node.local_gradients(ones)))
        for parent, contrib in contributions[id(t)]:
            local = locals_.get(id(parent))
            shape = parent.data.shape
            steps.append(BackwardStep(
                label[id(parent)], label[id(t)],
                None if local is None else sum_to(to_numpy(local), shape), upstream,
                contrib, grads[id(parent)]))
    return steps
