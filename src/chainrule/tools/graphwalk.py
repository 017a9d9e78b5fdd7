"""The graph walk behind :func:`~chainrule.tools.explain.explain`: every node of a
computation in the order a person computes it, a name for each, and a backward pass of its
own that leaves the user's ``.grad`` fields and the graph as they were.

>>> import chainrule as cr
>>> w = cr.tensor(3.0, requires_grad=True)
>>> J = w * w + 1.0
>>> order = all_nodes(J)
>>> sorted(name_nodes(order, J, {"w": w}).values())   # the constant 1 is part of the add, no node
['J', 'v1', 'w']
>>> grads, _ = gradients(J, order, None)
>>> float(grads[id(w)])
6.0
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from ..engine import GraphError, Tensor, enable_grad
from ..engine.backend import dtype_name
from ..engine.devices import device_of, to_device, to_numpy
from .display import fmt

__all__ = ["Contributions", "Expansion", "all_nodes", "gradients", "name_nodes", "sum_to"]


class Expansion:
    """The graph as an explanation shows it: a node whose primitive has ``expand`` (a
    recurrent layer's whole sequence, :mod:`chainrule.nn.recurrence`) stands for the graph of
    finer nodes that ``expand`` builds from the node's own inputs (one node per time step,
    ``h[0]``, ``h[1]``...).  Each is built once, when first met, and the user's graph is left
    as it was.

    >>> import chainrule as cr
    >>> w = cr.tensor(2.0, requires_grad=True)
    >>> y = w * w
    >>> Expansion()(y) is y                  # an ordinary node stands for itself
    True
    """

    def __init__(self) -> None:
        self._shown: dict[int, tuple[Tensor, Tensor]] = {}  # id -> (node, what shows it)

    def __call__(self, t: Tensor) -> Tensor:
        """What shows node ``t``: ``t`` itself, or the graph its primitive expands to."""
        known = self._shown.get(id(t))
        if known is not None:
            return known[1]
        # a hook that only some primitives carry (the engine's own have none)
        expand = getattr(t.node.primitive, "expand", None)
        if expand is None:
            return t
        with enable_grad():  # the finer graph is recorded even when explain runs without
            shown = expand(t)
        self._shown[id(t)] = (t, shown)  # t kept alive: its id stays its own
        return shown

    def inputs(self, t: Tensor) -> tuple[Tensor, ...]:
        """The inputs of node ``t`` as the explanation shows them."""
        return tuple(self(p) for p in t.inputs)


def all_nodes(root: Tensor, shown: Expansion | None = None) -> list[Tensor]:
    """Every node behind ``root``, leaves included, each after all of its inputs; through
    ``shown`` (an :class:`Expansion`) a node that expands is replaced by its finer graph."""
    inputs = (lambda t: t.inputs) if shown is None else shown.inputs
    if shown is not None:
        root = shown(root)
    order: list[Tensor] = []
    seen: set[int] = set()
    stack: list[tuple[Tensor, bool]] = [(root, False)]
    while stack:  # iterative post-order: deep graphs do not hit the recursion limit
        t, expanded = stack.pop()
        if expanded:
            order.append(t)
            continue
        if id(t) in seen:
            continue
        seen.add(id(t))
        stack.append((t, True))
        # Computed inputs first, then leaves, each group left to right (the stack reverses):
        # the table then reads in the order a person would compute it.
        parents = sorted(inputs(t), key=lambda p: p.is_leaf)
        for parent in reversed(parents):
            if id(parent) not in seen:
                stack.append((parent, False))
    return order


def name_nodes(order: list[Tensor], output: Tensor,
               names: Mapping[str, Any] | None, output_name: str = "J",
               shown: Expansion | None = None) -> dict[int, str]:
    """A name for every node: ``names`` first, then a tensor's ``.name``, ``output_name`` for
    the output, ``v1, v2, ...`` for results, ``p1, p2, ...`` for other leaves that require
    gradients, and the value for constants; a repeated name gets ``#2``, ``#3``, ...  With
    ``shown``, a name given to a node that expands names the node that shows it."""
    given: dict[int, str] = {}
    if names:
        for key, value in names.items():
            if isinstance(value, Tensor) and not key.startswith("_"):
                given.setdefault(id(value if shown is None else shown(value)), key)
    label: dict[int, str] = {}
    used: set[str] = set()
    counts = {"v": 0, "p": 0}
    for t in order:
        name = given.get(id(t)) or t.name
        if name is None and t is output:
            name = output_name
        if name is None:
            if not t.is_leaf or t.requires_grad:
                prefix = "v" if not t.is_leaf else "p"
                counts[prefix] += 1
                name = f"{prefix}{counts[prefix]}"
            else:
                name = fmt(t.data)
        base, k = name, 1
        while name in used:  # two constants of the same value, or a repeated name
            k += 1
            name = f"{base}#{k}"
        used.add(name)
        label[id(t)] = name
    return label


Contributions = dict[int, list[tuple[Tensor, np.ndarray]]]


def gradients(output: Tensor, order: list[Tensor], seed: Any, shown: Expansion | None = None
              ) -> tuple[dict[int, np.ndarray], Contributions]:
    """dJ/d(node) for every node that requires a gradient, and what each edge contributed
    (with ``shown``, over the graph it shows: ``order`` and ``output`` come from it).

    A backward pass of its own, right to left over the same primitives the engine runs, so the
    user's ``.grad`` fields and the graph are left exactly as they were.
    """
    dtype = dtype_name(output.data.dtype)  # the walk's numbers are the host's (NumPy)
    out_grad = np.ones(output.data.shape, dtype) if seed is None else np.array(
        seed.numpy() if isinstance(seed, Tensor) else to_numpy(seed), dtype=dtype)
    if out_grad.shape != output.data.shape:
        raise GraphError(f"explain: grad has shape {out_grad.shape}, the output has shape "
                         f"{output.data.shape}")
    grads: dict[int, np.ndarray] = {id(output): out_grad}
    contributions: Contributions = {}
    for t in reversed(order):  # right to left: every consumer of a node comes before it
        upstream = grads.get(id(t))
        if t.is_leaf or upstream is None:
            continue
        edges = contributions[id(t)] = []
        # each rule runs where the node's arrays live; what it gives back is read on the host
        local = t.node.local_gradients(to_device(upstream, device_of(t.data)))
        for parent, g in zip(t.inputs if shown is None else shown.inputs(t), local):
            if g is None or not parent.requires_grad:
                continue
            g = sum_to(to_numpy(g), parent.data.shape)
            edges.append((parent, g))
            grads[id(parent)] = g if id(parent) not in grads else grads[id(parent)] + g
    return grads, contributions


def sum_to(g: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Undo broadcasting for display: sum ``g`` down to an operand's shape."""
    while g.ndim > len(shape):
        g = g.sum(axis=0)
    axes = tuple(i for i, n in enumerate(shape) if n == 1 and g.shape[i] != 1)
    g = g.sum(axis=axes, keepdims=True) if axes else g
    return np.broadcast_to(g, shape) if g.shape != shape else g
