"""The tensor: an array that remembers how it was computed.

A :class:`Tensor` wraps an array (``.data``).  When an operation runs on tensors that require
gradients, its output remembers three things: its parents, the
:class:`~chainrule.engine.Primitive` that made it (name, backward function, display template),
and whatever that backward function will need (``_saved``).  :meth:`Tensor.backward` hands the
graph to :func:`~chainrule.engine.backprop.backprop`, which walks it back to the leaves.

This module knows no operation: the arithmetic operators and methods (``+``, ``@``,
``.exp()``, ``.sum()``...) are the primitives of :mod:`chainrule.engine.ops`, bound onto the
class from one table in :mod:`chainrule.engine.methods`.  So the tensor sits below the
operations that build on it, and each method *is* its primitive (no wrapper frame).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..errors import DTypeError, GraphError, SeedError, ShapeError
from . import devices
from .backend import NUMPY, dtype_in, dtype_name, is_array, namespace, ndarray
from .backprop import FREED, backprop
from .higher import seed_for, walk

__all__ = ["Node", "Tensor", "tensor"]


class Tensor:
    """An array that can remember how it was computed, so gradients can flow back through it.

    Build one with :func:`chainrule.tensor` (copies its input) or ``Tensor(array)`` (wraps it;
    a NumPy array goes to ``device``, by default the default device: see
    :mod:`chainrule.engine.devices`).

    >>> import chainrule as cr
    >>> w = cr.tensor(2.0, requires_grad=True)
    >>> J = 0.5 * (w * -2.0 + 8.0 - 2.0) ** 2     # the course's J = 1/2 (wx + b - y)^2
    >>> J.backward()
    >>> J.item(), w.grad.item()
    (2.0, -4.0)

    Gradients of leaves accumulate: a second ``backward()`` adds to ``.grad``, so clear it with
    ``optimizer.zero_grad()`` (or ``t.grad = None``) between steps.

    Args:
        data: The array to wrap (not copied when it is already on ``device``).
        requires_grad: Whether backpropagation should compute a gradient for this tensor.
        name: A name for the tools (``cr.explain`` shows it); None leaves it unnamed.
        device: Where the tensor lives; by default the default device.
    """

    __slots__ = (
        "__weakref__",
        "_args",
        "_op",
        "_parents",
        "_retain",
        "_saved",
        "data",
        "grad",
        "name",
        "requires_grad",
    )

    # NumPy calls on tensors (ndarray + Tensor, np.exp(t)) dispatch to the engine's operations
    # through __array_ufunc__ and __array_function__, bound with the operators (methods.py).

    def __init__(self, data: Any, requires_grad: bool = False, name: str | None = None, *,
                 device: Any = None) -> None:
        if isinstance(data, Tensor):
            data = data.data
        elif isinstance(data, ndarray):
            if data.dtype.kind in "USVO":
                data = _numbers(data)  # an error: it holds no numbers
        elif not is_array(data):  # arrays of other libraries stay on their device
            data = _numbers(data)  # an error unless it holds numbers
        if device is not None:  # where the caller says; else NumPy arrays go to the default
            data = devices.to_device(data, device)
        elif type(data) is ndarray and devices.get_default_device() != "cpu":
            data = devices.to_device(data, devices.get_default_device())
        if requires_grad:
            _check_grad_dtype(data.dtype)
        self.data = data
        self.grad: ndarray | None = None
        self.requires_grad = bool(requires_grad)
        self.name = name
        self._parents: tuple = ()
        self._op: Any = None  # the Primitive that made this tensor; None for a leaf
        self._saved: Any = None
        self._args: tuple | None = None  # display operands, when they differ from _parents
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
    def device(self) -> devices.Device:
        """Where the numbers live: ``"cpu"``, ``"cuda"`` (see :mod:`chainrule.engine.devices`)."""
        return devices.device_of(self.data)

    @property
    def is_leaf(self) -> bool:
        """True for tensors made by the user rather than by an operation."""
        return self._op is None

    @property
    def op(self) -> str | None:
        """Name of the operation that produced this tensor (None for leaves)."""
        op = self._op
        return None if op is None else op.name

    @property
    def inputs(self) -> tuple[Tensor, ...]:
        """The tensors this one was computed from (empty for leaves and freed graphs)."""
        return self._parents

    @property
    def saved(self) -> Any:
        """What the operation's forward kept for its backward (read by primitives)."""
        return self._saved

    @property
    def node(self) -> Node:
        """A read-only :class:`Node` view of this tensor in the graph (for tools)."""
        return Node(self)

    def __len__(self) -> int:
        if not self.data.ndim:
            raise TypeError("len() of a 0-d tensor")
        return self.data.shape[0]

    def item(self) -> float:
        """The value of a one-element tensor as a Python number (read back to the host)."""
        if self.data.size != 1:
            raise ShapeError(f"item() needs a tensor with one element, got shape {self.shape}")
        return devices.to_numpy(self.data).item()

    def numpy(self) -> ndarray:
        """The values as a NumPy array: the underlying array on the CPU (shared, not copied),
        a copy read back from any other device."""
        return devices.to_numpy(self.data)

    def detach(self) -> Tensor:
        """A new leaf sharing this tensor's data, cut off from the graph."""
        return Tensor(self.data)

    def retain_grad(self) -> Tensor:
        """Keep this intermediate tensor's ``.grad`` after backward (leaves always keep it)."""
        self._retain = True
        return self

    def requires_grad_(self, requires_grad: bool = True) -> Tensor:
        """Set ``requires_grad`` in place on a leaf and return the tensor."""
        if requires_grad:
            _check_grad_dtype(self.data.dtype)
        self.requires_grad = requires_grad
        return self

    def __repr__(self) -> str:
        body = NUMPY.array2string(devices.to_numpy(self.data), precision=4, separator=", ",
                                  threshold=20, prefix="tensor(")
        name = dtype_name(self.dtype)
        extra = [f"dtype={name}"] if name != "float64" else []
        if type(self.data) is not ndarray:
            extra.append(f"device={self.device!r}")
        if self.name:
            extra.append(f"name={self.name!r}")
        if self._op is not None:
            extra.append(f"op={self.op}")
        elif self.requires_grad:
            extra.append("requires_grad=True")
        return "tensor(" + ", ".join([body, *extra]) + ")"

    __hash__ = object.__hash__

    def __bool__(self) -> bool:
        return bool(self.data)

    def __float__(self) -> float:
        return float(self.item())

    def __int__(self) -> int:
        return int(self.item())

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
    def backward(self, grad: Any = None, retain_graph: bool | None = None,
                 create_graph: bool = False, inputs: Any = None) -> None:
        """Backpropagate from this tensor, adding d(self)/d(leaf) into every leaf's ``.grad``.

        ``grad`` seeds the pass: it defaults to 1 for a one-element tensor and must be given,
        with this tensor's shape, otherwise.  Leaf gradients accumulate across calls.  The graph
        and the intermediate gradients are released as the pass consumes them, unless
        ``retain_graph=True`` (keep the graph for another backward) or the tensor asked for
        :meth:`retain_grad`.  ``create_graph=True`` records the pass itself: each leaf's
        ``.grad`` becomes a tensor in a graph, to differentiate again (``retain_graph`` then
        defaults to True, as in PyTorch).  ``inputs`` (a tensor or a sequence of them, leaves
        or not) limits the pass to adding into their ``.grad`` alone, as PyTorch's does.

        Args:
            grad: The seed d(output)/d(self), shaped like this tensor; optional for one element.
            retain_graph: Keep the graph for another backward pass (default: ``create_graph``).
            create_graph: Record the backward pass, so the gradients can be differentiated again.
            inputs: Only these tensors get their ``.grad`` added to.

        Raises:
            GraphError: Nothing in the computation requires gradients, or the graph was freed by an
                earlier ``backward()``.
            SeedError: ``grad`` is missing for a tensor of more than one element, or has the wrong
                shape.
        """
        if not self.requires_grad:
            raise GraphError(
                "backward() on a tensor that does not require gradients: no input of the "
                "computation had requires_grad=True (or it ran under no_grad())"
            )
        if retain_graph is None:
            retain_graph = create_graph
        if inputs is not None:
            self._backward_into(inputs, grad, retain_graph, create_graph)
            return
        if create_graph:
            walk([self], [seed_for(self, grad, "backward(grad=...)")], retain_graph=retain_graph,
                 create_graph=True)
            return
        if grad is None:
            if self.data.size != 1:
                raise SeedError(
                    f"backward() on a tensor of shape {self.shape} needs grad=, an array of "
                    "that shape (the seed dJ/d(output)); only one-element outputs default to 1"
                )
            if type(self.data) is ndarray:  # NumPy's ones() is a Python wrapper: 1 us a step
                seed = NUMPY.empty(self.data.shape, self.data.dtype)
                seed.fill(1)
            else:
                seed = namespace(self.data).ones(self.data.shape, dtype=self.data.dtype)
        else:  # a copy, on this tensor's device: never keep the caller's array
            seed = namespace(self.data).asarray(_raw(grad), dtype=self.data.dtype, copy=True)
            if seed.shape != self.data.shape:
                raise SeedError(
                    f"backward(grad=...) got shape {seed.shape}, the tensor has shape {self.shape}"
                )
        if self._op is None:  # backward on a leaf: d(self)/d(self) = seed
            self.grad = seed if self.grad is None else self.grad + seed
            return
        backprop(self, seed, retain_graph)


    def _backward_into(self, inputs: Any, grad: Any, retain_graph: bool,
                       create_graph: bool) -> None:
        targets = (inputs,) if isinstance(inputs, Tensor) else tuple(inputs)
        if not targets:
            raise GraphError("backward(inputs=...) got no tensors; leave inputs out to add into "
                             "every leaf's .grad")
        for i, t in enumerate(targets):
            if not isinstance(t, Tensor) or not t.requires_grad:
                raise GraphError(f"backward(inputs=...): inputs[{i}] is not a tensor that "
                                 "requires gradients")
        found = walk([self], [seed_for(self, grad, "backward(grad=...)")],
                     retain_graph=retain_graph, create_graph=create_graph, wanted=targets) or []
        for t, g in zip(targets, found):
            if g is None:
                continue  # not used by this output: its .grad stays as it was
            if create_graph:
                t.grad = g if t.grad is None else (
                    t.grad if isinstance(t.grad, Tensor) else Tensor(t.grad)) + g
            else:
                g = g.data if isinstance(g, Tensor) else g
                t.grad = namespace(g).asarray(g, copy=True) if t.grad is None else t.grad + g


def _check_grad_dtype(dtype: Any) -> None:
    if dtype_name(dtype) not in ("float32", "float64"):  # float16 saturates in sigmoid/exp
        raise DTypeError(
            f"only floating-point tensors (float32, float64) can require gradients, got dtype "
            f"{dtype}; "
            "convert with x.astype('float32') (or 'float64')"
        )


def _raw(x: Any) -> Any:
    return x.data if isinstance(x, Tensor) else x


def tensor(data: Any, requires_grad: bool = False, dtype: Any = None,
           device: Any = None) -> Tensor:
    """Make a tensor from a number, nested list or array; the data is copied.

    Floating-point data keeps its precision (float32 stays float32); Python floats become
    float64, as in NumPy.  ``device`` ("cpu", "cuda") says where it lives: by default the
    device of an array given, else the default device (the CPU unless set).

    >>> import chainrule as cr
    >>> cr.tensor([[1.0, 2.0]], dtype="float32")
    tensor([[1., 2.]], dtype=float32)

    Args:
        data: A number, a nested list, or an array (NumPy, or one of another device's library).
        requires_grad: Whether backpropagation should compute a gradient for this tensor
            (a leaf whose ``.grad`` the optimizers step on).
        dtype: The element type, e.g. ``"float32"``; by default the data's own (Python floats
            become float64).
        device: Where the tensor lives (``"cpu"``, ``"cuda"``); by default the device of an
            array given, else the default device.

    Returns:
        A new tensor holding a copy of ``data``.

    Raises:
        DTypeError: ``requires_grad=True`` for a dtype that cannot be trained (float16, integers).
        DeviceError: ``device`` is not usable here (no CuPy, no GPU).
    """
    if isinstance(data, Tensor):
        data = data.data
    if is_array(data) and type(data) is not ndarray:  # on a device already: copy it there
        xp = namespace(data)
        arr = xp.asarray(data, copy=True) if dtype is None else xp.astype(
            data, dtype_in(xp, dtype))
    else:
        arr = _numbers(data, copy=True, dtype=dtype)
    return Tensor(arr, requires_grad=requires_grad, device=device)


def _numbers(data: Any, copy: bool = False, dtype: Any = None) -> ndarray:
    """``data`` as an array of numbers, or a DTypeError saying why it is not one (ragged
    nested lists, text, objects)."""
    try:
        arr = NUMPY.array(data, dtype=dtype) if copy else NUMPY.asarray(data, dtype=dtype)
    except (ValueError, TypeError) as err:
        raise DTypeError(f"cannot make a tensor from {type(data).__name__} data: nested lists "
                         f"must be rectangular and hold numbers ({err})") from None
    if arr.dtype == object or arr.dtype.kind in "USV":
        raise DTypeError(f"cannot make a tensor from data of dtype {arr.dtype}: need numbers")
    return arr


class Node:
    """A read-only view of one tensor in the graph, for tools that explain or inspect it.

    >>> import chainrule as cr
    >>> w = cr.tensor(3.0, requires_grad=True)
    >>> n = (1 - w).node
    >>> n.op, n.formula(lambda t: "w"), n.value.item()
    ('sub', '1 - w', -2.0)
    """

    __slots__ = ("_t",)

    def __init__(self, t: Tensor) -> None:
        self._t = t

    @property
    def tensor(self) -> Tensor:
        return self._t

    @property
    def op(self) -> str | None:
        """The operation's name; None for a leaf."""
        return self._t.op

    @property
    def primitive(self) -> Any:
        return self._t._op

    @property
    def inputs(self) -> tuple[Tensor, ...]:
        """The tensors this node was computed from (the edges of the graph)."""
        return self._t._parents

    @property
    def operands(self) -> tuple:
        """What the formula shows: the inputs, and constants the graph does not keep."""
        t = self._t
        return t._args if t._args is not None else t._parents

    @property
    def value(self) -> ndarray:
        return self._t.data

    @property
    def grad(self) -> ndarray | None:
        return self._t.grad

    @property
    def device(self) -> devices.Device:
        """Where the numbers live: ``"cpu"``, ``"cuda"`` (see :mod:`chainrule.engine.devices`)."""
        return devices.device_of(self.data)

    @property
    def is_leaf(self) -> bool:
        return self._t._op is None

    @property
    def freed(self) -> bool:
        """Whether a backward pass already released this node's graph."""
        return self._t._op is FREED

    def local_gradients(self, upstream: ndarray) -> tuple:
        """The vector-Jacobian products this node sends to each input for ``upstream``.

        Shaped like the output (broadcasting not yet undone); the graph is left as it was.
        """
        t = self._t
        if t._op is None:
            return ()
        return t._op.backward(t, upstream)

    def formula(self, name_of: Callable[[Tensor], str],
                constant: Callable[[Any], str] | None = None) -> str:
        """The node written out, e.g. ``1 - w``: ``name_of`` names tensors, ``constant``
        writes the other operands (default: numbers as ``str``, negatives bracketed)."""
        prim = self._t._op
        if prim is None:
            return name_of(self._t)
        show = constant or _constant
        parts = [name_of(a) if isinstance(a, Tensor) else show(a) for a in self.operands]
        return prim.show(parts)


def _constant(c: Any) -> str:
    if isinstance(c, str):
        return c
    if isinstance(c, float) and c.is_integer() and abs(c) < 1e15:
        c = int(c)
    text = str(c)
    return f"({text})" if text.startswith("-") else text
