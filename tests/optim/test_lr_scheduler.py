"""Learning-rate schedules against PyTorch's, epoch by epoch, with several parameter groups.

Cases re-expressed from PyTorch's test/optim/test_lrscheduler.py: ``test_step_lr``,
``test_multi_step_lr``, ``test_exp_lr``, ``test_cos_anneal_lr``, ``test_linearlr``,
``test_lambda_lr``, ``test_CosineAnnealingWarmRestarts_lr1..3`` (fractional epochs too),
``test_onecycle_lr_*`` (cosine/linear, three phases, momentum and Adam's beta1 cycling),
``test_sequentiallr*``, ``test_compound_*`` (two schedules on one optimizer) and the
``test_reduce_lr_on_plateau*`` family (mode max, threshold_mode abs, per-group min_lr, eps).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

import chainrule as cr
from chainrule import optim
from conftest import HAS_TORCH, needs_torch

if HAS_TORCH:
    import torch

Build = Callable[[Any, Any], Any]  # (scheduler module, optimizer) -> scheduler or list


def _groups(lib: str, kind: str = "sgd") -> Any:
    """An optimizer with two parameter groups at rates 0.1 and 0.02."""
    if lib == "cr":
        a, b = cr.tensor([1.0], requires_grad=True), cr.tensor([2.0], requires_grad=True)
        mod = optim
    else:
        a, b = torch.zeros(1, requires_grad=True), torch.zeros(1, requires_grad=True)
        mod = torch.optim
    groups = [{"params": [a]}, {"params": [b], "lr": 0.02}]
    if kind == "adam":
        return mod.Adam(groups, lr=0.1)
    return mod.SGD(groups, lr=0.1, momentum=0.9)


SCHEDULES: dict[str, Build] = {
    "step": lambda S, o: S.StepLR(o, step_size=3, gamma=0.5),
    "multistep": lambda S, o: S.MultiStepLR(o, milestones=[2, 5, 5, 9], gamma=0.3),
    "exponential": lambda S, o: S.ExponentialLR(o, gamma=0.9),
    "cosine": lambda S, o: S.CosineAnnealingLR(o, T_max=7, eta_min=0.001),
    "linear": lambda S, o: S.LinearLR(o, start_factor=0.25, end_factor=0.9, total_iters=6),
    "linear_default": lambda S, o: S.LinearLR(o),
    "lambda": lambda S, o: S.LambdaLR(o, lr_lambda=lambda e: 0.95**e + 0.01 * e),
    "lambda_per_group": lambda S, o: S.LambdaLR(o, [lambda e: 1 / (e + 1), lambda e: 0.9**e]),
    "warm_restarts": lambda S, o: S.CosineAnnealingWarmRestarts(o, T_0=4, eta_min=0.001),
    "warm_restarts_mult": lambda S, o: S.CosineAnnealingWarmRestarts(o, T_0=2, T_mult=2),
    "onecycle": lambda S, o: S.OneCycleLR(o, max_lr=[0.5, 0.1], total_steps=25),
    "onecycle_linear_3": lambda S, o: S.OneCycleLR(o, max_lr=0.4, epochs=5, steps_per_epoch=5,
                                                   anneal_strategy="linear", three_phase=True,
                                                   pct_start=0.4),
    # two schedules on one optimizer compose (test_compound_step_and_exp_lr etc.)
    "compound_step_exp": lambda S, o: [S.StepLR(o, step_size=4, gamma=0.5),
                                       S.ExponentialLR(o, gamma=0.95)],
    "compound_cos_multistep": lambda S, o: [S.CosineAnnealingLR(o, T_max=10),
                                            S.MultiStepLR(o, milestones=[3, 7], gamma=0.5)],
    "compound_linear_exp": lambda S, o: [S.LinearLR(o, total_iters=4),
                                         S.ExponentialLR(o, gamma=0.9)],
}


def _sequential(S: Any, o: Any) -> Any:
    warm = S.LinearLR(o, start_factor=0.1, total_iters=3)
    decay = S.ExponentialLR(o, gamma=0.8)
    cos = S.CosineAnnealingLR(o, T_max=5)
    return S.SequentialLR(o, schedulers=[warm, decay, cos], milestones=[4, 10])


SCHEDULES["sequential"] = _sequential


def _rates(opt: Any) -> list[float]:
    return [float(g["lr"]) for g in opt.param_groups]


def _momenta(opt: Any) -> list[float]:
    return [float(g["betas"][0] if "betas" in g else g["momentum"]) for g in opt.param_groups]


@needs_torch
@pytest.mark.parametrize("kind", ["sgd", "adam"])
@pytest.mark.parametrize("name", sorted(SCHEDULES))
def test_schedule_matches_pytorch(name: str, kind: str) -> None:
    opt, topt = _groups("cr", kind), _groups("torch", kind)
    ours, theirs = SCHEDULES[name](optim, opt), SCHEDULES[name](torch.optim.lr_scheduler, topt)
    ours = ours if isinstance(ours, list) else [ours]
    theirs = theirs if isinstance(theirs, list) else [theirs]
    np.testing.assert_allclose(_rates(opt), _rates(topt), rtol=1e-12, atol=0)
    for epoch in range(25):
        topt.step()
        opt.step()
        for s, t in zip(ours, theirs):
            s.step()
            t.step()
            assert s.last_epoch == t.last_epoch
            np.testing.assert_allclose(s.get_last_lr(), t.get_last_lr(), rtol=1e-12, atol=1e-15)
        np.testing.assert_allclose(_rates(opt), _rates(topt), rtol=1e-12, atol=1e-15,
                                   err_msg=f"epoch {epoch}")
        np.testing.assert_allclose(_momenta(opt), _momenta(topt), rtol=1e-12)
    assert [g["initial_lr"] for g in opt.param_groups] == \
        [g["initial_lr"] for g in topt.param_groups]


@needs_torch
@pytest.mark.parametrize("epochs", [[0.0, 0.5, 1.0, 1.5, 2.25, 3.0, 5.5, 6.1, 13.0, 2.0],
                                    [0.1 * k for k in range(40)]])
@pytest.mark.parametrize("T_mult", [1, 2, 3])
def test_warm_restarts_with_fractional_epochs_match_pytorch(epochs: list, T_mult: int) -> None:
    # test_lrscheduler.py: test_CosineAnnealingWarmRestarts_lr3 (step(epoch) with floats)
    opt, topt = _groups("cr"), _groups("torch")
    s = optim.CosineAnnealingWarmRestarts(opt, T_0=2, T_mult=T_mult, eta_min=0.01)
    t = torch.optim.lr_scheduler.CosineAnnealingWarmRestarts(topt, T_0=2, T_mult=T_mult,
                                                             eta_min=0.01)
    for e in epochs:
        s.step(e)
        t.step(e)
        np.testing.assert_allclose(_rates(opt), _rates(topt), rtol=1e-12)


@needs_torch
@pytest.mark.parametrize("kwargs", [
    {"factor": 0.5, "patience": 2, "cooldown": 1},
    {"mode": "max", "factor": 0.3, "patience": 1, "threshold": 0.05},
    {"threshold_mode": "abs", "threshold": 0.02, "patience": 1},
    {"mode": "max", "threshold_mode": "abs", "threshold": 0.1, "patience": 0},
    {"factor": 0.5, "patience": 0, "min_lr": [0.03, 0.005]},
    {"factor": 0.9, "patience": 0, "min_lr": 0.0999999},  # below eps: no change at all
    {"factor": 0.5, "patience": 0, "eps": 0.02},          # the minimum-decay rule
])
def test_reduce_on_plateau_matches_pytorch(kwargs: dict) -> None:
    values = [1.0, 0.9, 0.9, 0.95, 0.91, 0.92, 0.5, 0.6, 0.6, 0.6, 0.49, 0.6, 0.6, 0.7, 0.8,
              0.8, 0.2, 0.21, 0.19, 0.3, float("nan"), 0.1, 0.1]
    opt, topt = _groups("cr"), _groups("torch")
    s = optim.ReduceLROnPlateau(opt, **kwargs)
    t = torch.optim.lr_scheduler.ReduceLROnPlateau(topt, **kwargs)
    for v in values:
        s.step(v)
        t.step(v)
        np.testing.assert_allclose(_rates(opt), _rates(topt), rtol=1e-12)
        assert s.num_bad_epochs == t.num_bad_epochs and s.cooldown_counter == t.cooldown_counter
        assert s.best == t.best
        assert s.get_last_lr() == t.get_last_lr()


def test_plateau_worked_example() -> None:
    # lr 1.0, factor 0.5, patience 1, min_lr 0.3: values 1, 1, 1 -> 2nd bad epoch halves to
    # 0.5; 1, 1 -> 0.3 (not 0.25: the floor); then 0.3 - 0.3 = 0 <= eps: stays.
    w = cr.tensor([1.0], requires_grad=True)
    opt = optim.SGD([w], lr=1.0)
    s = optim.ReduceLROnPlateau(opt, factor=0.5, patience=1, min_lr=0.3)
    assert [s.step(1.0) for _ in range(7)] == [1.0, 1.0, 0.5, 0.5, 0.3, 0.3, 0.3]


def test_scheduler_state_round_trip() -> None:
    opt = _groups("cr")
    s = optim.CosineAnnealingWarmRestarts(opt, T_0=3, T_mult=2)
    for _ in range(5):
        s.step()
    state = s.state_dict()
    opt2 = _groups("cr")
    opt2.load_state_dict(opt.state_dict())
    s2 = optim.CosineAnnealingWarmRestarts(opt2, T_0=3, T_mult=2)
    s2.load_state_dict(state)
    for _ in range(6):
        assert s.step() == s2.step()
    plateau = optim.ReduceLROnPlateau(opt, patience=0)
    plateau.step(1.0)
    plateau.step(2.0)
    other = optim.ReduceLROnPlateau(opt2, patience=0)
    other.load_state_dict(plateau.state_dict())
    assert other.best == 1.0 and other.last_epoch == 2


def test_resuming_a_schedule_needs_initial_lr() -> None:
    opt = optim.SGD([cr.tensor([1.0], requires_grad=True)], lr=0.1)
    with pytest.raises(cr.ConfigError, match=r"needs param_groups\[0\]\['initial_lr'\]"):
        optim.StepLR(opt, step_size=2, last_epoch=4)
    optim.StepLR(opt, step_size=2)  # records initial_lr
    assert optim.StepLR(opt, step_size=2, last_epoch=4).last_epoch == 5


@pytest.mark.parametrize("build, match", [
    (lambda o: optim.StepLR(o, step_size=0), "StepLR: step_size must be an integer >= 1"),
    (lambda o: optim.StepLR(o, step_size=2, gamma=-1), "StepLR: gamma must be"),
    (lambda o: optim.MultiStepLR(o, milestones=[2, "5"]), "each milestone"),
    (lambda o: optim.LinearLR(o, start_factor=0), r"start_factor must be a number in \(0, 1\]"),
    (lambda o: optim.CosineAnnealingLR(o, T_max=0), "T_max must be an integer >= 1"),
    (lambda o: optim.CosineAnnealingWarmRestarts(o, T_0=2, T_mult=0), "T_mult"),
    (lambda o: optim.OneCycleLR(o, max_lr=0.1), "give total_steps, or epochs and"),
    (lambda o: optim.OneCycleLR(o, max_lr=0.1, total_steps=5, anneal_strategy="exp"),
     "unknown anneal_strategy 'exp'"),
    (lambda o: optim.LambdaLR(o, [lambda e: 1.0] * 3), "expected 2 functions"),
    (lambda o: optim.ReduceLROnPlateau(o, factor=1.5), r"factor must be a number in \[0, 1\)"),
    (lambda o: optim.ReduceLROnPlateau(o, mode="up"), "unknown mode 'up'"),
    (lambda o: optim.ReduceLROnPlateau(o, threshold_mode="pct"), "unknown threshold_mode"),
    (lambda o: optim.ReduceLROnPlateau(o, min_lr=[0.1]), "expected 2 values of min_lr"),
    (lambda o: optim.ReduceLROnPlateau(o, patience=-1), "patience must be an integer >= 0"),
    (lambda o: optim.SequentialLR(o, [optim.ReduceLROnPlateau(o)], []), "ReduceLROnPlateau"),
    (lambda o: optim.SequentialLR(o, [optim.StepLR(o, 2), optim.StepLR(o, 3)], []),
     "2 schedulers need 1 milestones"),
])
def test_bad_schedule_settings(build, match: str) -> None:
    with pytest.raises(cr.ConfigError, match=match):
        build(_groups("cr"))


def test_onecycle_refuses_to_run_past_its_end() -> None:
    opt = _groups("cr")
    s = optim.OneCycleLR(opt, max_lr=0.1, total_steps=3)
    for _ in range(3):
        s.step()
    with pytest.raises(cr.ConfigError, match="stepped 4 times but total_steps is 3"):
        s.step()
