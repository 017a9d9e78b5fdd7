"""The public way to define a differentiable operation.

A primitive is data: a name, a backward function and a display template.  Calling it on a
forward result records a node in the graph (only when some input requires a gradient):

>>> import chainrule as cr
>>> from chainrule.engine import Primitive
>>> def _cube_backward(out, g):          # d(x^3)/dx = 3 x^2, times the arriving gradient
...     (x,) = out.inputs
...     return (g * 3 * x.data ** 2,)
>>> cube = Primitive("cube", _cube_backward, template="{0} ** 3")
>>> x = cr.tensor(2.0, requires_grad=True)
>>> y = cube(x.data ** 3, (x,))
>>> y.op
'cube'
>>> y.backward(); (y.item(), x.grad.item())
(8.0, 12.0)

``backward(out, grad)`` returns one gradient per input (``None`` where none is needed), shaped
like the *output*: the engine sums broadcasting away.  It reads only ``out.inputs``,
``out.saved`` (what the forward chose to keep) and ``out.data`` (the forward value), and never
writes into the arrays it is given.

The template shows the node in explanations: ``"{0} - {1}"``, ``"exp({0})"``, or a function
of the rendered operands.  ``args`` (default: the inputs) are the operands it shows, so a
constant the graph does not keep as an input still appears, as in ``1 - w``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from ..errors import ConfigError
from .backend import NUMPY, is_array, ndarray
from .recording import Record, grad_mode
from .tensor import Tensor

__all__ = ["Primitive", "node"]

Backward = Callable[[Tensor, ndarray], tuple]
Template = str | Callable[[list[str]], str]

_new = Tensor.__new__
_grad_mode = grad_mode.get  # bound once: node() runs on every operation


class Primitive:
    """A differentiable operation: ``name``, ``backward(out, grad)`` and a display template.

    ``saved`` says what the forward keeps in ``out.saved``, for gradients of gradients (see
    :mod:`chainrule.engine.higher`): ``"constant"`` (shapes, axes, masks, scalars: nothing
    that depends on an input's values) or a function of the output tensor that recomputes the
    saved values with chainrule operations.  A rule that reads ``out.saved`` of a primitive
    declaring neither is first-order only, and says so at ``create_graph=True``.

    Args:
        name: The name the operation is shown by (in ``cr.explain``, messages, the graph).
        backward: ``backward(out, grad)``, returning one gradient (or None) per input of ``out``;
            it reads only ``out.inputs``, ``out.saved`` and ``out.data``.
        template: How to show the node as a formula: a format string over the operands
            (``"{0} ** 3"``) or a function of the operand strings; None shows ``name(a, b)``.
        saved: What ``out.saved`` holds, for gradients of gradients: ``"constant"``, a function
            of the output tensor that recomputes it, or None.

    Raises:
        ConfigError: ``saved`` is none of those.

    >>> import chainrule as cr
    >>> def _cube_backward(out, g):
    ...     (x,) = out.inputs
    ...     return (g * 3 * x.data ** 2,)
    >>> cube = cr.Primitive("cube", _cube_backward, template="{0} ** 3")
    >>> w = cr.tensor(2.0, requires_grad=True)
    >>> y = cube(w.data ** 3, (w,))
    >>> y.backward()
    >>> float(w.grad)
    12.0
    """

    __slots__ = ("backward", "name", "saved", "template")

    def __init__(self, name: str, backward: Backward, template: Template | None = None, *,
                 saved: str | Callable[[Tensor], Any] | None = None) -> None:
        if saved is not None and saved != "constant" and not callable(saved):
            raise ConfigError(f"Primitive {name!r}: saved must be 'constant', a function of the "
                            f"output tensor, or None; got {saved!r}")
        self.name = name
        self.backward = backward
        self.template = template
        self.saved = saved

    def __call__(self, value: Any, inputs: Sequence[Tensor], saved: Any = None,
                 args: tuple | None = None) -> Tensor:
        """The output tensor holding ``value``, recorded as a node when an input needs it."""
        return node(value, tuple(inputs), self, saved, args)

    def show(self, operands: list[str]) -> str:
        """The node as a formula, given its operands already written out."""
        t = self.template
        if t is None:
            return f"{self.name}({', '.join(operands)})"
        if isinstance(t, str):
            return t.format(*operands)
        return t(operands)

    def __repr__(self) -> str:
        return f"Primitive({self.name!r})"


def node(data: ndarray, parents: tuple, op: Primitive, saved: Any = None,
         args: tuple | None = None) -> Tensor:
    """Wrap an op's result; record the graph only when some parent needs a gradient.

    The engine's own primitives call this directly (one call fewer than ``op(...)``: it is
    on every operation's path).
    """
    if type(data) is not ndarray and not is_array(data):  # NumPy's 0-d results are scalars
        data = NUMPY.asarray(data)
    out = _new(Tensor)
    out.data = data
    out.grad = None
    out.name = None
    out._retain = False
    enabled, tape = _grad_mode()
    if enabled:
        for p in parents:
            if p.requires_grad:
                out.requires_grad = True
                out._parents = parents
                out._op = op
                out._saved = saved
                out._args = args
                if tape is not None:
                    tape.append(Record(out, op, parents, saved, args))
                return out
    out.requires_grad = False
    out._parents = ()
    out._op = None
    out._saved = None
    out._args = None
    return out
