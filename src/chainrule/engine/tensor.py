"""The tensor, the graph it records, and the backward pass.

A :class:`Tensor` wraps an array (``.data``).  When an operation runs on tensors that require
gradients, its output remembers three things: its parents, a backward function, and whatever
that function will need (``_saved``).  :meth:`Tensor.backward` walks those nodes from the
output back to the inputs, running a node once every consumer has sent it its gradient, and
adds each node's contribution into its parents.  It uses explicit stacks, never recursion, so a
chain of 100,000 operations is fine.

Two rules keep every primitive short:

* **Broadcasting is undone here, once.**  A backward function returns gradients shaped like
  the *output*; :func:`_unbroadcast` sums them down to each parent's shape.
* **Backward functions never write into arrays they are given.**  A backward function may return
  the incoming gradient itself (``add`` does); the engine copies before it keeps such an array
  in a leaf's ``.grad``, so two leaves never share one gradient buffer.

The primitives themselves live in :mod:`chainrule.engine.ops`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from ..errors import DTypeError, GraphError, ShapeError
from .backend import ndarray, xp

__all__ = ["Tensor", "enable_grad", "is_grad_enabled", "no_grad", "tensor"]


class _GradMode:
    __slots__ = ("enabled",)

    def __init__(self) -> None:
        self.enabled = True


_mode = _GradMode()


@contextmanager
def no_grad() -> Iterator[None]:
    """Run a block without recording a graph (inference, optimizer updates, evaluation).

    >>> import chainrule as cr
    >>> w = cr.tensor([1.0, 2.0], requires_grad=True)
    >>> with cr.no_grad():
    ...     y = (w * 3).sum()
    >>> y.requires_grad
    False
    """
    previous = _mode.enabled
    _mode.enabled = False
    try:
        yield
    finally:
        _mode.enabled = previous


@contextmanager
def enable_grad() -> Iterator[None]:
    """Record a graph again inside a :func:`no_grad` block."""
    previous = _mode.enabled
    _mode.enabled = True
    try:
        yield
    finally:
        _mode.enabled = previous


def is_grad_enabled() -> bool:
    """Whether operations currently record a graph."""
    return _mode.enabled


def _freed(node: Tensor, grad: ndarray) -> tuple:
    raise GraphError(
        "backward through a graph that was already freed: the first backward() released the "
        "intermediate results to save memory; pass retain_graph=True to the first call if you "
        "need to backpropagate through the same graph twice"
    )


class Tensor:
    """An array that can remember how it was computed, so gradients can flow back through it.

    Build one with :func:`chainrule.tensor` (copies its input) or ``Tensor(array)`` (wraps it).

    >>> import chainrule as cr
    >>> w = cr.tensor(2.0, requires_grad=True)
    >>> J = 0.5 * (w * -2.0 + 8.0 - 2.0) ** 2     # the seeds' J = 1/2 (wx + b - y)^2
    >>> J.backward()
    >>> J.item(), w.grad.item()
    (2.0, -4.0)

    Gradients of leaves accumulate: a second ``backward()`` adds to ``.grad``, so clear it with
    ``optimizer.zero_grad()`` (or ``t.grad = None``) between steps.
    """

    __slots__ = (
        "__weakref__",
        "_backward",
        "_parents",
        "_retain",
        "_saved",
        "data",
        "grad",
        "name",
        "requires_grad",
    )

    # NumPy defers to our reflected operators (ndarray + Tensor -> Tensor.__radd__).
    __array_ufunc__ = None

    def __init__(self, data: Any, requires_grad: bool = False, name: str | None = None) -> None:
        if isinstance(data, Tensor):
            data = data.data
        data = xp.asarray(data)
        if requires_grad and data.dtype.kind != "f":
            raise DTypeError(
                f"only floating-point tensors can require gradients, got dtype {data.dtype}; "
                "pass dtype=np.float64 (or float32)"
            )
        self.data = data
        self.grad: ndarray | None = None
        self.requires_grad = bool(requires_grad)
        self.name = name
        self._parents: tuple = ()
        self._backward: Callable | None = None
        self._saved: Any = None
        self._retain = False

    # -- plain properties ---------------------------------------------------------------------
    @property
    def shape(self) -> tuple[int, ...]:
        return self.data.shape

    @property
    def dtype(self) -> Any:
        return self.data.dtype

    @property
    def ndim(self) -> int:
        return self.data.ndim

    @property
    def size(self) -> int:
        return self.data.size

    @property
    def is_leaf(self) -> bool:
        """True for tensors made by the user rather than by an operation."""
        return self._backward is None

    @property
    def op(self) -> str | None:
        """Name of the operation that produced this tensor (None for leaves)."""
        fn = self._backward
        if fn is None:
            return None
        return fn.__name__.removeprefix("_").removesuffix("_backward")

    def __len__(self) -> int:
        return len(self.data)

    def item(self) -> float:
        """The value of a one-element tensor as a Python number."""
        if self.data.size != 1:
            raise ShapeError(f"item() needs a tensor with one element, got shape {self.shape}")
        return self.data.item()

    def numpy(self) -> ndarray:
        """The underlying array (shared, not copied)."""
        return self.data

    def detach(self) -> Tensor:
        """A new leaf sharing this tensor's data, cut off from the graph."""
        return Tensor(self.data)

    def retain_grad(self) -> Tensor:
        """Keep this intermediate tensor's ``.grad`` after backward (leaves always keep it)."""
        self._retain = True
        return self

    def requires_grad_(self, requires_grad: bool = True) -> Tensor:
        """Set ``requires_grad`` in place on a leaf and return the tensor."""
        if requires_grad and self.data.dtype.kind != "f":
            raise DTypeError(f"only floating-point tensors can require gradients, got {self.dtype}")
        self.requires_grad = requires_grad
        return self

    def __repr__(self) -> str:
        body = xp.array2string(self.data, precision=4, separator=", ", threshold=20,
                               prefix="tensor(")
        extra = [f"dtype={self.dtype}"] if self.dtype != xp.float64 else []
        if self.name:
            extra.append(f"name={self.name!r}")
        if self._backward is not None:
            extra.append(f"op={self.op}")
        elif self.requires_grad:
            extra.append("requires_grad=True")
        return "tensor(" + ", ".join([body, *extra]) + ")"

    __hash__ = object.__hash__

    def __bool__(self) -> bool:
        return bool(self.data)

    # Comparisons are not differentiable: they return plain boolean arrays.
    def __lt__(self, other: Any) -> ndarray:
        return self.data < _raw(other)

    def __le__(self, other: Any) -> ndarray:
        return self.data <= _raw(other)

    def __gt__(self, other: Any) -> ndarray:
        return self.data > _raw(other)

    def __ge__(self, other: Any) -> ndarray:
        return self.data >= _raw(other)

    def __eq__(self, other: Any) -> ndarray:  # type: ignore[override]
        return self.data == _raw(other)

    def __ne__(self, other: Any) -> ndarray:  # type: ignore[override]
        return self.data != _raw(other)

    # -- the backward pass --------------------------------------------------------------------
    def backward(self, grad: Any = None, retain_graph: bool = False) -> None:
        """Backpropagate from this tensor, adding d(self)/d(leaf) into every leaf's ``.grad``.

        ``grad`` seeds the pass: it defaults to 1 for a one-element tensor and must be given,
        with this tensor's shape, otherwise.  Leaf gradients accumulate across calls.  The graph
        and the intermediate gradients are released as the pass consumes them, unless
        ``retain_graph=True`` (keep the graph for another backward) or the tensor asked for
        :meth:`retain_grad`.
        """
        if not self.requires_grad:
            raise GraphError(
                "backward() on a tensor that does not require gradients: no input of the "
                "computation had requires_grad=True (or it ran under no_grad())"
            )
        if grad is None:
            if self.data.size != 1:
                raise ShapeError(
                    f"backward() on a tensor of shape {self.shape} needs grad=, an array of "
                    "that shape (the seed dJ/d(output)); only one-element outputs default to 1"
                )
            seed = xp.empty(self.data.shape, self.data.dtype)  # ones_like is a slow wrapper
            seed.fill(1)
        else:
            seed = xp.array(_raw(grad), dtype=self.data.dtype)  # copy: never keep the caller's
            if seed.shape != self.data.shape:
                raise ShapeError(
                    f"backward(grad=...) got shape {seed.shape}, the tensor has shape {self.shape}"
                )
        if self._backward is None:  # backward on a leaf: d(self)/d(self) = seed
            self.grad = seed if self.grad is None else self.grad + seed
            return

        # Count, for each interior node, the edges along which a gradient will arrive; a node
        # runs once all have arrived (Kahn's algorithm: no recursion, no separate sort).
        pending: dict[int, int] = {}
        stack = [self]
        while stack:
            for parent in stack.pop()._parents:
                if parent._backward is not None and parent.requires_grad:
                    key = id(parent)
                    if key in pending:
                        pending[key] += 1
                    else:
                        pending[key] = 1
                        parent.grad = None  # intermediate gradients start fresh every pass
                        stack.append(parent)

        self.grad = seed
        ready = [self]
        while ready:
            node = ready.pop()
            g = node.grad
            parents = node._parents
            grads = node._backward(node, g) if g is not None else (None,) * len(parents)
            if not node._retain:
                node.grad = None
            for parent, pg in zip(parents, grads):
                if not parent.requires_grad:
                    continue
                interior = parent._backward is not None
                if pg is not None:
                    if pg.shape != parent.data.shape:
                        pg = _unbroadcast(pg, parent.data.shape)
                    if not interior:  # a leaf keeps its gradient: own the array, add in place
                        if parent.grad is None:
                            if pg is g or pg.base is not None or not pg.flags.writeable:
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
                node._parents = ()
                node._saved = None
                node._backward = _freed

    # Operators and methods are attached in ops.py, beside their backward functions.


def _raw(x: Any) -> Any:
    return x.data if isinstance(x, Tensor) else x


def _unbroadcast(grad: ndarray, shape: tuple[int, ...]) -> ndarray:
    """Sum ``grad`` down to ``shape``: the adjoint of NumPy broadcasting.

    Axes that broadcasting prepended are summed away; axes where the operand had size 1 are
    summed with keepdims.  This is the seeds' ``db = np.sum(dZ, axis=1, keepdims=True)``,
    made general, and the only place the engine handles broadcasting.
    """
    extra = grad.ndim - len(shape)
    if extra == 1 and grad.ndim == 2:  # a bias broadcast over rows: (N, k) -> (k,)
        grad = _sum_rows(grad)
    elif extra > 0:
        grad = grad.sum(axis=tuple(range(extra)))
    axes = tuple(i for i, n in enumerate(shape) if n == 1 and grad.shape[i] != 1)
    if axes:
        grad = grad.sum(axis=axes, keepdims=True)
    if grad.shape != shape:  # only a buggy backward function can get here
        raise ShapeError(f"gradient of shape {grad.shape} cannot be reduced to {shape}")
    return grad


def _sum_rows(g: ndarray) -> ndarray:
    """``g.sum(axis=0)`` for a 2-D array, as a matrix-vector product: NumPy's axis-0 reduction
    is several times slower when rows are short (a 400 x 4 gradient, say)."""
    key = (g.shape[0], g.dtype.char)
    ones = _ONES.get(key)
    if ones is None:
        if len(_ONES) > 64:  # batch sizes vary little; keep the cache small anyway
            _ONES.clear()
        ones = _ONES[key] = xp.ones(g.shape[0], dtype=g.dtype)
    return ones @ g


_ONES: dict[tuple[int, str], ndarray] = {}


def tensor(data: Any, requires_grad: bool = False, dtype: Any = None) -> Tensor:
    """Make a tensor from a number, nested list or array; the data is copied.

    Floating-point data keeps its precision (float32 stays float32); Python floats become
    float64, as in NumPy.

    >>> import chainrule as cr
    >>> cr.tensor([[1.0, 2.0]], dtype="float32")
    tensor([[1., 2.]], dtype=float32)
    """
    if isinstance(data, Tensor):
        data = data.data
    arr = xp.array(data, dtype=dtype)
    if arr.dtype == object or arr.dtype.kind in "USV":
        raise DTypeError(f"cannot make a tensor from data of dtype {arr.dtype}: need numbers")
    return Tensor(arr, requires_grad=requires_grad)
