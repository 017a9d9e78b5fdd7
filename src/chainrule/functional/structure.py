"""How :mod:`chainrule.functional` reads its arguments and shapes its answers.

Every function there follows ``torch.autograd.functional``: a single tensor in gives a single
tensor out, a tuple of tensors gives a tuple (a Jacobian of tuple outputs by tuple inputs a
tuple of tuples); the inputs are cut from the caller's graph unless ``create_graph=True``;
an input a result does not depend on gives zeros, or with ``strict=True`` a
:class:`~chainrule.errors.GraphError` naming the output and the input.  These are the shared
rules; :mod:`.products` and :mod:`.jacobians` are the entry points.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..engine import Tensor, grad
from ..engine.backend import is_array, namespace
from ..errors import GraphError, SeedError

__all__ = ["as_tuple", "check_requires_grad", "check_v", "fill_in_zeros", "finish",
           "grads_of", "prepare", "unpack", "zeros_like"]


def as_tuple(x: Any, what: str, fn: str) -> tuple[bool, tuple[Tensor, ...]]:
    """Whether ``x`` was a tuple (or list), and ``x`` as a tuple of tensors (arrays wrapped)."""
    was_tuple = isinstance(x, (tuple, list))
    items = tuple(x) if was_tuple else (x,)
    out = []
    for i, t in enumerate(items):
        if not isinstance(t, Tensor) and is_array(t):  # an array of any library
            t = Tensor(t)
        if not isinstance(t, Tensor):
            where = f"{what}[{i}]" if was_tuple else what
            raise GraphError(f"{fn}: {where} is a {type(t).__name__}; expected a Tensor or a "
                             "tuple of Tensors (wrap numbers with cr.tensor(...))")
        out.append(t)
    return was_tuple, tuple(out)


def prepare(tensors: tuple[Tensor, ...], create_graph: bool,
            need_graph: bool) -> tuple[Tensor, ...]:
    """Fresh tensors to differentiate with respect to.

    With ``create_graph`` an input that already requires gradients stays connected to the
    caller's graph (through a differentiable identity), so the result can be differentiated
    with respect to what the caller's input was computed from; every other input is cut off
    (a new leaf sharing its data) and requires gradients when ``need_graph``."""
    out = []
    for t in tensors:
        if create_graph and t.requires_grad:
            out.append(t.reshape(t.shape))
        else:
            leaf = t.detach()
            if need_graph:
                leaf.requires_grad_(True)
            out.append(leaf)
    return tuple(out)


def finish(values: Any, create_graph: bool) -> Any:
    """``values`` (nested tuples of tensors) cut from the graph unless ``create_graph``."""
    if isinstance(values, Tensor):
        return values if create_graph else values.detach()
    return tuple(finish(v, create_graph) for v in values)


def unpack(res: tuple, to_unpack: bool | tuple[bool, bool]) -> Any:
    """Undo :func:`as_tuple`: a result for a single tensor is that tensor, not a 1-tuple.

    ``to_unpack`` is whether the argument was a tuple, or a pair (outputs, inputs) for a
    result nested by outputs then by inputs, as a Jacobian."""
    if isinstance(to_unpack, tuple):
        outputs_tuple, inputs_tuple = to_unpack
        if not inputs_tuple:
            res = tuple(r[0] for r in res)
        return res if outputs_tuple else res[0]
    return res if to_unpack else res[0]


def check_v(v: tuple[Tensor, ...], other: tuple[Tensor, ...], other_is_tuple: bool,
            fn: str, of: str) -> None:
    """``v`` has one tensor per tensor of ``other`` (the ``of``), each of the same shape."""
    if len(v) != len(other):
        if other_is_tuple:
            raise SeedError(f"{fn}: v has {len(v)} tensors but there are {len(other)} {of}; "
                             f"give one tensor per {of[:-1]}")
        raise SeedError(f"{fn}: v must be a single tensor (there is one {of[:-1]}), got "
                         f"{len(v)}")
    for i, (a, b) in enumerate(zip(v, other)):
        if a.shape != b.shape:
            where = f"v[{i}]" if other_is_tuple else "v"
            raise SeedError(f"{fn}: {where} has shape {a.shape}, but the {of[:-1]} it goes "
                             f"with has shape {b.shape}")


def check_requires_grad(tensors: Sequence[Tensor | None], kind: str, strict: bool,
                        fn: str) -> None:
    """With ``strict``, stop at a result that does not depend on the inputs (``kind`` says
    which result: the function's ``outputs``, its ``jacobian`` or ``hessian``, or the
    ``grad_inputs`` of the forward-mode trick)."""
    if not strict:
        return
    for i, t in enumerate(tensors):
        if t is None:
            raise GraphError(f"{fn}(strict=True): the output of the function is independent "
                             f"of input {i}")
        if t.requires_grad:
            continue
        if kind == "outputs":
            raise GraphError(f"{fn}(strict=True): output {i} of the function does not depend "
                             "on the inputs (it does not require gradients); compute it from "
                             "the inputs with chainrule operations, or pass strict=False to "
                             "get zeros")
        if kind == "grad_inputs":
            raise GraphError(f"{fn}(strict=True): the gradient with respect to input {i} does "
                             "not depend on the inputs of the function")
        order = {"jacobian": ("jacobian", "twice"), "hessian": ("hessian", "thrice")}[kind]
        raise GraphError(f"{fn}(strict=True): the {order[0]} of the function with respect to "
                         f"input {i} does not depend on the inputs (a function linear in it, "
                         f"for example); the function must be {order[1]} differentiable with "
                         f"a {order[0]} that depends on the inputs, or pass strict=False")


def grads_of(outputs: Sequence[Tensor | None], inputs: tuple[Tensor, ...],
             grad_outputs: Sequence[Any] | None = None, create_graph: bool = False,
             retain_graph: bool | None = None) -> tuple[Tensor | None, ...]:
    """:func:`chainrule.grad` that skips outputs which are None or do not require gradients,
    and gives None for an input nothing reaches."""
    if grad_outputs is None:
        grad_outputs = (None,) * len(outputs)
    outs, seeds = [], []
    for out, seed in zip(outputs, grad_outputs):
        if out is not None and out.requires_grad:
            outs.append(out)
            # A plain pass wants plain arrays; a tensor seed would be differentiated through.
            seeds.append(seed.data if isinstance(seed, Tensor) and not create_graph else seed)
    if not outs:
        return (None,) * len(inputs)
    return grad(outs, inputs, seeds, retain_graph=retain_graph, create_graph=create_graph,
                allow_unused=True)


_STAGES = {
    "back": "the output of the function is independent of input {i}",
    "back_trick": "the gradient with respect to the inputs is independent of output {i} "
                  "(forward mode through the double-backward trick needs it)",
    "double_back": "the jacobian of the function is independent of input {i}",
    "double_back_trick": "the hessian of the function is independent of input {i} (the "
                         "double-backward trick needs it)",
}


def fill_in_zeros(grads: tuple[Tensor | None, ...], refs: tuple[Tensor, ...], strict: bool,
                  create_graph: bool, stage: str, fn: str) -> tuple[Tensor, ...]:
    """Zeros of ``refs[i]``'s shape for each None in ``grads``; with ``strict`` an error
    instead, naming the input (``stage`` says which pass found it, for the message)."""
    out = []
    for i, g in enumerate(grads):
        if g is None:
            if strict:
                raise GraphError(f"{fn}(strict=True): " + _STAGES[stage].format(i=i)
                                 + "; pass strict=False to get zeros")
            g = zeros_like(refs[i])
        elif strict and create_graph and not g.requires_grad:
            what = "hessian" if stage.startswith("double") else "jacobian"
            raise GraphError(f"{fn}(strict=True, create_graph=True): the {what} of the "
                             f"function with respect to input {i} does not depend on the "
                             "inputs, so it cannot be differentiated again")
        out.append(g)
    return tuple(out)


def zeros_like(t: Tensor, requires_grad: bool = False) -> Tensor:
    """A new tensor of zeros with ``t``'s shape and dtype."""
    return Tensor(namespace(t.data).zeros(t.data.shape, dtype=t.data.dtype),
                  requires_grad=requires_grad)
