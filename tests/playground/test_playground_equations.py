"""The numbers in the detail panel against PyTorch (float64) and finite differences."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

from chainrule.playground.config import RunConfig
from chainrule.playground.equations import explain_unit, explain_weight
from chainrule.playground.session import Run

needs_torch = pytest.mark.skipif(importlib.util.find_spec("torch") is None,
                                 reason="PyTorch is not installed")

CONFIGS = [
    RunConfig(),  # the course's 2-4-1 tanh/sigmoid network on the flower set
    RunConfig(dataset="moons", hidden=[5, 3], activation="sigmoid", init="xavier_uniform",
              optimizer="sgd", lr=0.5, batch_size=16),
    RunConfig(dataset="spirals", hidden=[6], activation="relu", init="kaiming_normal",
              optimizer="adam", lr=0.01, standardize=True),
    RunConfig(dataset="blobs", hidden=[4, 4], activation="leaky_relu", output="linear_mse",
              init="default", optimizer="momentum", lr=0.05),
    RunConfig(dataset="xor", output="linear_mse", init="default", lr=0.3),
]


def _loss_at(run: Run, rows: np.ndarray) -> float:
    return run.loss_of(run.data.X_train[rows], run.T_train[rows])


def _finite_difference(run: Run, param: np.ndarray, index: tuple[int, ...],
                       rows: np.ndarray, h: float = 1e-6) -> float:
    keep = param[index]
    param[index] = keep + h
    up = _loss_at(run, rows)
    param[index] = keep - h
    down = _loss_at(run, rows)
    param[index] = keep
    return (up - down) / (2 * h)


@pytest.mark.parametrize("cfg", CONFIGS, ids=lambda c: f"{c.dataset}-{c.activation}")
def test_weight_gradients_match_finite_differences(cfg):
    run = Run(cfg)
    run.train(25)
    for layer, lin in enumerate(run.linears, start=1):
        W = lin.weight.data
        for row, col in [(0, 0), (W.shape[0] - 1, W.shape[1] - 1)]:
            for example in (None, 3):
                d = explain_weight(run, layer, row, col, example)
                rows = run.last_rows if example is None else np.array([example])
                fd = _finite_difference(run, W, (row, col), rows)
                assert d["grad"] == pytest.approx(fd, rel=1e-5, abs=1e-8)
                # the sum written out, (1/m) sum_i dZ[j,i] A[k,i], is the engine's number
                assert d["formula_grad"] == pytest.approx(d["grad"], rel=1e-9, abs=1e-14)
                # dZ[l] derived by the course's rule agrees with the engine's m dJ/dZ
                assert d["delta"]["value"] == pytest.approx(d["delta"]["engine"], rel=1e-9,
                                                            abs=1e-14)


@pytest.mark.parametrize("cfg", CONFIGS[:3], ids=lambda c: c.dataset)
def test_bias_gradients_match_finite_differences(cfg):
    run = Run(cfg)
    run.train(10)
    for layer, lin in enumerate(run.linears, start=1):
        d = explain_unit(run, layer, 0)
        fd = _finite_difference(run, lin.bias.data, (0,), run.last_rows)
        assert d["grad"] == pytest.approx(fd, rel=1e-5, abs=1e-8)
        assert d["formula_grad"] == pytest.approx(d["grad"], rel=1e-9, abs=1e-14)


def test_worked_output_weight_by_hand():
    # One example, output layer of the 2-4-1 net: dJ/dW2[0,k] = (A2 - y) * A1[k].
    run = Run(RunConfig())
    d = explain_weight(run, 2, 0, 1, example=0)
    x = run.data.X_train[0]
    W1, b1 = run.linears[0].weight.data, run.linears[0].bias.data
    W2, b2 = run.linears[1].weight.data, run.linears[1].bias.data
    a1 = np.tanh(W1 @ x + b1)
    a2 = 1 / (1 + np.exp(-(W2 @ a1 + b2)))
    y = run.data.y_train[0]
    assert d["grad"] == pytest.approx(float((a2[0] - y) * a1[1]), rel=1e-9)
    assert d["value"] == W2[0, 1]
    assert d["entry"] == "dJ/dW2[0,1] = (1/m) Σ_i dZ2[0,i] · A1[1,i]"


@needs_torch
@pytest.mark.parametrize("cfg", CONFIGS[:3], ids=lambda c: c.dataset)
def test_gradients_match_pytorch(cfg):
    import torch

    run = Run(cfg)
    run.train(15)
    rows = run.last_rows
    x = torch.tensor(run.data.X_train[rows], dtype=torch.float64)
    params = [(torch.tensor(m.weight.data.copy(), requires_grad=True),
               torch.tensor(m.bias.data.copy(), requires_grad=True)) for m in run.linears]
    act = {"tanh": torch.tanh, "sigmoid": torch.sigmoid, "relu": torch.relu}[cfg.activation]
    a = x
    for i, (W, b) in enumerate(params):
        a = a @ W.T + b
        if i < len(params) - 1:
            a = act(a)
    if run.output == "sigmoid_bce":
        t = torch.tensor(run.T_train[rows], dtype=torch.float64)
        loss = torch.nn.functional.binary_cross_entropy_with_logits(a, t)
    else:
        loss = torch.nn.functional.cross_entropy(a, torch.tensor(run.T_train[rows]))
    loss.backward()
    for layer, (W, b) in enumerate(params, start=1):
        for row, col in [(0, 0), (W.shape[0] - 1, W.shape[1] - 1)]:
            d = explain_weight(run, layer, row, col)
            assert d["grad"] == pytest.approx(float(W.grad[row, col]), rel=1e-9, abs=1e-14)
        u = explain_unit(run, layer, 0)
        assert u["grad"] == pytest.approx(float(b.grad[0]), rel=1e-9, abs=1e-14)
