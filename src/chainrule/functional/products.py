"""Vector products with derivatives, as ``torch.autograd.functional``: :func:`vjp` (reverse
mode), :func:`jvp` (forward mode, by the double-backward trick), and the Hessian products
:func:`vhp` and :func:`hvp`.

Each returns ``(func(inputs), product)``, detached from the graph unless ``create_graph=True``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..engine import Tensor, enable_grad
from ..errors import SeedError, ShapeError
from .structure import (
    as_tuple,
    check_requires_grad,
    check_v,
    fill_in_zeros,
    finish,
    grads_of,
    prepare,
    unpack,
    zeros_like,
)

__all__ = ["hvp", "jvp", "vhp", "vjp"]

Tensors = Tensor | tuple[Tensor, ...]


def _v_for(v: Any, refs: tuple[Tensor, ...], refs_tuple: bool, create_graph: bool, fn: str,
           of: str) -> tuple[Tensor, ...] | None:
    """``v`` as a tuple of tensors matching ``refs``; None only for one one-element ref."""
    if v is None:
        if len(refs) != 1 or refs[0].size != 1:
            raise SeedError(f"{fn}: v can be left out only when there is one {of[:-1]} with "
                             f"one element; give v, one tensor per {of[:-1]} and of its shape")
        return None
    _, vs = as_tuple(v, "v", fn)
    vs = prepare(vs, create_graph, need_graph=False)
    check_v(vs, refs, refs_tuple, fn, of)
    return vs


def _single_output(outputs: tuple[Tensor, ...], outputs_tuple: bool, fn: str) -> None:
    if outputs_tuple:
        raise ShapeError(f"{fn}: the function must return a single tensor, got a tuple of "
                         f"{len(outputs)}")
    if outputs[0].size != 1:
        raise ShapeError(f"{fn}: the function must return one number (a tensor with one "
                         f"element), got shape {outputs[0].shape}; reduce it, e.g. .sum()")


def vjp(func: Callable[..., Any], inputs: Tensors, v: Any = None, create_graph: bool = False,
        strict: bool = False) -> tuple[Any, Any]:
    """``(func(inputs), v^T J)``: the vector-Jacobian product, one reverse pass.

    ``v`` has the outputs' structure and shapes (left out for a one-element output).

    >>> import chainrule as cr
    >>> x = cr.tensor([1.0, 2.0])
    >>> out, g = cr.functional.vjp(lambda x: x ** 3, x, cr.tensor([1.0, 1.0]))
    >>> g.data.tolist()
    [3.0, 12.0]

    Args:
        func: A function of tensors returning a tensor, or a tuple of tensors.
        inputs: The point: a tensor, or a tuple of tensors for a function of several arguments.
        v: The vector, with the outputs' structure and shapes; optional for a one-element
            output.
        create_graph: Record the computation, so the result can be differentiated again.
        strict: Raise when an output does not depend on an input (PyTorch's ``strict``),
            instead of answering zeros.

    Returns:
        ``(func(inputs), v^T J)``, each in the structure of the outputs or inputs.
    """
    with enable_grad():
        inputs_tuple, ins = as_tuple(inputs, "inputs", "vjp")
        ins = prepare(ins, create_graph, need_graph=True)
        outputs_tuple, outs = as_tuple(func(*ins), "the function's outputs", "vjp")
        check_requires_grad(outs, "outputs", strict, "vjp")
        vs = _v_for(v, outs, outputs_tuple, create_graph, "vjp", "outputs")
        found = grads_of(outs, ins, vs, create_graph=create_graph)
        result = fill_in_zeros(found, ins, strict, create_graph, "back", "vjp")
    return (unpack(finish(outs, create_graph), outputs_tuple),
            unpack(finish(result, create_graph), inputs_tuple))


def jvp(func: Callable[..., Any], inputs: Tensors, v: Any = None, create_graph: bool = False,
        strict: bool = False) -> tuple[Any, Any]:
    """``(func(inputs), J v)``: the Jacobian-vector product (forward mode).

    As PyTorch does, it takes two reverse passes: ``g(u) = u^T J`` is linear in ``u``, so the
    gradient of ``g(u) . v`` with respect to ``u`` is ``J v`` (the value of ``u`` never shows;
    zeros).  ``v`` has the inputs' structure and shapes.

    >>> import chainrule as cr
    >>> x = cr.tensor([1.0, 2.0])
    >>> out, t = cr.functional.jvp(lambda x: x ** 3, x, cr.tensor([1.0, 0.5]))
    >>> t.data.tolist()
    [3.0, 6.0]

    Args:
        func: A function of tensors returning a tensor, or a tuple of tensors.
        inputs: The point: a tensor, or a tuple of tensors for a function of several arguments.
        v: The vector, with the inputs' structure and shapes; optional for a one-element
            input.
        create_graph: Record the computation, so the result can be differentiated again.
        strict: Raise when an output does not depend on an input (PyTorch's ``strict``),
            instead of answering zeros.

    Returns:
        ``(func(inputs), J v)``, each in the structure of the outputs or inputs.
    """
    with enable_grad():
        inputs_tuple, ins = as_tuple(inputs, "inputs", "jvp")
        ins = prepare(ins, create_graph, need_graph=True)
        vs = _v_for(v, ins, inputs_tuple, create_graph, "jvp", "inputs")
        outputs_tuple, outs = as_tuple(func(*ins), "the function's outputs", "jvp")
        check_requires_grad(outs, "outputs", strict, "jvp")
        us = tuple(zeros_like(o, requires_grad=True) for o in outs)
        grad_inputs = grads_of(outs, ins, us, create_graph=True)
        check_requires_grad(grad_inputs, "grad_inputs", strict, "jvp")
        found = grads_of(grad_inputs, us, vs, create_graph=create_graph)
        result = fill_in_zeros(found, outs, strict, create_graph, "back_trick", "jvp")
    return (unpack(finish(outs, create_graph), outputs_tuple),
            unpack(finish(result, create_graph), outputs_tuple))


def vhp(func: Callable[..., Any], inputs: Tensors, v: Any = None, create_graph: bool = False,
        strict: bool = False) -> tuple[Any, Any]:
    """``(func(inputs), v^T H)``: the vector-Hessian product of a one-number function, by
    differentiating its gradient (two reverse passes, no Hessian built).

    >>> import chainrule as cr
    >>> x = cr.tensor([1.0, 2.0])
    >>> out, h = cr.functional.vhp(lambda x: (x ** 3).sum(), x, cr.tensor([1.0, 1.0]))
    >>> out.item(), h.data.tolist()
    (9.0, [6.0, 12.0])

    Args:
        func: A function of tensors returning a tensor (one number), or a tuple of tensors.
        inputs: The point: a tensor, or a tuple of tensors for a function of several arguments.
        v: The vector, with the inputs' structure and shapes.
        create_graph: Record the computation, so the result can be differentiated again.
        strict: Raise when an output does not depend on an input (PyTorch's ``strict``),
            instead of answering zeros.

    Returns:
        ``(func(inputs), v^T H)``, each in the structure of the outputs or inputs.
    """
    with enable_grad():
        inputs_tuple, ins = as_tuple(inputs, "inputs", "vhp")
        ins = prepare(ins, create_graph, need_graph=True)
        vs = _v_for(v, ins, inputs_tuple, create_graph, "vhp", "inputs")
        outputs_tuple, outs = as_tuple(func(*ins), "the function's outputs", "vhp")
        check_requires_grad(outs, "outputs", strict, "vhp")
        _single_output(outs, outputs_tuple, "vhp")
        jac = grads_of(outs, ins, create_graph=True)
        check_requires_grad(jac, "jacobian", strict, "vhp")
        found = grads_of(jac, ins, vs, create_graph=create_graph)
        result = fill_in_zeros(found, ins, strict, create_graph, "double_back", "vhp")
    return (unpack(finish(outs, create_graph), outputs_tuple),
            unpack(finish(result, create_graph), inputs_tuple))


def hvp(func: Callable[..., Any], inputs: Tensors, v: Any = None, create_graph: bool = False,
        strict: bool = False) -> tuple[Any, Any]:
    """``(func(inputs), H v)``: the Hessian-vector product of a one-number function.

    The Hessian of a twice continuously differentiable function is symmetric, so this equals
    :func:`vhp`; as PyTorch does, it is computed as a forward-mode product of the gradient
    (the double-backward trick, one more reverse pass than :func:`vhp`).

    >>> import chainrule as cr
    >>> x = cr.tensor([1.0, 2.0])
    >>> out, h = cr.functional.hvp(lambda x: (x[0] * x[1] ** 2), x, cr.tensor([1.0, 0.0]))
    >>> h.data.tolist()
    [0.0, 4.0]

    Args:
        func: A function of tensors returning a tensor (one number), or a tuple of tensors.
        inputs: The point: a tensor, or a tuple of tensors for a function of several arguments.
        v: The vector, with the inputs' structure and shapes.
        create_graph: Record the computation, so the result can be differentiated again.
        strict: Raise when an output does not depend on an input (PyTorch's ``strict``),
            instead of answering zeros.

    Returns:
        ``(func(inputs), H v)``, each in the structure of the outputs or inputs.
    """
    with enable_grad():
        inputs_tuple, ins = as_tuple(inputs, "inputs", "hvp")
        ins = prepare(ins, create_graph, need_graph=True)
        vs = _v_for(v, ins, inputs_tuple, create_graph, "hvp", "inputs")
        outputs_tuple, outs = as_tuple(func(*ins), "the function's outputs", "hvp")
        check_requires_grad(outs, "outputs", strict, "hvp")
        _single_output(outs, outputs_tuple, "hvp")
        jac = grads_of(outs, ins, create_graph=True)
        check_requires_grad(jac, "jacobian", strict, "hvp")
        us = tuple(zeros_like(x, requires_grad=True) for x in ins)
        double_back = grads_of(jac, ins, us, create_graph=True)
        found = grads_of(double_back, us, vs, create_graph=create_graph)
        result = fill_in_zeros(found, ins, strict, create_graph, "double_back_trick", "hvp")
    return (unpack(finish(outs, create_graph), outputs_tuple),
            unpack(finish(result, create_graph), inputs_tuple))
