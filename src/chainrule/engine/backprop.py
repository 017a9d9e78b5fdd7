"""The backward pass: walk a recorded graph from its output back to the leaves.

Each node runs once every consumer has sent it its gradient, and adds its contribution into
its parents.  The walk uses explicit stacks, never recursion, so a chain of 100,000 operations
is fine.  Two rules keep every primitive short:

* **Broadcasting is undone here, once.**  A backward function returns gradients shaped like
  the *output*; :func:`unbroadcast` sums them down to each parent's shape.
* **Backward functions never write into arrays they are given.**  A backward function may return
  the incoming gradient itself (``add`` does); the walk copies before it keeps such an array
  in a leaf's ``.grad``, so two leaves never share one gradient buffer.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..errors import GraphError, ShapeError
from .backend import namespace, ndarray

if TYPE_CHECKING:
    from .tensor import Tensor

__all__ = ["FREED", "backprop", "free", "sum_rows", "unbroadcast"]


class _FreedGraph:
    """Stands in for a node's primitive once backward() has released its graph."""

    name = "freed"
    template = None

    @staticmethod
    def show(operands: list[str]) -> str:
        return "(freed by backward)"

    @staticmethod
    def backward(out: Tensor, grad: ndarray) -> tuple:
        raise GraphError(
            "backward through a graph that was already freed: the first backward() released "
            "the intermediate results to save memory; pass retain_graph=True to the first "
            "call if you need to backpropagate through the same graph twice"
        )


FREED = _FreedGraph()


def backprop(root: Tensor, seed: ndarray, retain_graph: bool = False) -> None:
    """Send ``seed`` (d(out)/d(root), shaped like ``root``) back from the interior node
    ``root``, adding into every leaf's ``.grad``; free the graph unless ``retain_graph``."""
    # Count, for each interior node, the edges along which a gradient will arrive; a node
    # runs once all have arrived (Kahn's algorithm: no recursion, no separate sort).
    pending: dict[int, int] = {}
    stack = [root]
    while stack:
        for parent in stack.pop()._parents:
            if parent._op is not None and parent.requires_grad:
                key = id(parent)
                if key in pending:
                    pending[key] += 1
                else:
                    pending[key] = 1
                    parent.grad = None  # intermediate gradients start fresh every pass
                    stack.append(parent)

    root.grad = seed
    ready = [root]
    while ready:
        node = ready.pop()
        g = node.grad
        parents = node._parents
        grads = node._op.backward(node, g) if g is not None else (None,) * len(parents)
        if not node._retain:
            node.grad = None
        for parent, pg in zip(parents, grads):
            if not parent.requires_grad:
                continue
            interior = parent._op is not None
            if pg is not None:
                if pg.shape != parent.data.shape:
                    pg = unbroadcast(pg, parent.data.shape)
                if not interior:  # a leaf keeps its gradient: own the array, add in place
                    if parent.grad is None:
                        if type(pg) is not ndarray:  # other libraries: views are not known
                            pg = namespace(pg).asarray(pg, copy=True)
                        elif pg is g or pg.base is not None or not pg.flags.writeable:
                            pg = pg.copy()
                        parent.grad = pg
                    else:
                        parent.grad += pg
                elif parent.grad is None:
                    parent.grad = pg
                else:
                    parent.grad = parent.grad + pg
            if interior:
                key = id(parent)
                pending[key] -= 1
                if pending[key] == 0:
                    ready.append(parent)
        if not retain_graph:
            free(node)


def free(node: Tensor) -> None:
    """Release what ``node`` kept for its backward pass: its edges, saved values and operands
    (the memory a training step gives back); its primitive becomes :data:`FREED`, which says so
    if another backward pass reaches it."""
    node._parents = ()
    node._saved = None
    node._args = None
    node._op = FREED


def unbroadcast(grad: ndarray, shape: tuple[int, ...]) -> ndarray:
    """Sum ``grad`` down to ``shape``: the adjoint of NumPy broadcasting.

    Axes that broadcasting prepended are summed away; axes where the operand had size 1 are
    summed with keepdims.  This is the course's ``db = np.sum(dZ, axis=1, keepdims=True)``,
    made general, and the only place the engine handles broadcasting.

    >>> import numpy as np
    >>> unbroadcast(np.ones((3, 2)), (1, 2)).tolist()
    [[3.0, 3.0]]
    """
    extra = grad.ndim - len(shape)
    if extra == 1 and grad.ndim == 2:  # a bias broadcast over rows: (N, k) -> (k,)
        grad = sum_rows(grad)
    elif extra > 0:
        grad = namespace(grad).sum(grad, axis=tuple(range(extra)))
    axes = tuple(i for i, n in enumerate(shape) if n == 1 and grad.shape[i] != 1)
    if axes:
        grad = namespace(grad).sum(grad, axis=axes, keepdims=True)
    if grad.shape != shape:  # only a buggy backward function can get here
        raise ShapeError(f"gradient of shape {grad.shape} cannot be reduced to {shape}")
    return grad


def sum_rows(g: ndarray) -> ndarray:
    """``g.sum(axis=0)`` for a 2-D array, as a matrix-vector product: NumPy's axis-0 reduction
    is several times slower when rows are short (a 400 x 4 gradient, say)."""
    if type(g) is not ndarray:  # the matrix-vector trick is NumPy's; others sum (tensors too)
        return namespace(g).sum(g, axis=0)
    key = (g.shape[0], g.dtype)
    ones = _ONES.get(key)
    if ones is None:
        if len(_ONES) > 64:  # batch sizes vary little; keep the cache small anyway
            _ONES.clear()
        ones = _ONES[key] = namespace(g).ones(g.shape[0], dtype=g.dtype)
    return ones @ g


_ONES: dict[tuple, ndarray] = {}
