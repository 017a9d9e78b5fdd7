"""LBFGS against PyTorch's, iterate by iterate, in float64 to 1e-10.

Cases re-expressed from PyTorch's test/optim/test_optim.py (the Rosenbrock problem that
``test_rosenbrock``-style tests minimise) and the LBFGS option lists of
torch/testing/_internal/common_optimizers.py (``optim_inputs_func_lbfgs``: ``lr``,
``history_size``, ``max_iter``, ``tolerance_grad``, ``tolerance_change``,
``line_search_fn='strong_wolfe'``), plus a logistic-regression problem over several tensors.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import chainrule as cr
from chainrule import optim
from conftest import HAS_TORCH, max_rel_err, needs_torch

if HAS_TORCH:
    import torch


def _rosenbrock(lib: Any, x: Any) -> Any:
    return (1 - x[0]) ** 2 + 100 * (x[1] - x[0] ** 2) ** 2


def _rosenbrock_cr(x: Any) -> Any:
    a = x[0:1]
    b = x[1:2]
    return ((1 - a) ** 2 + 100 * (b - a * a) ** 2).sum()


OPTIONS = [
    {},
    {"line_search_fn": "strong_wolfe"},
    {"lr": 0.1, "history_size": 3, "max_iter": 7},
    {"history_size": 2, "max_iter": 30, "line_search_fn": "strong_wolfe"},
    {"lr": 0.5, "max_iter": 4, "max_eval": 5, "tolerance_change": 1e-5},
    {"tolerance_grad": 1e-3, "line_search_fn": "strong_wolfe"},
]


@needs_torch
@pytest.mark.parametrize("kwargs", OPTIONS, ids=[str(k) for k in OPTIONS])
def test_rosenbrock_matches_pytorch(kwargs: dict) -> None:
    x = cr.tensor(np.array([-1.5, 1.5]), requires_grad=True)
    tx = torch.tensor([-1.5, 1.5], dtype=torch.float64, requires_grad=True)
    opt, topt = optim.LBFGS([x], **kwargs), torch.optim.LBFGS([tx], **kwargs)

    def closure():
        opt.zero_grad()
        loss = _rosenbrock_cr(x)
        loss.backward()
        return loss

    def tclosure():
        topt.zero_grad()
        loss = _rosenbrock(torch, tx)
        loss.backward()
        return loss

    # Rosenbrock's curved valley amplifies rounding: PyTorch's p.add_(d, alpha=t) uses a
    # fused multiply-add (about 1 result in 5 differs from NumPy's p + t * d by one ulp), and
    # 20-60 iterations along the valley grow that to ~2e-10.  The iterations themselves are
    # the same: equal counts of iterations and loss evaluations, every step.
    for step in range(5):
        loss, tloss = opt.step(closure), topt.step(tclosure)
        assert abs(float(loss.item()) - float(tloss.item())) < 1e-8
        assert max_rel_err(x.data, tx.detach().numpy()) < 1e-8, f"step {step}"
        state = topt.state[tx]
        assert opt.func_evals == state["func_evals"] and opt.n_iter == state["n_iter"]


@needs_torch
@pytest.mark.parametrize("kwargs", OPTIONS, ids=[str(k) for k in OPTIONS])
def test_logistic_regression_over_two_tensors_matches_pytorch(kwargs: dict) -> None:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(30, 3))
    y = (X @ np.array([1.0, -2.0, 0.5]) + rng.normal(size=30) > 0).astype(float)[:, None]
    W0, b0 = rng.normal(size=(3, 1)) * 0.1, np.zeros(1)
    W, b = cr.tensor(W0.copy(), requires_grad=True), cr.tensor(b0.copy(), requires_grad=True)
    tW, tb = (torch.tensor(W0.copy(), requires_grad=True),
              torch.tensor(b0.copy(), requires_grad=True))
    opt, topt = optim.LBFGS([W, b], **kwargs), torch.optim.LBFGS([tW, tb], **kwargs)
    bce, tbce = cr.nn.BCEWithLogitsLoss(), torch.nn.BCEWithLogitsLoss()
    l2 = 1e-2  # keeps the minimum finite on separable data

    def closure():
        opt.zero_grad()
        loss = bce(cr.tensor(X) @ W + b, y) + l2 * (W * W).sum()
        loss.backward()
        return loss

    def tclosure():
        topt.zero_grad()
        loss = tbce(torch.tensor(X) @ tW + tb, torch.tensor(y)) + l2 * (tW * tW).sum()
        loss.backward()
        return loss

    for _ in range(3):
        opt.step(closure)
        topt.step(tclosure)
        assert max_rel_err(W.data, tW.detach().numpy()) < 1e-10
        assert max_rel_err(b.data, tb.detach().numpy()) < 1e-10


def test_lbfgs_finds_a_quadratic_minimum() -> None:
    # f(w) = sum (A w - c)^2 has its minimum at w = A^-1 c = (1, 2) for A = [[2, 1], [1, 3]],
    # c = (4, 7): 2*1 + 2 = 4, 1 + 3*2 = 7.
    A = np.array([[2.0, 1.0], [1.0, 3.0]])
    w = cr.tensor(np.zeros(2), requires_grad=True)
    opt = optim.LBFGS([w], line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        loss = ((cr.tensor(A) @ w - np.array([4.0, 7.0])) ** 2).sum()
        loss.backward()
        return loss

    opt.step(closure)
    np.testing.assert_allclose(w.data, [1.0, 2.0], atol=1e-6)


def test_lbfgs_needs_a_closure_and_its_state_round_trips() -> None:
    x = cr.tensor(np.array([-1.5, 1.5]), requires_grad=True)
    opt = optim.LBFGS([x], history_size=4, max_iter=3)
    with pytest.raises(cr.ConfigError, match=r"LBFGS\.step needs a closure"):
        opt.step()

    def closure_for(o, t):
        def closure():
            o.zero_grad()
            loss = _rosenbrock_cr(t)
            loss.backward()
            return loss
        return closure

    for _ in range(3):
        opt.step(closure_for(opt, x))
    y = cr.tensor(x.numpy().copy(), requires_grad=True)
    twin = optim.LBFGS([y], history_size=4, max_iter=3)
    twin.load_state_dict(opt.state_dict())
    for _ in range(3):
        opt.step(closure_for(opt, x))
        twin.step(closure_for(twin, y))
    np.testing.assert_array_equal(x.data, y.data)
