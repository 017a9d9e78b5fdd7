"""Derivatives of functions, with ``torch.autograd.functional``'s names, arguments and
return structure: :func:`vjp`, :func:`jvp`, :func:`jacobian`, :func:`hessian`, :func:`hvp`
and :func:`vhp`.

Each takes a function of tensors and the point to differentiate at (a tensor, or a tuple of
tensors for a function of several arguments) and answers in the same structure.  They are
built on :func:`chainrule.grad`, whose ``create_graph=True`` makes a gradient differentiable
again; with ``create_graph=True`` their answers can be differentiated too.

>>> import chainrule as cr
>>> H = cr.functional.hessian(lambda w: (w ** 3).sum(), cr.tensor([1.0, 2.0]))
>>> H.data.tolist()
[[6.0, 0.0], [0.0, 12.0]]
"""

from .jacobians import hessian, jacobian
from .products import hvp, jvp, vhp, vjp

__all__ = ["hessian", "hvp", "jacobian", "jvp", "vhp", "vjp"]
