"""The differentiable primitives, each forward beside its backward, grouped by kind.

Every primitive computes its output array, then records a node with its parents, its
:class:`~chainrule.engine.Primitive` (name, backward, display template) and what that backward
needs.  A backward function has the signature ``backward(out, grad) -> tuple`` (one entry per
parent, ``None`` for "no gradient needed"): ``out`` is the output tensor, so ``out.data`` is the
forward result (sigmoid and tanh take their derivative from it) and ``out.saved`` holds the
rest.  Gradients come back shaped like the output; the backward walk sums away broadcasting
(:func:`chainrule.engine.backprop.unbroadcast`).  Each primitive reads: forward, backward, then
the name it is shown by.

=================  ====================================================================
``arithmetic``     ``add sub mul div pow neg``: the operators, with a scalar fast path
``linalg``         ``matmul``, and ``linear`` (a dense layer as one node)
``elementwise``    ``exp log sqrt abs tanh sigmoid relu leaky_relu clip astype``,
                   ``maximum minimum where``
``reductions``     ``sum mean max min`` (the tensor methods) and the shared axis rules
``softmax``        ``softmax log_softmax logsumexp``
``shapes``         ``reshape transpose getitem concatenate stack``
``transfer``       ``to cpu cuda``: a tensor moved to another device (the gradient moves back)
``operands``       how numbers, arrays and tensors of mixed dtypes become operands
=================  ====================================================================

>>> import chainrule as cr
>>> from chainrule.engine import ops
>>> ops.mul(cr.tensor(2.0, requires_grad=True), 3.0).op
'mul'
"""

from .arithmetic import add, div, mul, neg, pow, sub
from .elementwise import (
    abs,
    astype,
    clip,
    exp,
    leaky_relu,
    log,
    maximum,
    minimum,
    relu,
    sigmoid,
    sqrt,
    stable_sigmoid,
    tanh,
    where,
)
from .linalg import linear, matmul
from .shapes import concatenate, getitem, reshape, stack, transpose
from .softmax import log_softmax, logsumexp, softmax
from .transfer import cpu, cuda, to

__all__ = [
    "abs",
    "add",
    "astype",
    "clip",
    "concatenate",
    "cpu",
    "cuda",
    "div",
    "exp",
    "getitem",
    "leaky_relu",
    "linear",
    "log",
    "log_softmax",
    "logsumexp",
    "matmul",
    "maximum",
    "minimum",
    "mul",
    "neg",
    "pow",
    "relu",
    "reshape",
    "sigmoid",
    "softmax",
    "sqrt",
    "stable_sigmoid",
    "stack",
    "sub",
    "tanh",
    "to",
    "transpose",
    "where",
]
