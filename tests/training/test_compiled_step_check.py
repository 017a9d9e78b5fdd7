"""cr.compile(step) replays loss_fn(model(x), y) only when the step computes exactly that: a
step that adds a penalty (a gradient of a gradient, or a plain regulariser), scales the loss or
clips the gradients runs eagerly, with a warning, and trains as it would without compile."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import chainrule as cr
from chainrule import nn

# Compiled plans are NumPy's and numba's: they run on the CPU only (other devices train
# eagerly, tests/engine/test_devices.py and tests/training/test_device_fit.py).
pytestmark = pytest.mark.cpu_only

RNG = np.random.default_rng(0)
X = RNG.normal(size=(32, 3)).astype(np.float32)
Y = RNG.normal(size=(32, 1)).astype(np.float32)


def _setup():
    model = nn.Sequential(nn.Linear(3, 4, rng=0), nn.Tanh(), nn.Linear(4, 1, rng=0))
    return model, cr.optim.SGD(model.parameters(), lr=0.05), nn.MSELoss()


def _gradient_penalty(model, opt, loss_fn):
    def step(xb, yb):
        opt.zero_grad()
        x = cr.tensor(xb, requires_grad=True)
        loss = loss_fn(model(x), cr.tensor(yb))
        (gx,) = cr.grad(loss, x, create_graph=True)
        (loss + (gx * gx).sum()).backward()
        opt.step()
        return loss
    return step


def _l2(model, opt, loss_fn):
    def step(xb, yb):
        opt.zero_grad()
        loss = loss_fn(model(xb), yb)
        (loss + 1e-2 * sum((p * p).sum() for p in model.parameters())).backward()
        opt.step()
        return loss
    return step


def _scaled(model, opt, loss_fn):
    def step(xb, yb):
        opt.zero_grad()
        loss = loss_fn(model(xb), yb)
        (loss * 3.0).backward()
        opt.step()
        return loss
    return step


def _plain(model, opt, loss_fn):
    def step(xb, yb):
        opt.zero_grad()
        loss = loss_fn(model(xb), yb)
        loss.backward()
        opt.step()
        return loss
    return step


def _train(make, compiled):
    model, opt, loss_fn = _setup()
    step = make(model, opt, loss_fn)
    if compiled:
        step = cr.compile(step)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        losses = []
        for _ in range(5):
            out = step(X, Y)
            losses.append(float(out.item() if isinstance(out, cr.Tensor) else out))
    return losses, [p.data.copy() for p in model.parameters()], caught


@pytest.mark.parametrize("make", [_gradient_penalty, _l2, _scaled])
def test_a_step_beyond_the_plan_runs_eagerly_and_trains_the_same(make):
    eager_losses, eager_weights, _ = _train(make, compiled=False)
    losses, weights, caught = _train(make, compiled=True)
    assert losses == eager_losses
    for a, b in zip(weights, eager_weights):
        np.testing.assert_array_equal(a, b)
    assert any("running eagerly" in str(w.message) and "alone" in str(w.message)
               for w in caught)


def test_the_plain_step_still_replays_its_plan():
    _, _, caught = _train(_plain, compiled=True)
    assert not [w for w in caught if "running eagerly" in str(w.message)]
