"""The public primitive API: a new differentiable operation from outside the engine."""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
from chainrule.engine import Primitive


def _softplus_backward(out, g):
    (x,) = out.inputs
    return (g * cr.engine.ops.stable_sigmoid(x.data),)


SOFTPLUS = Primitive("softplus", _softplus_backward, "softplus({0})")


def softplus(x: cr.Tensor) -> cr.Tensor:
    return SOFTPLUS(np.logaddexp(0, x.data), (x,))


def test_user_primitive_passes_gradcheck_and_shows_its_name():
    x = np.random.default_rng(0).normal(size=(3, 4))
    assert cr.gradcheck(lambda t: softplus(t * 2).sum(), (x,))
    w = cr.tensor(1.5, requires_grad=True)
    y = softplus(w)
    assert y.op == "softplus" and y.inputs == (w,)
    ex = cr.explain(y * 3, names={"w": w})
    assert "softplus(w)" in ex.forward_table()
    assert ex.grad("w") == pytest.approx(3 / (1 + np.exp(-1.5)))


def test_primitive_records_nothing_without_gradients():
    y = softplus(cr.tensor([1.0, 2.0]))
    assert y.is_leaf and y.op is None and y.inputs == ()
    with cr.no_grad():
        z = softplus(cr.tensor(1.0, requires_grad=True))
    assert z.is_leaf


def test_saved_values_reach_backward():
    def scale_backward(out, g):
        return (g * out.saved,)

    scale = Primitive("scale", scale_backward, "{0} * {1}")
    w = cr.tensor([1.0, 2.0], requires_grad=True)
    y = scale(w.data * 5.0, (w,), saved=5.0, args=(w, 5.0))
    assert y.node.formula(lambda t: "w") == "w * 5"
    y.sum().backward()
    np.testing.assert_array_equal(w.grad, [5.0, 5.0])


def test_node_view_is_read_only():
    w = cr.tensor(2.0, requires_grad=True)
    n = (w * w).node
    with pytest.raises(AttributeError):
        n.op = "add"  # type: ignore[misc]
    assert n.inputs == (w, w) and not n.is_leaf and not n.freed
    (w * w).backward()


def test_freed_graph_says_so_and_explain_refuses_it():
    w = cr.tensor(2.0, requires_grad=True)
    y = (w * 3).exp()
    y.backward()
    assert y.node.freed
    with pytest.raises(cr.GraphError, match="already freed"):
        y.backward()
    with pytest.raises(cr.GraphError, match="freed"):
        cr.explain(y)
