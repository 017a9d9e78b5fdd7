"""Optimizers and schedules against PyTorch: same start, same data, 10 steps, 1e-10."""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
from chainrule import nn, optim
from conftest import HAS_TORCH, max_rel_err, needs_torch

if HAS_TORCH:
    import torch

CONFIGS = {
    "sgd": ("SGD", {"lr": 0.1}),
    "sgd_momentum": ("SGD", {"lr": 0.05, "momentum": 0.9, "weight_decay": 0.01}),
    "sgd_nesterov": ("SGD", {"lr": 0.05, "momentum": 0.8, "nesterov": True}),
    "adam": ("Adam", {"lr": 0.01}),
    "adam_l2": ("Adam", {"lr": 0.01, "betas": (0.8, 0.99), "weight_decay": 0.1}),
    "adamw": ("AdamW", {"lr": 0.01, "weight_decay": 0.1}),
    "rmsprop": ("RMSprop", {"lr": 0.01}),
    "rmsprop_full": ("RMSprop", {"lr": 0.01, "momentum": 0.5, "centered": True,
                                 "weight_decay": 0.01}),
}


def _problem(seed: int = 0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(16, 3))
    y = rng.integers(0, 2, size=(16, 1)).astype(float)
    model = nn.Sequential(nn.Linear(3, 5, dtype=np.float64, rng=1), nn.Tanh(),
                          nn.Linear(5, 1, dtype=np.float64, rng=2), nn.Sigmoid())
    return X, y, model


@needs_torch
@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_ten_steps_match_pytorch(name: str) -> None:
    cls, kwargs = CONFIGS[name]
    X, y, model = _problem()
    tmodel = torch.nn.Sequential(torch.nn.Linear(3, 5, dtype=torch.float64), torch.nn.Tanh(),
                                 torch.nn.Linear(5, 1, dtype=torch.float64), torch.nn.Sigmoid())
    with torch.no_grad():
        for p, tp in zip(model.parameters(), tmodel.parameters()):
            tp.copy_(torch.tensor(p.data))
    opt = getattr(optim, cls)(model.parameters(), **kwargs)
    topt = getattr(torch.optim, cls)(tmodel.parameters(), **kwargs)
    loss_fn, tloss_fn = nn.BCELoss(), torch.nn.BCELoss()
    Xt, yt = torch.tensor(X), torch.tensor(y)
    for _ in range(10):
        opt.zero_grad()
        loss = loss_fn(model(cr.tensor(X)), y)
        loss.backward()
        opt.step()
        topt.zero_grad()
        tloss = tloss_fn(tmodel(Xt), yt)
        tloss.backward()
        topt.step()
        assert abs(loss.item() - tloss.item()) < 1e-10
    for p, tp in zip(model.parameters(), tmodel.parameters()):
        assert max_rel_err(p.data, tp.detach().numpy()) < 1e-10


@needs_torch
@pytest.mark.parametrize("name, kwargs", [
    ("StepLR", {"step_size": 3, "gamma": 0.5}),
    ("ExponentialLR", {"gamma": 0.9}),
    ("CosineAnnealingLR", {"T_max": 7, "eta_min": 0.001}),
])
def test_schedules_match_pytorch(name: str, kwargs: dict) -> None:
    w = cr.tensor([1.0], requires_grad=True)
    opt = optim.SGD([w], lr=0.1)
    sched = getattr(optim, name)(opt, **kwargs)
    tw = torch.zeros(1, requires_grad=True)
    topt = torch.optim.SGD([tw], lr=0.1)
    tsched = getattr(torch.optim.lr_scheduler, name)(topt, **kwargs)
    for _ in range(12):
        topt.step()
        sched.step()
        tsched.step()
        assert abs(opt.lr - topt.param_groups[0]["lr"]) < 1e-12


@needs_torch
def test_reduce_on_plateau_matches_pytorch() -> None:
    values = [1.0, 0.9, 0.9, 0.95, 0.91, 0.92, 0.5, 0.6, 0.6, 0.6, 0.6, 0.6, 0.6]
    w = cr.tensor([1.0], requires_grad=True)
    opt = optim.SGD([w], lr=0.1)
    sched = optim.ReduceLROnPlateau(opt, factor=0.5, patience=2, cooldown=1)
    tw = torch.zeros(1, requires_grad=True)
    topt = torch.optim.SGD([tw], lr=0.1)
    tsched = torch.optim.lr_scheduler.ReduceLROnPlateau(topt, factor=0.5, patience=2,
                                                        cooldown=1)
    for v in values:
        sched.step(v)
        tsched.step(v)
        assert abs(opt.lr - topt.param_groups[0]["lr"]) < 1e-12


def test_sgd_is_the_seeds_gradient_descent_step() -> None:
    w = cr.tensor([2.0, -1.0], requires_grad=True)
    before = w.data
    opt = optim.SGD([w], lr=0.5)
    (w * w).sum().backward()  # dW = 2 w
    opt.step()
    np.testing.assert_array_equal(w.data, [0.0, 0.0])  # W := W - alpha dW
    assert w.data is before  # updated in place


def test_state_dict_round_trip_continues_identically() -> None:
    X, y, model = _problem()
    _, _, twin = _problem()
    opt = optim.Adam(model.parameters(), lr=0.05)
    for _ in range(3):
        opt.zero_grad()
        nn.BCELoss()(model(X), y).backward()
        opt.step()
    twin.load_state_dict(model.state_dict())
    opt2 = optim.Adam(twin.parameters(), lr=0.05)
    opt2.load_state_dict(opt.state_dict())
    for m, o in ((model, opt), (twin, opt2)):
        for _ in range(3):
            o.zero_grad()
            nn.BCELoss()(m(X), y).backward()
            o.step()
    for a, b in zip(model.parameters(), twin.parameters()):
        np.testing.assert_array_equal(a.data, b.data)


def test_optimizer_argument_errors() -> None:
    with pytest.raises(cr.ConfigError, match="empty parameter list"):
        optim.SGD([], lr=0.1)
    for bad in (0, -1.0, float("inf"), float("nan"), "fast"):
        with pytest.raises(cr.ConfigError, match="lr must be a positive finite number"):
            optim.Adam([cr.tensor([1.0], requires_grad=True)], lr=bad)
    with pytest.raises(ValueError, match="nesterov"):
        optim.SGD([cr.tensor([1.0], requires_grad=True)], nesterov=True)


def test_parameters_without_gradients_are_left_alone() -> None:
    a = cr.tensor([1.0], requires_grad=True)
    b = cr.tensor([1.0], requires_grad=True)
    opt = optim.Adam([a, b], lr=0.1)
    (a * 2).sum().backward()
    opt.step()
    assert a.data[0] != 1.0 and b.data[0] == 1.0
