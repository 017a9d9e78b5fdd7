"""Whole derivative matrices, as ``torch.autograd.functional``: :func:`jacobian` (one
reverse pass per output entry) and :func:`hessian` (the Jacobian of the gradient, JAX's
``jacrev(jacrev(f))``).

Entry ``[i][j]`` of a Jacobian of tuple outputs by tuple inputs has shape
``outputs[i].shape + inputs[j].shape``; a single tensor in or out removes that level of
tuple.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..engine import Tensor, enable_grad, stack
from ..engine.backend import namespace
from ..errors import ConfigError, GraphError, ShapeError
from .structure import (
    as_tuple,
    check_requires_grad,
    finish,
    grads_of,
    prepare,
    unpack,
    zeros_like,
)

__all__ = ["hessian", "jacobian"]

Tensors = Tensor | tuple[Tensor, ...]


def _rows(out: Tensor, ins: tuple[Tensor, ...], create_graph: bool, strict: bool,
          i: int) -> tuple[Tensor, ...]:
    """d(out)/d(ins[j]) for every j, each of shape ``out.shape + ins[j].shape``: one reverse
    pass per entry of ``out``, seeded with that entry's one-hot vector."""
    rows: list[list[Tensor]] = [[] for _ in ins]
    xp = namespace(out.data)
    for k in range(out.size):
        seed = xp.zeros(out.data.size, dtype=out.data.dtype)
        seed[k] = 1
        found = grads_of((out,), ins, (xp.reshape(seed, out.data.shape),), retain_graph=True,
                         create_graph=create_graph)
        for j, g in enumerate(found):
            if g is None:
                if strict:
                    raise GraphError(f"jacobian(strict=True): output {i} of the function is "
                                     f"independent of input {j}; pass strict=False to get "
                                     "zeros")
                g = zeros_like(ins[j])
            elif strict and create_graph and not g.requires_grad:
                raise GraphError(f"jacobian(strict=True, create_graph=True): the jacobian of "
                                 f"the function with respect to input {j} does not depend on "
                                 "the inputs, so it cannot be differentiated again")
            rows[j].append(g)
    blocks = []
    for j, x in enumerate(ins):
        shape = out.shape + x.shape
        if not rows[j]:  # an output with no entries
            blocks.append(Tensor(namespace(x.data).zeros(shape, dtype=x.data.dtype)))
        else:
            blocks.append(stack(rows[j]).reshape(shape))
    return tuple(blocks)


STRATEGIES = ("reverse-mode", "forward-mode")


def _check_strategy(name: str, value: Any, fn: str) -> None:
    if value not in STRATEGIES:
        raise ConfigError(f"{fn}: {name} must be one of {', '.join(STRATEGIES)}, got {value!r}")


def jacobian(func: Callable[..., Any], inputs: Tensors, create_graph: bool = False,
             strict: bool = False, vectorize: bool = False,
             strategy: str = "reverse-mode") -> Any:
    """The Jacobian of ``func`` at ``inputs``: a tensor for one input and one output, a tuple
    over inputs (or outputs), a tuple of tuples for both; block ``[i][j]`` has shape
    ``outputs[i].shape + inputs[j].shape``.

    >>> import chainrule as cr
    >>> J = cr.functional.jacobian(lambda x: x ** 2, cr.tensor([1.0, 3.0]))
    >>> J.data.tolist()
    [[2.0, 0.0], [0.0, 6.0]]
    >>> dA, dB = cr.functional.jacobian(lambda a, b: (a * b).sum(),
    ...                                 (cr.tensor([1.0, 2.0]), cr.tensor([3.0, 4.0])))
    >>> dA.data.tolist(), dB.data.tolist()
    ([3.0, 4.0], [1.0, 2.0])

    ``vectorize`` and ``strategy`` are accepted as PyTorch's are; the answer is the same
    either way (this computes it one output entry at a time, by reverse mode).

    Args:
        func: A function of tensors returning a tensor, or a tuple of tensors.
        inputs: The point: a tensor, or a tuple of tensors for a function of several arguments.
        create_graph: Record the computation, so the result can be differentiated again.
        strict: Raise when an output does not depend on an input (PyTorch's ``strict``),
            instead of answering zeros.
        vectorize: Accepted for PyTorch's signature; the answer does not change.
        strategy: Accepted for PyTorch's signature (``"reverse-mode"`` or ``"forward-mode"``).

    Returns:
        The Jacobian: a tensor, a tuple, or a tuple of tuples, as described above.
    """
    _check_strategy("strategy", strategy, "jacobian")
    with enable_grad():
        inputs_tuple, ins = as_tuple(inputs, "inputs", "jacobian")
        ins = prepare(ins, create_graph, need_graph=True)
        outputs_tuple, outs = as_tuple(func(*ins), "the function's outputs", "jacobian")
        check_requires_grad(outs, "outputs", strict, "jacobian")
        blocks = tuple(_rows(out, ins, create_graph, strict, i) for i, out in enumerate(outs))
    return unpack(finish(blocks, create_graph), (outputs_tuple, inputs_tuple))


def hessian(func: Callable[..., Any], inputs: Tensors, create_graph: bool = False,
            strict: bool = False, vectorize: bool = False,
            outer_jacobian_strategy: str = "reverse-mode") -> Any:
    """The Hessian of a one-number ``func`` at ``inputs``: a tensor of shape
    ``x.shape + x.shape`` for one input, a tuple of tuples for several (block ``[i][j]`` holds
    d2 f / d inputs[i] d inputs[j], of shape ``inputs[i].shape + inputs[j].shape``).

    >>> import chainrule as cr
    >>> H = cr.functional.hessian(lambda x: (x[0] ** 2) * x[1], cr.tensor([1.0, 3.0]))
    >>> H.data.tolist()
    [[6.0, 2.0], [2.0, 0.0]]

    ``vectorize`` and ``outer_jacobian_strategy`` are accepted as PyTorch's are; the answer is
    the same either way.

    Args:
        func: A function of tensors returning one number.
        inputs: The point: a tensor, or a tuple of tensors for a function of several arguments.
        create_graph: Record the computation, so the result can be differentiated again.
        strict: Raise when an output does not depend on an input (PyTorch's ``strict``),
            instead of answering zeros.
        vectorize: Accepted for PyTorch's signature; the answer does not change.
        outer_jacobian_strategy: Accepted for PyTorch's signature.

    Returns:
        The Hessian: a tensor for one input, a tuple of tuples for several.
    """
    _check_strategy("outer_jacobian_strategy", outer_jacobian_strategy, "hessian")
    inputs_tuple, ins = as_tuple(inputs, "inputs", "hessian")

    def one_number(*xs: Tensor) -> Tensor:
        out = func(*xs)
        out_tuple, outs = as_tuple(out, "the function's outputs", "hessian")
        check_requires_grad(outs, "outputs", strict, "hessian")
        if out_tuple:
            raise ShapeError(f"hessian: the function must return a single tensor, got a tuple "
                             f"of {len(outs)}")
        if outs[0].size != 1:
            raise ShapeError(f"hessian: the function must return one number (a tensor with "
                             f"one element), got shape {outs[0].shape}; reduce it, e.g. .sum()")
        return outs[0].reshape(())

    def gradient(*xs: Tensor) -> tuple[Tensor, ...]:
        jac = jacobian(one_number, xs, create_graph=True)
        check_requires_grad(jac, "jacobian", strict, "hessian")
        return jac

    blocks = jacobian(gradient, ins, create_graph=create_graph, strict=strict)
    return unpack(blocks, (inputs_tuple, inputs_tuple))
