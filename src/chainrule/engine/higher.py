"""Gradients that are themselves in a graph: ``backward(create_graph=True)`` and :func:`grad`.

Every backward rule is written once, with NumPy, for arrays (see :mod:`chainrule.engine.ops`).
For a gradient of a gradient the same rule runs again on *tensors*: its node is shown to it
through a :class:`Lifted` view whose ``.data`` is the tensor itself rather than its array, the
arriving gradient is a tensor, and every NumPy call in the rule dispatches to the engine's own
operations (the tables in :mod:`chainrule.engine.methods`).  So the rule records the nodes of
the backward pass while it computes it, and that graph can be differentiated again: higher
order comes from the same formula (HIPS autograd's way, through NumPy's dispatch protocols).

What a rule *saved* in its forward pass is the one thing lifting cannot see through: a saved
array that depends on an input would be a constant to the new graph, and its second
derivative silently wrong.  So a primitive says what its saved values are (``Primitive(...,
saved=...)``): constants (axes, masks, scalars), or a function that recomputes them from the
tensors; a rule whose primitive says neither, and that reads ``out.saved``, stops with a
:class:`~chainrule.errors.GraphError` naming it.

>>> import chainrule as cr
>>> x = cr.tensor(3.0, requires_grad=True)
>>> y = x ** 3
>>> y.backward(create_graph=True)        # x.grad = 3 x^2 = 27, itself a tensor in a graph
>>> dydx = x.grad
>>> x.grad = None
>>> dydx.backward()                      # d(3 x^2)/dx = 6 x = 18
>>> dydx.item(), x.grad.item()
(27.0, 18.0)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from ..errors import GraphError, SeedError
from .backend import is_array, namespace
from .backprop import FREED, free, unbroadcast
from .recording import grad_mode

if TYPE_CHECKING:
    from .tensor import Tensor

__all__ = ["Lifted", "seed_for", "walk"]


class Lifted:
    """A node as its backward rule sees it in a differentiable pass: ``.data`` is the tensor
    itself (so arithmetic on it records), its inputs are lifted too, and ``.saved`` is what
    its primitive declares (constants, or values recomputed from the tensors)."""

    __slots__ = ("_t",)

    def __init__(self, t: Tensor) -> None:
        self._t = t

    @property
    def data(self) -> Tensor:
        return self._t

    @property
    def inputs(self) -> tuple[Lifted, ...]:
        return tuple(Lifted(p) for p in self._t._parents)

    _parents = inputs  # the engine's own rules read the slot's name

    @property
    def saved(self) -> Any:
        t = self._t
        op = t._op
        kept = getattr(op, "saved", None)
        if t._saved is None or kept == "constant":
            return t._saved
        if callable(kept):
            return kept(t)
        raise GraphError(
            f"the backward rule of {op.name!r} reads out.saved, which a gradient of a gradient "
            "cannot follow (a saved array would count as a constant). Declare what it saves: "
            f"Primitive({op.name!r}, backward, saved='constant') if the saved values do not "
            "depend on the inputs, or saved=<function of the output tensor returning them "
            "computed with chainrule operations>; or compute them in the rule from out.inputs"
        )

    _saved = saved

    @property
    def _args(self) -> Any:
        return self._t._args

    @property
    def requires_grad(self) -> bool:
        return self._t.requires_grad

    @property
    def shape(self) -> tuple[int, ...]:
        return self._t.data.shape

    @property
    def ndim(self) -> int:
        return self._t.data.ndim

    @property
    def dtype(self) -> Any:
        return self._t.data.dtype


def seed_for(t: Tensor, g: Any, where: str) -> Any:
    """The seed d(out)/d(t): ones for a one-element output, else ``g`` checked for shape."""
    if g is None:
        if t.data.size != 1:
            raise SeedError(f"{where}: an output of shape {t.shape} needs its gradient given "
                             "(grad_outputs=, an array of that shape); only one-element "
                             "outputs default to 1")
        return namespace(t.data).ones(t.data.shape, dtype=t.data.dtype)
    if isinstance(g, type(t)):
        if g.data.shape != t.data.shape:
            raise SeedError(f"{where}: a gradient of shape {g.shape} for an output of shape "
                             f"{t.shape}")
        # As PyTorch, the seed takes the output's dtype (differentiably, for create_graph).
        return g if g.data.dtype == t.data.dtype else g.astype(t.data.dtype)
    raw = g.data if hasattr(g, "data") and not is_array(g) else g
    seed = namespace(t.data).asarray(raw, dtype=t.data.dtype, copy=True)  # never the caller's
    if seed.shape != t.data.shape:
        raise SeedError(f"{where}: a gradient of shape {seed.shape} for an output of shape "
                         f"{t.shape}")
    return seed


def walk(roots: Sequence[Tensor], seeds: Sequence[Any], *, retain_graph: bool,
         create_graph: bool, wanted: Sequence[Tensor] | None = None) -> list[Any] | None:
    """Send each seed back from its root through the recorded graph.

    With ``wanted`` None, gradients add into the leaves' ``.grad`` (``Tensor.backward``);
    otherwise nothing is written to ``.grad`` and the gradients of the wanted tensors (leaves
    or not) come back, None where none arrived.  With ``create_graph`` every gradient is a
    tensor computed by recorded operations (:class:`Lifted`), so it can be differentiated
    again; without it, gradients are arrays, as in :func:`~chainrule.engine.backprop.backprop`.
    """
    wrap = type(roots[0])
    # The same tensor may be wanted at several places (PyTorch gives each its gradient).
    want: dict[int, list[int]] | None = None
    needed: set[int] | None = None
    if wanted is not None:
        want = {}
        for i, t in enumerate(wanted):
            want.setdefault(id(t), []).append(i)
        needed = _on_paths(roots, want)
    # Count the edges along which a gradient will reach each interior node (Kahn's algorithm).
    pending: dict[int, int] = {}
    stack = list(dict.fromkeys(roots))  # an output listed twice still counts its edges once
    while stack:
        for parent in stack.pop()._parents:
            if parent._op is not None and parent.requires_grad and (
                    needed is None or id(parent) in needed):
                key = id(parent)
                if key in pending:
                    pending[key] += 1
                else:
                    pending[key] = 1
                    stack.append(parent)
    found: list[Any] = [None] * len(wanted) if wanted is not None else []
    grads: dict[int, Any] = {}
    # The ids of the gradient tensors already seen outside: the seeds and what some .grad holds.
    handed: set[int] = set()

    def arrive(t: Tensor, g: Any) -> None:
        if want is not None and id(t) in want:
            for i in want[id(t)]:
                found[i] = g if found[i] is None else found[i] + g
        if t._op is None:  # a leaf
            if want is None:
                if create_graph:
                    if t.grad is None:
                        # PyTorch clones into .grad: never share the caller's seed or another
                        # leaf's gradient (an add passes g on as it is) with this leaf
                        t.grad = g * 1 if id(g) in handed else g
                        handed.add(id(t.grad))
                    else:
                        t.grad = t.grad + g if isinstance(t.grad, wrap) else wrap(t.grad) + g
                elif t.grad is None:
                    t.grad = namespace(g).asarray(g, copy=True)
                else:
                    t.grad = t.grad + g
            return
        key = id(t)
        grads[key] = g if grads.get(key) is None else grads[key] + g

    for root, seed in zip(roots, seeds):
        if create_graph and not isinstance(seed, wrap):
            seed = wrap(seed)
        elif not create_graph and isinstance(seed, wrap):  # the array rules take arrays
            seed = seed.data
        handed.add(id(seed))
        arrive(root, seed)
    ready = [r for r in dict.fromkeys(roots) if r._op is not None
             and pending.get(id(r), 0) == 0 and (needed is None or id(r) in needed)]
    previous = grad_mode.get()
    grad_mode.set((create_graph, None))  # the lifted rules record (or not) into no tape
    try:
        while ready:
            node = ready.pop()
            g = grads.pop(id(node), None)
            parents = node._parents
            if needed is not None and not any(id(p) in needed for p in parents) and (
                    node._op is not FREED or (want is not None and id(node) in want)):
                continue  # a wanted tensor with nothing wanted above it: its rule is not run
            if g is None:
                pgs: tuple = (None,) * len(parents)
            elif create_graph:
                pgs = _lifted_rule(node, g)
            else:
                pgs = node._op.backward(node, g)
            if node._retain and want is None:
                node.grad = g
                handed.add(id(g))
            for parent, pg in zip(parents, pgs):
                if not parent.requires_grad or (needed is not None
                                                and id(parent) not in needed):
                    continue
                if pg is not None:
                    if create_graph and not isinstance(pg, wrap):
                        pg = wrap(pg)
                    if pg.shape != parent.data.shape:
                        pg = unbroadcast(pg, parent.data.shape)
                    arrive(parent, pg)
                if parent._op is not None:
                    key = id(parent)
                    pending[key] -= 1
                    if pending[key] == 0:
                        ready.append(parent)
            if not retain_graph:
                free(node)
    finally:
        grad_mode.set(previous)
    return found if wanted is not None else None


def _on_paths(roots: Sequence[Tensor], want: dict[int, list[int]]) -> set[int]:
    """The ids of the tensors on a path from a root down to a wanted tensor.

    As PyTorch's engine, :func:`grad` runs the backward rules of these nodes only: the rest of
    the graph is neither computed (a first-order-only rule below the wanted tensors is no
    obstacle) nor freed (another backward can still go through it)."""
    needed: set[int] = set()
    done: set[int] = set()
    stack: list[tuple[Tensor, bool]] = [(r, False) for r in roots]
    while stack:  # depth first, children after parents (no recursion: graphs can be deep)
        t, expanded = stack.pop()
        key = id(t)
        if expanded:
            # A freed node hides what was above it: it goes in, so its rule says it is freed.
            if key in want or t._op is FREED or any(id(p) in needed for p in t._parents):
                needed.add(key)
            done.add(key)
            continue
        if key in done:
            continue
        stack.append((t, True))
        stack.extend((p, False) for p in t._parents
                     if p.requires_grad and id(p) not in done)
    return needed


def _lifted_rule(node: Tensor, g: Tensor) -> tuple:
    op = node._op
    try:
        return op.backward(Lifted(node), g)
    except GraphError:
        raise
    except TypeError as err:
        if "Tensor" not in str(err) and "__array_function__" not in str(err):
            raise
        raise GraphError(
            f"the backward rule of {op.name!r} is first-order only: it calls something "
            f"chainrule cannot record ({err}). Write the rule with operations that work on "
            "arrays and tensors alike (+ - * / @, .sum(), .reshape(), np.exp, np.where, ...; "
            "see chainrule.engine.methods.NUMPY_FUNCTIONS), so its gradient can be "
            "differentiated again"
        ) from err
