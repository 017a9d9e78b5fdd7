"""cr.diagnose: the seeds' constant-initialisation experiment and the other findings."""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
from chainrule import nn


def _flower_net(constant: bool) -> nn.Sequential:
    model = nn.Sequential(nn.Linear(2, 4, dtype=np.float64, rng=3), nn.Tanh(),
                          nn.Linear(4, 1, dtype=np.float64, rng=4), nn.Sigmoid())
    if constant:
        for p in model.parameters():
            nn.init.constant_(p, 0.5)
    return model


def _train(model: nn.Module, X: np.ndarray, y: np.ndarray, steps: int = 1000) -> float:
    opt = cr.optim.SGD(model.parameters(), lr=1.2)
    loss_fn = nn.BCELoss()
    xt, yt = cr.tensor(X), cr.tensor(y)
    for _ in range(steps):
        opt.zero_grad()
        loss_fn(model(xt), yt).backward()
        opt.step()
    with cr.no_grad():
        return float(((model(xt).data > 0.5) == y).mean())


def test_constant_versus_random_initialisation():
    # The seeds: equal initial weights keep the hidden units equal, so the 4-unit layer acts
    # as one unit and cannot fit the four petals; random weights break the symmetry.
    X, y = cr.data.make_flower(seed=1)
    constant, random = _flower_net(True), _flower_net(False)
    acc_constant, acc_random = _train(constant, X, y), _train(random, X, y)

    d_constant = cr.diagnose(constant, X, y)
    assert d_constant.flagged("symmetry")
    assert d_constant.layers[0].identical_groups == [(0, 1, 2, 3)]  # still equal after training
    assert "acts as one unit" in str(d_constant)

    d_random = cr.diagnose(random, X, y)
    assert not d_random.flagged("symmetry") and d_random.ok
    assert acc_random > acc_constant + 0.15  # measured: about 0.93 against 0.68


def test_dead_relu_units():
    model = nn.Sequential(nn.Linear(3, 5, dtype=np.float64, rng=0), nn.ReLU(),
                          nn.Linear(5, 1, dtype=np.float64, rng=1))
    model[0].bias.data[[1, 3]] = -100.0  # |w . x| < 100 for these inputs: always negative
    X = np.random.default_rng(0).uniform(-1, 1, size=(50, 3))
    d = cr.diagnose(model, X, X[:, :1])
    assert d.layers[0].dead_units == (1, 3)
    assert d.flagged("dead_relu") and not d.flagged("symmetry")
    assert "2 of 5 ReLU units" in str(d)


def test_vanishing_and_exploding_gradients():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(30, 4))
    y = rng.normal(size=(30, 1))
    # Ten sigmoid layers with small weights: each layer back multiplies the delta by
    # sigma' <= 1/4 and by small weights, so the first layer's gradient all but vanishes.
    deep = [nn.Linear(4, 4, dtype=np.float64, rng=i, init="normal") for i in range(10)]
    mods: list[nn.Module] = []
    for layer in deep:
        mods += [layer, nn.Sigmoid()]
    mods.append(nn.Linear(4, 1, dtype=np.float64, rng=99))
    d = cr.diagnose(nn.Sequential(*mods), X, y)
    assert d.flagged("vanishing")
    assert any(f.layer == "layer 0" and f.kind == "vanishing" for f in d.findings)

    big = nn.Sequential(nn.Linear(4, 3, dtype=np.float64, rng=0), nn.ReLU(),
                        nn.Linear(3, 1, dtype=np.float64, rng=1))
    for p in big.parameters():
        p.data *= 100.0
    assert cr.diagnose(big, X * 100, y).flagged("exploding")


def test_leaves_gradients_untouched_and_other_models():
    model = _flower_net(False)
    model[0].weight.grad = np.full((4, 2), 7.0)
    X, y = cr.data.make_flower(n_samples=40, seed=2)
    cr.diagnose(model, X, y)
    assert np.all(model[0].weight.grad == 7.0) and model[2].weight.grad is None

    class Net(nn.Module):  # not a Sequential: weights and gradients are still checked
        def __init__(self) -> None:
            super().__init__()
            self.hidden = nn.Linear(2, 3, dtype=np.float64)
            self.out = nn.Linear(3, 1, dtype=np.float64)

        def forward(self, x):
            return self.out(self.hidden(x).tanh())

    net = Net()
    nn.init.constant_(net.hidden.weight, 1.0)
    nn.init.zeros_(net.hidden.bias)
    d = cr.diagnose(net, X, y)
    assert d.flagged("symmetry") and d.layers[0].delta_norm is None
    with pytest.raises(ValueError, match="unknown finding"):
        d.flagged("nonsense")


def test_cross_entropy_labels():
    model = nn.Sequential(nn.Linear(2, 6, dtype=np.float64, rng=0), nn.Tanh(),
                          nn.Linear(6, 3, dtype=np.float64, rng=1))
    X = np.random.default_rng(1).normal(size=(12, 2))
    labels = np.arange(12) % 3
    d = cr.diagnose(model, X, labels)
    assert d.ok and d.loss == pytest.approx(
        nn.CrossEntropyLoss()(model(cr.tensor(X)), labels).item())
