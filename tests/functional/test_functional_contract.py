"""cr.functional's contract without a reference library: answers by hand, the shape of what
comes back, bad arguments named, and create_graph keeping the caller's graph."""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
from chainrule import functional as F


def test_worked_by_hand() -> None:
    # f(x, y) = x^2 y at (3, 2): grad (2xy, x^2) = (12, 9); H = [[2y, 2x], [2x, 0]].
    x, y = cr.tensor(3.0), cr.tensor(2.0)
    ((hxx, hxy), (hyx, hyy)) = F.hessian(lambda a, b: a * a * b, (x, y))
    assert [hxx.item(), hxy.item(), hyx.item(), hyy.item()] == [4.0, 6.0, 6.0, 0.0]
    out, (gx, gy) = F.vjp(lambda a, b: a * a * b, (x, y))
    assert (out.item(), gx.item(), gy.item()) == (18.0, 12.0, 9.0)
    _, t = F.jvp(lambda a, b: a * a * b, (x, y), (cr.tensor(1.0), cr.tensor(1.0)))
    assert t.item() == 21.0


def test_answers_are_cut_from_the_graph_unless_create_graph() -> None:
    x = cr.tensor([1.0, 2.0], requires_grad=True)
    w = x * 2  # the caller's own graph
    H = F.hessian(lambda a: (a ** 3).sum(), w)
    assert not H.requires_grad and x.grad is None
    H = F.hessian(lambda a: (a ** 3).sum(), w, create_graph=True)
    (g,) = cr.grad(H.sum(), x)  # d/dx sum(6 w) = 6 * 2
    assert g.numpy().tolist() == [12.0, 12.0]


def test_arrays_are_taken_as_inputs_and_lists_as_tuples() -> None:
    J = F.jacobian(lambda a: a * 3, np.ones(2))
    assert J.numpy().tolist() == [[3.0, 0.0], [0.0, 3.0]]
    Ja, Jb = F.jacobian(lambda a, b: a * b, [cr.tensor(1.0), cr.tensor(2.0)])
    assert (Ja.item(), Jb.item()) == (2.0, 1.0)


def test_an_output_with_no_entries_gives_an_empty_jacobian() -> None:
    J = F.jacobian(lambda a: a[:0], cr.tensor([1.0, 2.0]))
    assert J.shape == (0, 2)


def test_bad_arguments_are_named() -> None:
    x = cr.tensor([1.0, 2.0])
    with pytest.raises(cr.GraphError, match=r"jacobian: inputs\[1\] is a str"):
        F.jacobian(lambda a, b: a, (x, "b"))
    with pytest.raises(cr.ShapeError, match="vjp: v can be left out only"):
        F.vjp(lambda a: a * 2, x)
    with pytest.raises(cr.ShapeError, match=r"jvp: v has shape \(3,\), but the input"):
        F.jvp(lambda a: a * 2, x, cr.tensor([1.0, 2.0, 3.0]))
    with pytest.raises(cr.ShapeError, match="vhp: v has 1 tensors but there are 2 inputs"):
        F.vhp(lambda a, b: (a * b).sum(), (x, x), (x,))
    with pytest.raises(cr.ShapeError, match="hessian: the function must return one number"):
        F.hessian(lambda a: a * 2, x)
    with pytest.raises(cr.ShapeError, match="hvp: the function must return a single tensor"):
        F.hvp(lambda a: (a.sum(), a.sum()), x, x)


def test_strict_names_output_and_input() -> None:
    x, y = cr.tensor([1.0, 2.0]), cr.tensor([3.0])
    with pytest.raises(cr.GraphError, match=r"output 0 of the function is independent of "
                                            r"input 1"):
        F.jacobian(lambda a, b: a * 2, (x, y), strict=True)
    with pytest.raises(cr.GraphError, match="does not depend on the inputs"):
        F.jacobian(lambda a: a * 2, x, strict=True, create_graph=True)
    with pytest.raises(cr.GraphError, match="output 0 of the function does not depend"):
        F.vjp(lambda a: cr.tensor(1.0), x, strict=True)
    _, g = F.vjp(lambda a: cr.tensor(1.0), x)
    assert g.numpy().tolist() == [0.0, 0.0]


def test_pytorchs_vectorize_and_strategy_arguments_are_accepted():
    x = cr.tensor([1.0, 2.0])
    plain = cr.functional.jacobian(lambda v: v ** 3, x)
    for strategy in ("reverse-mode", "forward-mode"):
        same = cr.functional.jacobian(lambda v: v ** 3, x, vectorize=True, strategy=strategy)
        assert np.array_equal(same.data, plain.data)
        h = cr.functional.hessian(lambda v: (v ** 3).sum(), x, vectorize=True,
                                  outer_jacobian_strategy=strategy)
        assert h.numpy().tolist() == [[6.0, 0.0], [0.0, 12.0]]
    with pytest.raises(cr.ConfigError, match="reverse-mode, forward-mode"):
        cr.functional.jacobian(lambda v: v ** 3, x, strategy="fwd")
