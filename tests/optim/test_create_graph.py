"""Optimizers after ``backward(create_graph=True)``: a gradient that is a tensor in a graph is
read by value, so every step equals the step after a plain ``backward()`` (PyTorch's
optimizers behave so); closures may call ``backward(create_graph=True)``; and a gradient
penalty (a loss built from a gradient) trains as in PyTorch, step by step."""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
from chainrule import optim
from conftest import needs_torch

RNG = np.random.default_rng(3)
X = RNG.normal(size=(6, 3))
Y = RNG.normal(size=(6, 1))
START = [RNG.normal(size=(3, 4)), RNG.normal(size=4), RNG.normal(size=(4, 1))]

MAKERS = {
    "SGD": lambda ps: optim.SGD(ps, lr=0.1),
    "SGD-momentum": lambda ps: optim.SGD(ps, lr=0.1, momentum=0.9, nesterov=True),
    "Adam": lambda ps: optim.Adam(ps, lr=0.05),
    "Adam-amsgrad-wd": lambda ps: optim.Adam(ps, lr=0.05, amsgrad=True, weight_decay=0.1),
    "AdamW": lambda ps: optim.AdamW(ps, lr=0.05),
    "RMSprop": lambda ps: optim.RMSprop(ps, lr=0.01, momentum=0.5, centered=True),
}


def _loss(params):
    w1, b1, w2 = params
    return (((cr.tensor(X) @ w1 + b1).tanh() @ w2 - Y) ** 2).mean()


def _train(make, create_graph: bool, steps: int = 4, groups: bool = False):
    params = [cr.tensor(a, requires_grad=True) for a in START]
    # two groups take the per-parameter path; one group of small tensors the flat one
    opt = make([{"params": params[:1]}, {"params": params[1:]}] if groups else params)
    for _ in range(steps):
        opt.zero_grad()
        _loss(params).backward(create_graph=create_graph)
        if create_graph:
            assert isinstance(params[0].grad, cr.Tensor)
        opt.step()
    return [p.data for p in params]


@pytest.mark.parametrize("groups", [False, True], ids=["flat", "per-parameter"])
@pytest.mark.parametrize("name", sorted(MAKERS))
def test_a_step_after_create_graph_equals_the_plain_step(name: str, groups: bool) -> None:
    plain = _train(MAKERS[name], create_graph=False, groups=groups)
    graphed = _train(MAKERS[name], create_graph=True, groups=groups)
    for a, b in zip(graphed, plain):
        np.testing.assert_array_equal(a, b)


def test_zero_grad_without_none_lets_go_of_a_graphed_gradient() -> None:
    w = cr.tensor([1.0, -2.0], requires_grad=True)
    opt = optim.SGD([w], lr=0.1)
    (w ** 3).sum().backward(create_graph=True)
    graphed = w.grad
    opt.zero_grad(set_to_none=False)
    # an array of the parameter's own library (NumPy's on the CPU), not a tensor
    assert type(w.grad) is type(w.data) and not np.asarray(w.grad).any()
    assert graphed.numpy().tolist() == [3.0, 12.0]  # the graph's own values are untouched
    (w ** 3).sum().backward()
    opt.step()
    np.testing.assert_allclose(w.data, [1.0 - 0.3, -2.0 - 1.2])


@pytest.mark.parametrize("name", ["SGD-momentum", "Adam"])
def test_a_closure_may_backward_with_create_graph(name: str) -> None:
    def run(create_graph: bool):
        params = [cr.tensor(a, requires_grad=True) for a in START]
        opt = MAKERS[name](params)

        def closure():
            opt.zero_grad()
            loss = _loss(params)
            loss.backward(create_graph=create_graph)
            return loss
        losses = [opt.step(closure) for _ in range(3)]
        return [float(v.item()) for v in losses], [p.data for p in params]

    (l1, p1), (l2, p2) = run(True), run(False)
    assert l1 == l2
    for a, b in zip(p1, p2):
        np.testing.assert_array_equal(a, b)


def test_lbfgs_closure_with_create_graph_equals_the_plain_one() -> None:
    def run(create_graph: bool):
        params = [cr.tensor(a, requires_grad=True) for a in START]
        opt = optim.LBFGS(params, lr=0.5, max_iter=5)

        def closure():
            opt.zero_grad()
            loss = _loss(params)
            loss.backward(create_graph=create_graph)
            return loss
        for _ in range(2):
            opt.step(closure)
        return [p.data for p in params]

    for a, b in zip(run(True), run(False)):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-14)


@needs_torch
@pytest.mark.parametrize("name", ["SGD-momentum", "Adam"])
def test_a_gradient_penalty_trains_as_in_torch(name: str) -> None:
    # WGAN-GP's shape: loss = f(x) mean + lambda * mean((|d f / d x| - 1)^2), trained by
    # backpropagating through the input gradient.
    import torch

    def penalised(lib_grad, w1, b1, w2, x):
        out = ((x @ w1 + b1).tanh() @ w2)
        (gx,) = lib_grad(out.sum(), x)
        norm = ((gx * gx).sum(1) + 1e-12) ** 0.5
        return out.mean() + 10 * ((norm - 1) ** 2).mean()

    params = [cr.tensor(a, requires_grad=True) for a in START]
    opt = MAKERS[name](params)
    tparams = [torch.tensor(a, requires_grad=True) for a in START]
    topt = (torch.optim.SGD(tparams, lr=0.1, momentum=0.9, nesterov=True) if name != "Adam"
            else torch.optim.Adam(tparams, lr=0.05))
    for _ in range(5):
        x = cr.tensor(X, requires_grad=True)
        opt.zero_grad()
        loss = penalised(lambda o, i: cr.grad(o, i, create_graph=True), *params, x)
        loss.backward()
        opt.step()
        tx = torch.tensor(X, requires_grad=True)
        topt.zero_grad()
        tloss = penalised(lambda o, i: torch.autograd.grad(o, i, create_graph=True),
                          *tparams, tx)
        tloss.backward()
        topt.step()
        assert abs(loss.item() - tloss.item()) <= 1e-10 * max(1.0, abs(tloss.item()))
        for p, t in zip(params, tparams):
            np.testing.assert_allclose(p.data, t.detach().numpy(), rtol=1e-10, atol=1e-10)
