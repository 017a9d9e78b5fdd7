"""cr.explain of a gradient built with create_graph=True: the backward pass is a computation
graph of its own, labelled as any other (operations, formulas, values), and its own backward
pass gives the second derivatives."""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
from chainrule.tools.display import BACKWARD_FILL


def course_graph():
    """The course's J = 1/2 (w x + b - y)^2 with w = 2, b = 8, x = -2, y = 2."""
    w, b = cr.tensor(2.0, requires_grad=True), cr.tensor(8.0, requires_grad=True)
    x, y = cr.tensor(-2.0), cr.tensor(2.0)
    c = w * x
    a = c + b
    d = a - y
    J = 0.5 * d ** 2
    return {"w": w, "b": b, "x": x, "y": y, "c": c, "a": a, "d": d, "J": J}


def test_the_gradient_of_the_course_graph_is_explained_as_a_graph():
    names = course_graph()
    w, J = names["w"], names["J"]
    J.backward(create_graph=True)
    dJdw = w.grad
    ex = cr.explain(dJdw, names=names, backward_of=J)

    assert ex.output == "dJ/dw" and ex.backward_of == "J"
    assert ex.value("dJ/dw") == -4.0  # dJ/dw = d x = 2 * (-2)
    rows = {s.name: s for s in ex.forward}
    # J's forward pass keeps its names; the backward pass's operations are labelled as usual.
    assert [n for n in ("c", "a", "d") if not rows[n].backward] == ["c", "a", "d"]
    backward = [s for s in ex.forward if s.backward]
    assert backward and all(s.kind == "operation" and s.op and s.formula for s in backward)
    assert {s.op for s in backward} <= {"mul", "pow", "add", "sub"}
    assert backward[-1].name == "dJ/dw" and "x" in backward[-1].formula
    # The second derivatives: d(dJ/dw)/dw = x^2 = 4, d(dJ/dw)/db = x = -2.
    assert ex.grad("w") == 4.0 and ex.grad("b") == -2.0
    second = cr.grad(dJdw, (w, names["b"]), retain_graph=True)
    assert [t.item() for t in second] == [4.0, -2.0]

    table = ex.forward_table()
    assert table.startswith("Computing dJ/dw (left to right): J's forward pass, then its "
                            "backward pass")
    assert "pass" in table.splitlines()[1] and "backward" in table
    text = ex.backward_table()
    assert "d(dJ/dw)/dw = 4" in text and "d(dJ/dw)/db = -2" in text
    assert w.grad is dJdw and dJdw.item() == -4.0  # explaining changed no .grad


def test_the_drawing_marks_the_backward_pass():
    names = course_graph()
    names["J"].backward(create_graph=True)
    ex = cr.explain(names["w"].grad, names=names, backward_of=names["J"])
    dot = ex.to_dot()
    backward = [line for line in dot.splitlines() if BACKWARD_FILL in line]
    assert len(backward) == sum(s.backward for s in ex.forward)
    assert any("dJ/dw = v2 * x" in line for line in backward)
    assert "d(dJ/dw)/dw = 4" in dot
    html = ex._repr_html_()
    assert BACKWARD_FILL in html and "<th>pass</th>" in html


def test_without_backward_of_the_tables_read_as_before():
    names = course_graph()
    names["J"].backward(create_graph=True)
    ex = cr.explain(names["w"].grad, names=names)
    assert ex.output == "dJ/dw" and ex.backward_of is None
    assert not any(s.backward for s in ex.forward)
    assert ex.forward_table().splitlines()[0] == "Forward pass (left to right)"
    assert "pass" not in ex.forward_table().splitlines()[1]
    # and a first-order explanation is untouched
    fresh = course_graph()
    plain = cr.explain(fresh["J"], names=fresh)
    assert plain.output == "J" and "dJ/dw = -4" in plain.backward_table()


def test_a_gradient_from_cr_grad_is_g_or_its_given_name():
    x = cr.tensor(3.0, requires_grad=True)
    y = x ** 3
    (g,) = cr.grad(y, x, create_graph=True)
    ex = cr.explain(g, names={"x": x, "y": y}, backward_of=y)
    assert ex.output == "g" and ex.value("g") == 27.0 and ex.grad("x") == 18.0
    assert "dg/dx = 18" in ex.backward_table()
    named = cr.explain(g, names={"x": x, "dydx": g}, backward_of=y)
    assert named.output == "dydx" and "ddydx/dx = 18" in named.backward_table()


def test_the_second_derivatives_of_a_matrix_computation_match_finite_differences():
    rng = np.random.default_rng(0)
    X, W0 = rng.normal(size=(5, 3)), rng.normal(size=(3, 2))

    def grad_sum(W_array):  # sum of the entries of dL/dW, L = sum(log(1 + e^tanh(X W)))
        W = cr.tensor(W_array, requires_grad=True)
        L = (1.0 + (cr.tensor(X) @ W).tanh().exp()).log().sum()
        (g,) = cr.grad(L, W, create_graph=True)
        return W, L, g

    W, L, g = grad_sum(W0)
    ex = cr.explain(g, names={"W": W, "L": L}, backward_of=L)
    assert any(s.backward for s in ex.forward) and ex.output == "g"
    eps, fd = 1e-6, np.zeros_like(W0)
    for idx in np.ndindex(W0.shape):
        step = np.zeros_like(W0)
        step[idx] = eps
        fd[idx] = (grad_sum(W0 + step)[2].data.sum() - grad_sum(W0 - step)[2].data.sum()) / (
            2 * eps)
    np.testing.assert_allclose(ex.grad("W"), fd, rtol=1e-6, atol=1e-8)


def test_backward_of_must_still_have_its_graph():
    w = cr.tensor(2.0, requires_grad=True)
    J = w ** 3
    (g,) = cr.grad(J, w, create_graph=True)
    other = w ** 2
    other.backward()  # frees other's graph
    with pytest.raises(cr.GraphError, match="backward_of was freed"):
        cr.explain(g, backward_of=other)
    with pytest.raises(TypeError, match="backward_of must be a Tensor"):
        cr.explain(g, backward_of=3.0)
