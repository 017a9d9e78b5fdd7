"""Optimizers on another device: array-api-strict (the array API standard and nothing else,
on the CPU) trains an MLP exactly as NumPy does, the state lives beside the parameters and
follows them when the model moves, and a checkpoint written there loads on the CPU."""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
from chainrule import nn, optim

pytest.importorskip("array_api_strict")

STRICT = "array_api_strict"

MAKERS = {
    "SGD": lambda p: optim.SGD(p, lr=0.1),
    "SGD-nesterov-wd": lambda p: optim.SGD(p, lr=0.05, momentum=0.9, nesterov=True,
                                           weight_decay=0.01),
    "Adam": lambda p: optim.Adam(p, lr=0.01),
    "Adam-amsgrad": lambda p: optim.Adam(p, lr=0.01, amsgrad=True, weight_decay=0.1),
    "AdamW": lambda p: optim.AdamW(p, lr=0.01),
    "RMSprop-centered-momentum": lambda p: optim.RMSprop(p, lr=0.01, centered=True,
                                                         momentum=0.5),
    "LBFGS": lambda p: optim.LBFGS(p, max_iter=4, line_search_fn="strong_wolfe"),
}

rng = np.random.default_rng(0)
X = rng.normal(size=(16, 4))
Y = rng.integers(0, 3, size=16)


def _mlp(device: str) -> nn.Module:
    model = nn.Sequential(nn.Linear(4, 8, dtype=np.float64, rng=1), nn.Tanh(),
                          nn.Linear(8, 3, dtype=np.float64, rng=2))
    return model.to(device)


def _closure(model: nn.Module, opt: optim.Optimizer, device: str):
    x = cr.tensor(X, device=device)

    def closure():
        opt.zero_grad()
        loss = nn.CrossEntropyLoss()(model(x), Y)  # host labels, moved beside the logits
        loss.backward()
        return loss
    return closure


def _train(name: str, device: str, steps: int = 5, groups: bool = False,
           move_to: str | None = None) -> tuple[nn.Module, optim.Optimizer]:
    model = _mlp(device)
    params = model.parameters()
    opt = MAKERS[name]([{"params": params[:2]}, {"params": params[2:]}] if groups else params)
    for k in range(steps):
        if move_to is not None and k == steps // 2:
            model.to(move_to)  # the optimizer's state follows at its next step
            device = move_to
        opt.step(_closure(model, opt, device))
    return model, opt


def _weights(model: nn.Module) -> list[np.ndarray]:
    return [p.numpy() for p in model.parameters()]


def _close(a: list[np.ndarray], b: list[np.ndarray], tol: float = 1e-10) -> None:
    for u, v in zip(a, b):
        np.testing.assert_allclose(u, v, rtol=tol, atol=tol)


@pytest.mark.parametrize("groups", [False, True], ids=["flat", "per-parameter"])
@pytest.mark.parametrize("name", sorted(MAKERS))
def test_an_mlp_trains_on_array_api_strict_as_on_the_cpu(name: str, groups: bool) -> None:
    if name == "LBFGS" and groups:
        pytest.skip("LBFGS takes one parameter group")
    cpu, _ = _train(name, "cpu", groups=groups)
    strict, opt = _train(name, STRICT, groups=groups)
    assert strict.device == STRICT and cpu.device == "cpu"
    _close(_weights(strict), _weights(cpu))
    assert all(not isinstance(a, np.ndarray) for s in opt.state for a in s.values())
    assert _weights(cpu)[0].std() > 0  # it trained from a real start


@pytest.mark.parametrize("groups", [False, True], ids=["flat", "per-parameter"])
@pytest.mark.parametrize("name", sorted(MAKERS))
def test_the_state_follows_a_model_moved_between_steps(name: str, groups: bool) -> None:
    if name == "LBFGS" and groups:
        pytest.skip("LBFGS takes one parameter group")
    there, opt = _train(name, "cpu", groups=groups, move_to=STRICT)
    stayed, _ = _train(name, "cpu", groups=groups)
    _close(_weights(there), _weights(stayed))
    params = there.parameters()
    for p, state in zip(params, opt.state):
        for buf in state.values():
            assert type(buf) is type(p.data)  # moved with its parameter
    if name == "LBFGS":
        assert type(opt._d) is type(params[0].data)
    back, opt = _train(name, STRICT, groups=groups, move_to="cpu")
    _close(_weights(back), _weights(stayed))
    assert all(isinstance(a, np.ndarray) for s in opt.state for a in s.values())


@pytest.mark.parametrize("name", ["Adam", "SGD-nesterov-wd", "LBFGS"])
def test_a_state_dict_from_the_strict_device_continues_on_the_cpu(name: str) -> None:
    strict, opt = _train(name, STRICT, steps=3)
    state = opt.state_dict()
    for buffers in state["state"]:
        assert all(isinstance(a, np.ndarray) for a in buffers.values())
    weights = strict.state_dict()
    assert all(isinstance(a, np.ndarray) for a in weights.values())
    cpu = _mlp("cpu")
    cpu.load_state_dict(weights)
    cpu_opt = MAKERS[name](cpu.parameters())
    cpu_opt.load_state_dict(state)
    for _ in range(2):
        opt.step(_closure(strict, opt, STRICT))
        cpu_opt.step(_closure(cpu, cpu_opt, "cpu"))
    _close(_weights(cpu), _weights(strict))


def test_a_gradient_set_from_the_host_is_moved_beside_its_parameter() -> None:
    w = cr.tensor([1.0, -2.0], requires_grad=True, device=STRICT)
    opt = optim.SGD([w], lr=0.5)
    w.grad = np.array([2.0, 2.0])
    opt.step()
    assert w.device == STRICT
    np.testing.assert_array_equal(w.numpy(), [0.0, -3.0])
