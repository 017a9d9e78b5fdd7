"""Derivatives three ways: nudge tables, SymPy, and the cost of finite differences."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

import chainrule as cr
from chainrule.tools.derivatives import backprop_cost, nudge, symbolic

needs_sympy = pytest.mark.skipif(importlib.util.find_spec("sympy") is None,
                                 reason="SymPy is not installed")


def test_nudge_reproduces_the_seed_numbers():
    # J = w^2 at w = 3: eps 0.001 -> 9.006001 (k = 6.001), eps 0.002 -> 9.012004 (k = 6.002).
    t = nudge(lambda w: w**2, {"w": 3.0}, epsilons=(0.001, 0.002))
    assert [r.J_nudged for r in t.rows] == pytest.approx([9.006001, 9.012004], abs=1e-12)
    assert [r.k for r in t.rows] == pytest.approx([6.001, 6.002], abs=1e-9)
    assert all(r.engine == 6.0 for r in t.rows)
    # w = 2 -> 4.004001 and w = -3 -> 8.994001, derivatives 4 and -6
    assert nudge(lambda w: w**2, {"w": 2.0}, (0.001,)).rows[0].J_nudged == pytest.approx(4.004001)
    r = nudge(lambda w: w**2, {"w": -3.0}, (0.001,)).rows[0]
    assert r.J_nudged == pytest.approx(8.994001) and r.engine == -6.0
    assert "k = change/eps" in str(t)


def test_nudge_relu_network_checks_every_parameter():
    # The seed's 1-1-1 ReLU net: w1 2 -> 2.001 makes a2 = 7.003 and J = 1/2 * 2.003^2
    # = 2.0060045 (the seed prints 2.006005), so dJ/dw1 ~ 6.0045 -> 6.
    def J(w1, b1, w2, b2):
        a1 = cr.relu(w1 * 1.0 + b1)
        a2 = cr.relu(w2 * a1 + b2)
        return 0.5 * (a2 - 5.0) ** 2

    t = nudge(J, {"w1": 2.0, "b1": 0.0, "w2": 3.0, "b2": 1.0}, epsilons=(0.001, 1e-7))
    first = t.rows[0]
    assert first.param == "w1" and first.J_nudged == pytest.approx(2.0060045, abs=1e-12)
    engine = {r.param: r.engine for r in t.rows}
    assert engine == {"w1": 6.0, "b1": 6.0, "w2": 4.0, "b2": 2.0}
    assert all(abs(r.error) < 1e-5 for r in t.rows if r.epsilon == 1e-7)


def test_nudge_arrays_and_errors():
    W = np.array([[1.0, -2.0], [0.5, 3.0]])
    t = nudge(lambda W: (W**2).sum(), {"W": W}, epsilons=(1e-6,))
    assert [r.param for r in t.rows] == ["W[0, 0]", "W[0, 1]", "W[1, 0]", "W[1, 1]"]
    assert [r.engine for r in t.rows] == list(2 * W.ravel())  # d(sum W^2)/dW = 2W
    with pytest.raises(ValueError, match="one-element"):
        nudge(lambda W: W * 2.0, {"W": W})


@needs_sympy
def test_symbolic_seed_examples():
    import sympy

    w = sympy.Symbol("w")
    # The seed: w^2 -> 2w = 4, w^3 -> 3w^2 = 12, w -> 1, 1/w -> -1/w^2 = -1/4, all at w = 2.
    for expr, formula, value in [(w**2, "2*w", 4.0), (w**3, "3*w**2", 12.0), (w, "1", 1.0),
                                 (1 / w, "-1/w**2", -0.25)]:
        row = symbolic(expr, {"w": 2}).rows[0]
        assert (row.derivative, row.symbolic, row.engine) == (formula, value, value)


@needs_sympy
def test_symbolic_several_symbols_and_functions():
    import sympy

    w, b, x = sympy.symbols("w b x")
    expr = sympy.log(1 + sympy.exp(w * x + b)) + sympy.tanh(w) * sympy.sqrt(x)
    t = symbolic(expr, {w: 0.3, b: -1.2, x: 2.5})
    assert [r.symbol for r in t.rows] == ["b", "w", "x"]
    assert all(abs(r.error) < 1e-12 for r in t.rows)
    assert "SymPy" in str(t)


@needs_sympy
def test_symbolic_against_a_hand_written_engine_function():
    import sympy

    w = sympy.Symbol("w")
    wrong = symbolic(w**3, {"w": 2.0}, func=lambda w: w * w * 3.0)  # 3w^2 has derivative 6w
    assert wrong.rows[0].symbolic == 12.0 and wrong.rows[0].engine == 12.0  # 6*2 = 12 too
    wrong = symbolic(w**3, {"w": 1.0}, func=lambda w: w * w * 3.0)
    assert wrong.rows[0].error == pytest.approx(3.0)  # 6*1 - 3*1^2: the mismatch shows


def test_backprop_cost_measures_and_agrees():
    rng = np.random.default_rng(0)
    model = cr.nn.Sequential(cr.nn.Linear(4, 8, dtype=np.float64, rng=0), cr.nn.Tanh(),
                             cr.nn.Linear(8, 1, dtype=np.float64, rng=1))
    X, y = rng.normal(size=(32, 4)), rng.normal(size=(32, 1))
    before = [p.data.copy() for p in model.parameters()]
    report = backprop_cost(model, X, y, cr.nn.MSELoss(), repeats=2)
    assert report.n_params == 4 * 8 + 8 + 8 + 1
    assert report.measured == report.n_params
    assert report.max_abs_diff < 1e-5
    assert report.finite_diff_s > report.backprop_s  # 50 forward passes against one of each
    assert all(np.array_equal(a, p.data) for a, p in zip(before, model.parameters()))
    assert "P = 49" in str(report)
    sampled = backprop_cost(model, X, y, cr.nn.MSELoss(), max_measured=10, repeats=1)
    assert sampled.measured == 10 and "extrapolated" in str(sampled)
