"""Optimizers against PyTorch: same start, same gradients, 20 steps in float64, 1e-10.

The cases re-express PyTorch's own optimizer tests (test/optim/test_optim.py and the option
lists in torch/testing/_internal/common_optimizers.py: ``optim_inputs_func_sgd``,
``optim_inputs_func_adam``, ``optim_inputs_func_adamw``, ``optim_inputs_func_rmsprop``,
parameter groups, ``maximize``, ``amsgrad``, and the "param has no grad on some steps" cases
of test_optim.py's ``test_step_is_noop_for_zero_grads`` family).  The gradients are a fixed
nonlinear function of the current parameters plus noise, fed identically to both sides, so
the comparison tests the update rules and nothing else.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

import chainrule as cr
from chainrule import nn, optim
from conftest import HAS_TORCH, max_rel_err, needs_torch

if HAS_TORCH:
    import torch

SHAPES = [(3, 4), (4,), (2, 3), (1,)]
Factory = Callable[[Any, list], Any]  # (optim module, params) -> optimizer


def _split(ps: list, **second: Any) -> list[dict]:
    return [{"params": ps[:2]}, {"params": ps[2:], **second}]


CONFIGS: dict[str, Factory] = {
    # SGD (common_optimizers.py: optim_inputs_func_sgd)
    "sgd_default_lr": lambda m, ps: m.SGD(ps),
    "sgd": lambda m, ps: m.SGD(ps, lr=0.1),
    "sgd_momentum_wd": lambda m, ps: m.SGD(ps, lr=0.05, momentum=0.9, weight_decay=0.01),
    "sgd_dampening": lambda m, ps: m.SGD(ps, lr=0.05, momentum=0.9, dampening=0.3),
    "sgd_nesterov": lambda m, ps: m.SGD(ps, lr=0.05, momentum=0.8, nesterov=True),
    "sgd_maximize": lambda m, ps: m.SGD(ps, lr=0.02, momentum=0.5, weight_decay=0.1,
                                        maximize=True),
    "sgd_groups": lambda m, ps: m.SGD(_split(ps, lr=0.01, momentum=0.5, weight_decay=0.2),
                                      lr=0.05, momentum=0.9),
    # Adam and AdamW (optim_inputs_func_adam / _adamw)
    "adam": lambda m, ps: m.Adam(ps, lr=0.01),
    "adam_default": lambda m, ps: m.Adam(ps),
    "adam_amsgrad": lambda m, ps: m.Adam(ps, lr=0.02, amsgrad=True),
    "adam_l2": lambda m, ps: m.Adam(ps, lr=0.01, betas=(0.8, 0.99), weight_decay=0.1),
    "adam_maximize": lambda m, ps: m.Adam(ps, lr=0.01, weight_decay=0.1, maximize=True,
                                          amsgrad=True),
    "adam_decoupled": lambda m, ps: m.Adam(ps, lr=0.01, weight_decay=0.1,
                                           decoupled_weight_decay=True),
    "adam_groups": lambda m, ps: m.Adam(_split(ps, lr=0.03, betas=(0.5, 0.9), amsgrad=True),
                                        lr=0.01, weight_decay=0.05),
    "adamw": lambda m, ps: m.AdamW(ps, lr=0.01, weight_decay=0.1),
    "adamw_default": lambda m, ps: m.AdamW(ps),
    "adamw_amsgrad": lambda m, ps: m.AdamW(ps, lr=0.01, amsgrad=True, maximize=True),
    # RMSprop (optim_inputs_func_rmsprop)
    "rmsprop": lambda m, ps: m.RMSprop(ps, lr=0.01),
    "rmsprop_full": lambda m, ps: m.RMSprop(ps, lr=0.01, momentum=0.5, centered=True,
                                            weight_decay=0.01),
    "rmsprop_maximize": lambda m, ps: m.RMSprop(ps, lr=0.005, alpha=0.9, maximize=True),
    "rmsprop_groups": lambda m, ps: m.RMSprop(_split(ps, momentum=0.3, centered=True),
                                              lr=0.01),
}


def _gradient(w: np.ndarray, noise: np.ndarray) -> np.ndarray:
    return np.tanh(3 * w) + 0.5 * w + noise


def _run_both(factory: Factory, steps: int = 20,
              has_grad: Callable[[int, int], bool] = lambda step, i: True,
              seed: int = 0) -> tuple[Any, Any]:
    """Step chainrule's and PyTorch's optimizer side by side; compare after every step."""
    rng = np.random.default_rng(seed)
    start = [rng.normal(size=s) for s in SHAPES]
    ours = [cr.tensor(a.copy(), requires_grad=True) for a in start]
    theirs = [torch.tensor(a.copy(), requires_grad=True) for a in start]
    opt, topt = factory(optim, ours), factory(torch.optim, theirs)
    for step in range(1, steps + 1):
        noise = [rng.normal(size=s) for s in SHAPES]
        for i, (p, tp) in enumerate(zip(ours, theirs)):
            if has_grad(step, i):
                g = _gradient(p.data, noise[i])
                p.grad, tp.grad = g.copy(), torch.tensor(g)
            else:
                p.grad, tp.grad = None, None
        opt.step()
        topt.step()
        for i, (p, tp) in enumerate(zip(ours, theirs)):
            err = max_rel_err(p.data, tp.detach().numpy())
            assert err < 1e-10, f"parameter {i} differs by {err:.2e} after step {step}"
    return opt, topt


@needs_torch
@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_twenty_steps_match_pytorch(name: str) -> None:
    _run_both(CONFIGS[name])


@needs_torch
@pytest.mark.parametrize("name", ["adam", "adam_amsgrad", "adamw", "adam_groups",
                                  "sgd_momentum_wd", "sgd_dampening", "rmsprop_full"])
def test_a_parameter_without_gradient_is_skipped_as_in_pytorch(name: str) -> None:
    # The first parameter has a gradient only on steps 1, 4, 7, 10 (issue example): Adam's
    # bias correction must count that parameter's own steps, and its buffers stay untouched.
    opt, topt = _run_both(CONFIGS[name], has_grad=lambda step, i: i != 0 or step in (1, 4, 7, 10))
    assert opt.steps[0] == 4 and opt.steps[1] == 20
    if "step" in topt.state[topt.param_groups[0]["params"][0]]:
        assert int(topt.state[topt.param_groups[0]["params"][0]]["step"]) == 4


@needs_torch
def test_add_param_group_matches_pytorch() -> None:
    rng = np.random.default_rng(3)
    start = [rng.normal(size=s) for s in SHAPES]
    ours = [cr.tensor(a.copy(), requires_grad=True) for a in start]
    theirs = [torch.tensor(a.copy(), requires_grad=True) for a in start]
    opt = optim.Adam(ours[:2], lr=0.01)
    topt = torch.optim.Adam(theirs[:2], lr=0.01)
    for step in range(12):
        if step == 5:  # e.g. unfreezing layers part-way through training
            opt.add_param_group({"params": ours[2:], "lr": 0.05, "amsgrad": True})
            topt.add_param_group({"params": theirs[2:], "lr": 0.05, "amsgrad": True})
        n = len(opt.params)
        for p, tp in zip(ours[:n], theirs[:n]):
            g = _gradient(p.data, rng.normal(size=p.data.shape))
            p.grad, tp.grad = g.copy(), torch.tensor(g)
        opt.step()
        topt.step()
    for p, tp in zip(ours, theirs):
        assert max_rel_err(p.data, tp.detach().numpy()) < 1e-10
    assert [g["lr"] for g in opt.param_groups] == [g["lr"] for g in topt.param_groups]


@needs_torch
def test_step_with_closure_returns_the_loss_as_pytorch() -> None:
    # test_optim.py: closures that recompute the loss and its gradient.
    X = np.random.default_rng(0).normal(size=(8, 3))
    w = cr.tensor(np.zeros(3), requires_grad=True)
    tw = torch.zeros(3, dtype=torch.float64, requires_grad=True)
    opt, topt = optim.SGD([w], lr=0.1, momentum=0.9), torch.optim.SGD([tw], lr=0.1,
                                                                        momentum=0.9)
    target = X @ np.array([1.0, -2.0, 0.5])

    def closure():
        opt.zero_grad()
        loss = ((cr.tensor(X) @ w - target) ** 2).mean()
        loss.backward()
        return loss

    def tclosure():
        topt.zero_grad()
        loss = ((torch.tensor(X) @ tw - torch.tensor(target)) ** 2).mean()
        loss.backward()
        return loss

    for _ in range(20):
        loss, tloss = opt.step(closure), topt.step(tclosure)
        assert abs(loss.item() - tloss.item()) < 1e-10
    assert max_rel_err(w.data, tw.detach().numpy()) < 1e-10


def _problem(seed: int = 0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(16, 3))
    y = rng.integers(0, 2, size=(16, 1)).astype(float)
    model = nn.Sequential(nn.Linear(3, 5, dtype=np.float64, rng=1), nn.Tanh(),
                          nn.Linear(5, 1, dtype=np.float64, rng=2), nn.Sigmoid())
    return X, y, model


@needs_torch
@pytest.mark.parametrize("name", ["sgd_nesterov", "adam_amsgrad", "adamw", "rmsprop_full"])
def test_training_a_network_matches_pytorch(name: str) -> None:
    # End to end through the engine: the course's kind of small network, BCE loss.
    X, y, model = _problem()
    tmodel = torch.nn.Sequential(torch.nn.Linear(3, 5, dtype=torch.float64), torch.nn.Tanh(),
                                 torch.nn.Linear(5, 1, dtype=torch.float64), torch.nn.Sigmoid())
    with torch.no_grad():
        for p, tp in zip(model.parameters(), tmodel.parameters()):
            tp.copy_(torch.tensor(p.data))
    opt = CONFIGS[name](optim, list(model.parameters()))
    topt = CONFIGS[name](torch.optim, list(tmodel.parameters()))
    Xt, yt = torch.tensor(X), torch.tensor(y)
    for _ in range(20):
        opt.zero_grad()
        loss = nn.BCELoss()(model(cr.tensor(X)), y)
        loss.backward()
        opt.step()
        topt.zero_grad()
        tloss = torch.nn.BCELoss()(tmodel(Xt), yt)
        tloss.backward()
        topt.step()
        assert abs(loss.item() - tloss.item()) < 1e-10
    for p, tp in zip(model.parameters(), tmodel.parameters()):
        assert max_rel_err(p.data, tp.detach().numpy()) < 1e-10


# -- the flat fast path and the per-parameter path ----------------------------------------------
@pytest.mark.parametrize("name", ["adam_amsgrad", "adamw", "sgd_momentum_wd", "sgd_dampening",
                                  "sgd_nesterov", "rmsprop_full", "adam_maximize"])
def test_flat_and_per_parameter_paths_agree_step_by_step(name: str) -> None:
    # One group (all parameters stepped as one flat vector) against the same settings split
    # into two groups (each parameter stepped on its own): identical arithmetic per entry, so
    # the results must be equal bit for bit, at every step.
    factory = CONFIGS[name]
    rng = np.random.default_rng(5)
    start = [rng.normal(size=s) for s in SHAPES]
    flat = [cr.tensor(a.copy(), requires_grad=True) for a in start]
    loop = [cr.tensor(a.copy(), requires_grad=True) for a in start]
    opt_flat = factory(optim, flat)
    settings = {k: v for k, v in opt_flat.param_groups[0].items() if k != "params"}
    opt_loop = type(opt_flat)([{**settings, "params": loop[:2]}, {**settings, "params": loop[2:]}])
    for step in range(15):
        for i, (a, b) in enumerate(zip(flat, loop)):
            g = _gradient(a.data, rng.normal(size=a.data.shape))
            if step == 11 and i == 1:  # a missing gradient: from here on, per parameter
                a.grad = b.grad = None
            else:
                a.grad, b.grad = g.copy(), g.copy()
        opt_flat.step()
        opt_loop.step()
        for a, b in zip(flat, loop):
            np.testing.assert_array_equal(a.data, b.data, err_msg=f"step {step}")
    # The flat side really kept its state in one buffer shared by every parameter.
    name0 = next(iter(opt_flat.state[0]))
    if isinstance(opt_flat.state[0][name0], np.ndarray):  # .base: NumPy's record of views
        assert opt_flat.state[0][name0].base is not None
        assert opt_flat.state[0][name0].base is opt_flat.state[3][name0].base
        assert opt_loop.state[0][name0].base is None


# -- state_dict -----------------------------------------------------------------------------------
def _steps(opt: optim.Optimizer, params: list, rng: np.random.Generator, n: int,
           skip_first: bool = False) -> None:
    for k in range(n):
        for i, p in enumerate(params):
            p.grad = None if skip_first and i == 0 and k % 2 else _gradient(
                p.data, rng.normal(size=p.data.shape))
        opt.step()


@pytest.mark.parametrize("name", ["adam_groups", "sgd_groups", "rmsprop_full", "adamw_amsgrad"])
def test_state_dict_round_trip_continues_identically(name: str) -> None:
    factory = CONFIGS[name]
    start = [np.random.default_rng(1).normal(size=s) for s in SHAPES]
    a = [cr.tensor(x.copy(), requires_grad=True) for x in start]
    opt_a = factory(optim, a)
    _steps(opt_a, a, np.random.default_rng(2), 5, skip_first=True)
    b = [cr.tensor(p.numpy().copy(), requires_grad=True) for p in a]
    opt_b = factory(optim, b)
    opt_b.param_groups[0]["lr"] = 123.0  # overwritten by the load
    opt_b.load_state_dict(opt_a.state_dict())
    assert opt_b.steps == opt_a.steps and opt_b.step_count == opt_a.step_count
    assert opt_b.param_groups[0]["lr"] == opt_a.param_groups[0]["lr"]
    for opt, ps in ((opt_a, a), (opt_b, b)):
        _steps(opt, ps, np.random.default_rng(3), 5, skip_first=True)
    for p, q in zip(a, b):
        np.testing.assert_array_equal(p.data, q.data)


def test_state_of_an_older_chainrule_still_loads() -> None:
    # Older checkpoints name Adam's buffers m and v and keep one step count for all.
    a = [cr.tensor(np.ones(s), requires_grad=True) for s in SHAPES]
    opt_a = optim.Adam(a, lr=0.01)
    _steps(opt_a, a, np.random.default_rng(0), 3)
    new = opt_a.state_dict()
    old = {"lr": new["lr"], "initial_lr": new["initial_lr"], "step_count": new["step_count"],
           "state": [{"m": s["exp_avg"], "v": s["exp_avg_sq"]} for s in new["state"]]}
    b = [cr.tensor(p.numpy().copy(), requires_grad=True) for p in a]
    opt_b = optim.Adam(b, lr=0.5)
    opt_b.load_state_dict(old)
    assert opt_b.lr == 0.01 and opt_b.steps == [3, 3, 3, 3]
    _steps(opt_a, a, np.random.default_rng(1), 3)
    _steps(opt_b, b, np.random.default_rng(1), 3)
    for p, q in zip(a, b):
        np.testing.assert_array_equal(p.data, q.data)


def test_state_dict_survives_a_checkpoint_file(tmp_path) -> None:
    from chainrule.training.checkpoint import read_checkpoint, write_checkpoint

    a = [cr.tensor(np.ones(s), requires_grad=True) for s in SHAPES]
    opt_a = CONFIGS["adam_groups"](optim, a)
    _steps(opt_a, a, np.random.default_rng(0), 4, skip_first=True)
    path = tmp_path / "run.ckpt"
    rng_state = np.random.default_rng(0).bit_generator.state
    write_checkpoint(path, {"model": {}, "optimizer": opt_a.state_dict(), "rng": rng_state,
                            "epoch": 1, "history": {}})
    b = [cr.tensor(p.numpy().copy(), requires_grad=True) for p in a]
    opt_b = CONFIGS["adam_groups"](optim, b)
    opt_b.load_state_dict(read_checkpoint(path)["optimizer"])
    _steps(opt_a, a, np.random.default_rng(1), 3)
    _steps(opt_b, b, np.random.default_rng(1), 3)
    for p, q in zip(a, b):
        np.testing.assert_array_equal(p.data, q.data)


@pytest.mark.parametrize("edit, match", [
    (lambda s: s["state"][0].update(exp_avg=np.zeros(1)), "buffer 'exp_avg' of parameter 0"),
    (lambda s: s["state"][0].update(bogus=np.zeros((3, 4))), "unknown buffer 'bogus'"),
    (lambda s: s.update(step_count=-5), "step_count must be an integer >= 0"),
    (lambda s: s.update(step_count=float("inf")), "step_count must be an integer"),
    (lambda s: s.update(steps=[1, 2]), "steps must be 4 integers"),
    (lambda s: s["param_groups"][0].update(lr=-1.0), r"group 0: Adam: lr must be"),
    (lambda s: s["param_groups"][0].update(lr=float("nan")), "lr must be"),
    (lambda s: s["param_groups"][0].update(betas=[0.9, 1.5]), r"betas\[1\]"),
    (lambda s: s.update(state=s["state"][:2]), "the state is for 2 parameters"),
    (lambda s: s["param_groups"].pop(), "1 parameter groups, this optimizer has 2"),
])
def test_damaged_state_is_refused_and_nothing_changes(edit, match: str) -> None:
    ps = [cr.tensor(np.ones(s), requires_grad=True) for s in SHAPES]
    opt = CONFIGS["adam_groups"](optim, ps)
    _steps(opt, ps, np.random.default_rng(0), 2)
    state = opt.state_dict()
    edit(state)
    before = opt.state_dict()
    with pytest.raises(cr.ConfigError, match=match):
        opt.load_state_dict(state)
    after = opt.state_dict()
    assert after["steps"] == before["steps"] and after["param_groups"] == before["param_groups"]
    for s, t in zip(before["state"], after["state"]):
        for k in s:
            np.testing.assert_array_equal(s[k], t[k])


def test_sgd_is_the_course_gradient_descent_step() -> None:
    w = cr.tensor([2.0, -1.0], requires_grad=True)
    before = w.data
    opt = optim.SGD([w], lr=0.5)
    (w * w).sum().backward()  # dW = 2 w
    opt.step()
    np.testing.assert_array_equal(w.data, [0.0, 0.0])  # W := W - alpha dW = w - 0.5 * 2w
    assert w.data is before  # updated in place


def test_default_sgd_rate_is_pytorch_0_001() -> None:
    assert optim.SGD([cr.tensor([1.0], requires_grad=True)]).lr == 0.001


def test_lr_property_reads_the_first_group_and_sets_all() -> None:
    ps = [cr.tensor(np.ones(s), requires_grad=True) for s in SHAPES]
    opt = optim.SGD(_split(ps, lr=0.5), lr=0.1)
    assert opt.lr == 0.1
    opt.lr = 0.2
    assert [g["lr"] for g in opt.param_groups] == [0.2, 0.2]


def test_named_parameters_and_duplicates() -> None:
    model = nn.Sequential(nn.Linear(2, 3, rng=0))
    opt = optim.Adam(model.named_parameters())
    assert len(opt.params) == 2
    w = cr.tensor([1.0], requires_grad=True)
    assert len(optim.SGD([w, w]).params) == 1  # a repeat inside a group is stepped once
    with pytest.raises(cr.ConfigError, match="more than one parameter group"):
        optim.SGD([{"params": [w]}, {"params": [w]}])


def test_parameters_without_gradients_are_left_alone() -> None:
    a = cr.tensor([1.0], requires_grad=True)
    b = cr.tensor([1.0], requires_grad=True)
    opt = optim.Adam([a, b], lr=0.1)
    (a * 2).sum().backward()
    opt.step()
    assert a.data[0] != 1.0 and b.data[0] == 1.0
    assert opt.steps == [1, 0] and opt.state[1]["exp_avg"][0] == 0.0
    assert opt.state[b] is opt.state[1]  # PyTorch's opt.state[p]
    with pytest.raises(cr.ConfigError, match="not one of the optimizer's parameters"):
        opt.state[cr.tensor([0.0])]


def test_zero_grad_as_pytorch() -> None:
    # torch.optim.Optimizer.zero_grad: None by default, zeros with set_to_none=False
    w = cr.tensor([1.0, 2.0], requires_grad=True)
    opt = optim.SGD([w])
    w.grad = np.array([3.0, 4.0])
    opt.zero_grad(set_to_none=False)
    np.testing.assert_array_equal(w.grad, [0.0, 0.0])
    opt.zero_grad()
    assert w.grad is None
