"""``cr.grad``: gradients of chosen outputs with respect to chosen inputs, as PyTorch's
``torch.autograd.grad``, without touching any ``.grad``."""

from __future__ import annotations

from typing import Any, overload

from ..errors import GraphError
from .backend import is_array, namespace
from .higher import seed_for, walk
from .tensor import Tensor

__all__ = ["grad"]


def _as_tuple(x: Any, what: str, kind: type) -> tuple:
    items = (x,) if isinstance(x, kind) else tuple(x)
    if not items:
        raise GraphError(f"grad: {what} is empty")
    for i, t in enumerate(items):
        if not isinstance(t, kind):
            raise GraphError(f"grad: {what}[{i}] is a {type(t).__name__}, need a Tensor")
    return items


@overload
def grad(outputs: Any, inputs: dict, grad_outputs: Any = None,
         retain_graph: bool | None = None, create_graph: bool = False,
         allow_unused: bool = False, materialize_grads: bool = False) -> dict: ...


@overload
def grad(outputs: Any, inputs: Any, grad_outputs: Any = None,
         retain_graph: bool | None = None, create_graph: bool = False,
         allow_unused: bool = False, materialize_grads: bool = False) -> tuple: ...


def grad(outputs: Any, inputs: Any, grad_outputs: Any = None, retain_graph: bool | None = None,
         create_graph: bool = False, allow_unused: bool = False,
         materialize_grads: bool = False) -> tuple | dict:
    """The gradients of ``outputs`` with respect to ``inputs``, as PyTorch's
    ``torch.autograd.grad``: a tuple with one tensor per input, and nothing added to ``.grad``.

    ``grad_outputs`` seeds each output (needed for outputs with more than one element);
    ``create_graph=True`` records the backward pass, so the result can be differentiated again;
    ``retain_graph`` (default: ``create_graph``) keeps the graph for another pass.  An input the
    outputs do not depend on is an error unless ``allow_unused=True`` (then its entry is None)
    or ``materialize_grads=True`` (then it is zeros of the input's shape, as in PyTorch 2).
    ``inputs`` may be a dict of tensors: the answer is then a dict with the same keys.

    >>> import chainrule as cr
    >>> w = cr.tensor([1.0, 2.0], requires_grad=True)
    >>> (g,) = cr.grad((w * w).sum(), w)
    >>> g.data.tolist(), w.grad
    ([2.0, 4.0], None)

    Args:
        outputs: A tensor, or a sequence of tensors, to differentiate.
        inputs: A tensor, a sequence of tensors, or a dict of tensors to differentiate with
            respect to.
        grad_outputs: One seed per output, shaped like it; optional for one-element outputs.
        retain_graph: Keep the graph for another pass (default: ``create_graph``).
        create_graph: Record the backward pass so the result can be differentiated again.
        allow_unused: Give None for an input the outputs do not depend on, instead of raising.
        materialize_grads: Give zeros for such an input, instead of raising.

    Returns:
        One gradient per input, as a tuple (or a dict with the keys of ``inputs``).

    Raises:
        GraphError: An input the outputs do not use (without ``allow_unused`` or
            ``materialize_grads``), or a graph already freed.
    """
    outs = _as_tuple(outputs, "outputs", Tensor)
    # PyTorch 2 takes a dict of inputs too, and answers with a dict under the same keys
    ins = _as_tuple(inputs.values() if isinstance(inputs, dict) else inputs, "inputs", Tensor)
    if grad_outputs is None or isinstance(grad_outputs, Tensor) or is_array(grad_outputs):
        gos: tuple = (grad_outputs,) if len(outs) == 1 or grad_outputs is None else ()
        if grad_outputs is None:
            gos = (None,) * len(outs)
    else:
        gos = tuple(grad_outputs)
    if len(gos) != len(outs):
        raise GraphError(f"grad: {len(outs)} outputs but {len(gos)} grad_outputs")
    for i, t in enumerate(outs):
        if not t.requires_grad:
            raise GraphError(f"grad: outputs[{i}] does not require gradients (no input of its "
                             "computation had requires_grad=True, or it ran under no_grad())")
    for i, t in enumerate(ins):
        if not t.requires_grad:
            raise GraphError(f"grad: inputs[{i}] does not require gradients; make it with "
                             "requires_grad=True")
    seeds = [seed_for(t, g, f"grad: outputs[{i}]") for i, (t, g) in enumerate(zip(outs, gos))]
    if retain_graph is None:
        retain_graph = create_graph
    found = walk(outs, seeds, retain_graph=retain_graph, create_graph=create_graph,
                 wanted=ins) or []
    result = []
    for i, g in enumerate(found):
        if g is None:
            if materialize_grads:
                d = ins[i].data
                result.append(Tensor(namespace(d).zeros(d.shape, dtype=d.dtype),
                                     requires_grad=create_graph))
                continue
            if not allow_unused:
                raise GraphError(f"grad: inputs[{i}] was not used to compute the outputs (its "
                                 "gradient would be None); pass allow_unused=True to get None "
                                 "for it")
            result.append(None)
        else:
            result.append(g if isinstance(g, Tensor) else  # never aliased
                          Tensor(namespace(g).asarray(g, copy=True)))
    if isinstance(inputs, dict):
        return dict(zip(inputs, result))
    return tuple(result)
