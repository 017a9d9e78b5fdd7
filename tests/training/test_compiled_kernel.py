"""The one-call step kernel (training/kernel.py over training/flat.py's buffers): compiled
steps equal eager ones step by step, on the benchmark's workloads and on random small models,
for every optimizer setting it computes; the user's tensors, gradients and optimizer state
stay the live values; what it cannot run falls back to the NumPy plan with one warning."""

from __future__ import annotations

import copy
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from small_nets import ACTS, mlp, problem

import chainrule as cr
from chainrule import nn
from chainrule.training import kernel
from chainrule.training.flat import KernelFallbackWarning

# the kernel needs numba (chainrule[fast]); CHAINRULE_NO_NUMBA=1 turns it off
pytestmark = [pytest.mark.cpu_only,
              pytest.mark.skipif(kernel.kernels() is None, reason="needs numba")]

OPTIMIZERS = {
    "sgd": lambda ps: cr.optim.SGD(ps, lr=0.1),
    "sgd_momentum": lambda ps: cr.optim.SGD(ps, lr=0.05, momentum=0.9, dampening=0.1,
                                            weight_decay=1e-3),
    "nesterov": lambda ps: cr.optim.SGD(ps, lr=0.05, momentum=0.9, nesterov=True,
                                        weight_decay=1e-3, maximize=False),
    "adam": lambda ps: cr.optim.Adam(ps, lr=0.01),
    "adam_amsgrad": lambda ps: cr.optim.Adam(ps, lr=0.01, amsgrad=True, weight_decay=1e-2),
    "adamw": lambda ps: cr.optim.AdamW(ps, lr=0.01, weight_decay=0.1),
    "rmsprop": lambda ps: cr.optim.RMSprop(ps, lr=0.01),
    "rmsprop_centered": lambda ps: cr.optim.RMSprop(ps, lr=0.01, momentum=0.5, centered=True,
                                                    weight_decay=1e-3),
}


def _run(model, loss_fn, opt_name, X, y, steps, batch, compiled, grads=None):
    opt = OPTIMIZERS[opt_name](model.parameters())

    def step(xb, yb):
        opt.zero_grad()
        loss = loss_fn(model(xb), yb)
        loss.backward()
        opt.step()
        return loss

    fn = cr.compile(step, optimizer=opt) if compiled else step
    losses = []
    for s in range(steps):
        i = (s * batch) % len(X)
        losses.append(float(fn(cr.tensor(X[i:i + batch]), y[i:i + batch])))
        if grads is not None:
            grads.append([None if p.grad is None else np.array(p.grad)
                          for p in model.parameters()])
    return losses, [p.data.copy() for p in model.parameters()], fn, opt, model


def _same(fast, eager, dtype):
    rtol = 1e-12 if dtype == np.float64 else 1e-5
    np.testing.assert_allclose(fast[0], eager[0], rtol=rtol, atol=rtol * 1e-2)
    for a, b in zip(fast[1], eager[1]):
        np.testing.assert_allclose(a, b, rtol=rtol, atol=rtol * 1e-2)


def _compare(sizes, act, kind, opt_name, dtype, batch, steps=6, seed=0, bias=True):
    n_out = sizes[-1]
    X, y, loss_fn, out = problem(kind, 2 * batch, sizes[0], n_out, dtype, seed)
    base = mlp(sizes, act, dtype, out, seed, bias)
    g_eager, g_fast = [], []
    eager = _run(copy.deepcopy(base), loss_fn, opt_name, X, y, steps, batch, False, g_eager)
    fast = _run(copy.deepcopy(base), loss_fn, opt_name, X, y, steps, batch, True, g_fast)
    assert fast[2].compiled, fast[2].reason
    assert fast[2].flat is not None
    _same(fast, eager, dtype)
    rtol = 1e-10 if dtype == np.float64 else 1e-4
    for a, b in zip(g_fast[-1], g_eager[-1]):  # the gradients the last step left
        np.testing.assert_allclose(a, b, rtol=rtol, atol=rtol * 1e-2)
    return eager, fast


# The benchmark's workloads: (sizes, activation, loss, optimizer, batch); W2-W4 scaled down
# to batches the kernel takes (kernel.LARGEST).
WORKLOADS = {
    "W0": ([2, 4, 1], "tanh", "bce", "sgd", 400),
    "W1": ([64, 32, 10], "relu", "ce", "adam", 32),
    "W2": ([784, 128, 10], "relu", "ce", "sgd", 8),
    "W3": ([64, 256, 256, 10], "relu", "ce", "sgd_momentum", 16),
    "W4": ([64] + [64] * 20 + [10], "relu", "ce", "sgd", 64),
}


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("name", list(WORKLOADS))
def test_kernel_equals_eager_on_every_workload(name, dtype):
    sizes, act, kind, opt_name, batch = WORKLOADS[name]
    _compare(sizes, act, kind, opt_name, dtype, batch)


@pytest.mark.parametrize("opt_name", list(OPTIMIZERS))
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_kernel_equals_eager_for_every_optimizer(opt_name, dtype):
    _compare([5, 7, 3], "tanh", "mse", opt_name, dtype, 8)


@pytest.mark.parametrize("kind", ["mse", "mse_tanh", "bce", "bce_logits_sum", "ce", "soft"])
@pytest.mark.parametrize("act", list(ACTS))
def test_kernel_equals_eager_for_every_loss_and_activation(kind, act):
    _compare([4, 6, 3 if kind != "bce" else 1], act, kind, "adam", np.float64, 10)


@settings(max_examples=40, deadline=None, derandomize=True)
@given(depth=st.integers(1, 4), widths=st.lists(st.integers(1, 12), min_size=5, max_size=5),
       act=st.sampled_from(sorted(ACTS)),
       kind=st.sampled_from(["mse", "mse_tanh", "bce", "bce_logits_sum", "ce", "soft"]),
       opt_name=st.sampled_from(sorted(OPTIMIZERS)), batch=st.integers(1, 20),
       dtype=st.sampled_from([np.float64, np.float32]), bias=st.booleans(),
       seed=st.integers(0, 1000))
def test_kernel_equals_eager_on_random_small_models(depth, widths, act, kind, opt_name,
                                                     batch, dtype, bias, seed):
    sizes = widths[:depth + 1]
    if kind in ("ce", "soft"):
        sizes[-1] = max(sizes[-1], 2)
    if kind == "bce":
        sizes[-1] = 1
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # every one of these runs the kernel
        _compare(sizes, act, kind, opt_name, dtype, batch, steps=5, seed=seed, bias=bias)


def test_the_users_tensors_and_state_stay_live():
    """After compiled steps, p.data, model.state_dict(), optimizer.state_dict() and p.grad
    are the current values: a checkpoint taken mid-run resumes exactly."""
    X, y, loss_fn, _ = problem("ce", 40, 5, 3, np.float64)
    base = mlp([5, 8, 3], "relu", np.float64)
    eager = _run(copy.deepcopy(base), loss_fn, "adam", X, y, 8, 10, False)
    fast = _run(copy.deepcopy(base), loss_fn, "adam", X, y, 8, 10, True)
    _same(fast, eager, np.float64)
    e_state, f_state = eager[3].state_dict(), fast[3].state_dict()
    assert f_state["steps"] == e_state["steps"] and f_state["step_count"] == 8
    for a, b in zip(f_state["state"], e_state["state"]):
        assert a.keys() == b.keys()
        for name in a:
            np.testing.assert_allclose(a[name], b[name], rtol=1e-12, atol=1e-15)
    # resume a fresh model and optimizer from the compiled run's state: same next steps
    model = copy.deepcopy(base)
    model.load_state_dict({k: np.array(v) for k, v in fast[4].state_dict().items()})
    opt = cr.optim.Adam(model.parameters(), lr=0.01)
    opt.load_state_dict(f_state)
    more_fast = _continue(model, opt, loss_fn, X, y, compiled=True)
    model2 = copy.deepcopy(base)
    model2.load_state_dict({k: np.array(v) for k, v in eager[4].state_dict().items()})
    opt2 = cr.optim.Adam(model2.parameters(), lr=0.01)
    opt2.load_state_dict(e_state)
    more_eager = _continue(model2, opt2, loss_fn, X, y, compiled=False)
    np.testing.assert_allclose(more_fast, more_eager, rtol=1e-12)


def _continue(model, opt, loss_fn, X, y, compiled):
    step = cr.compile(model=model, loss_fn=loss_fn, optimizer=opt) if compiled else None
    losses = []
    for s in range(4):
        xb, yb = cr.tensor(X[s * 10:(s + 1) * 10]), y[s * 10:(s + 1) * 10]
        if compiled:
            losses.append(float(step(xb, yb)))
        else:
            opt.zero_grad()
            loss = loss_fn(model(xb), yb)
            loss.backward()
            opt.step()
            losses.append(float(loss))
    # the live weights
    losses.append(float(sum(np.abs(p.data).sum() for p in model.parameters())))
    return losses


def test_weights_loaded_mid_run_and_a_schedule_are_followed():
    X, y, loss_fn, _ = problem("mse", 32, 3, 2, np.float64)
    base = mlp([3, 5, 2], "tanh", np.float64)
    start = {k: np.array(v) for k, v in base.state_dict().items()}
    results = []
    for compiled in (False, True):
        model = copy.deepcopy(base)
        opt = cr.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
        sched = cr.optim.lr_scheduler.StepLR(opt, step_size=2, gamma=0.5)
        step = cr.compile(model=model, loss_fn=loss_fn, optimizer=opt) if compiled else None
        losses = []
        for s in range(10):
            if s == 5:
                model.load_state_dict(start)  # in place
            if s == 7:
                for p in model.parameters():  # replaced arrays
                    p.data = p.data * 0.5
            xb, yb = X[s % 4 * 8:(s % 4 + 1) * 8], y[s % 4 * 8:(s % 4 + 1) * 8]
            if compiled:
                losses.append(float(step(xb, yb)))
            else:
                opt.zero_grad()
                loss = loss_fn(model(cr.tensor(xb)), yb)
                loss.backward()
                opt.step()
                losses.append(float(loss))
            sched.step()
        results.append((losses, [p.data.copy() for p in model.parameters()]))
    np.testing.assert_allclose(results[1][0], results[0][0], rtol=1e-12)
    for a, b in zip(results[1][1], results[0][1]):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-15)


def test_what_the_kernel_cannot_run_falls_back_to_the_plan_with_one_warning():
    X, y, loss_fn, _ = problem("mse", 16, 3, 2, np.float64)
    base = mlp([3, 5, 2], "tanh", np.float64)

    def make(m):
        return cr.optim.SGD([{"params": [m[0].weight, m[0].bias], "lr": 0.1},
                             {"params": [m[2].weight, m[2].bias], "lr": 0.01}], momentum=0.5)

    results = []
    for compiled in (False, True):
        model = copy.deepcopy(base)
        opt = make(model)
        step = cr.compile(model=model, loss_fn=loss_fn, optimizer=opt) if compiled else None
        losses = []
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            for s in range(5):
                xb, yb = X[s % 2 * 8:(s % 2 + 1) * 8], y[s % 2 * 8:(s % 2 + 1) * 8]
                if compiled:
                    losses.append(float(step(xb, yb)))
                else:
                    opt.zero_grad()
                    loss = loss_fn(model(cr.tensor(xb)), yb)
                    loss.backward()
                    opt.step()
                    losses.append(float(loss))
        results.append(losses)
        if compiled:
            assert step.compiled and step.flat is None
            why = [w for w in caught if issubclass(w.category, KernelFallbackWarning)]
            assert len(why) == 1 and "parameter groups" in str(why[0].message)
    np.testing.assert_allclose(results[1], results[0], rtol=1e-12)


def test_labels_the_kernel_does_not_take_run_eagerly_for_that_step():
    X, y, _, _ = problem("ce", 20, 3, 4, np.float64)
    y = y.copy()
    y[13] = -100  # ignore_index: eager's rule
    base = mlp([3, 5, 4], "relu", np.float64)
    eager = _run(copy.deepcopy(base), nn.CrossEntropyLoss(), "adam", X, y, 4, 10, False)
    fast = _run(copy.deepcopy(base), nn.CrossEntropyLoss(), "adam", X, y, 4, 10, True)
    _same(fast, eager, np.float64)


def test_without_numba_the_numpy_plan_runs_silently(monkeypatch):
    monkeypatch.setattr(kernel, "_tried", True)  # as if numba were not installed
    monkeypatch.setattr(kernel, "_kernels", None)
    X, y, loss_fn, out = problem("bce", 20, 2, 1, np.float64)
    base = mlp([2, 4, 1], "tanh", np.float64, out)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        eager = _run(copy.deepcopy(base), loss_fn, "sgd", X, y, 4, 20, False)
        fast = _run(copy.deepcopy(base), loss_fn, "sgd", X, y, 4, 20, True)
    assert fast[2].compiled and fast[2].flat is None
    _same(fast, eager, np.float64)


@pytest.mark.parametrize(("kind", "out"), [("bce", nn.Sigmoid), ("ce", None), ("mse", None)])
def test_fit_with_compile_runs_the_kernel_and_equals_eager(kind, out):
    n_out = 1 if kind == "bce" else 3
    X, y, loss_fn, _ = problem(kind, 40, 4, n_out, np.float64)
    histories, weights = [], []
    for compiled in (False, True):
        model = mlp([4, 6, n_out], "relu", np.float64, out)
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            h = cr.fit(model, X, y, loss=loss_fn, optimizer="adam", lr=0.01, epochs=3,
                       batch_size=10, shuffle=True, seed=0, verbose=0, compile=compiled)
        histories.append(h)
        weights.append([p.data.copy() for p in model.parameters()])
    np.testing.assert_allclose(histories[1]["loss"], histories[0]["loss"], rtol=1e-12)
    for a, b in zip(weights[1], weights[0]):
        np.testing.assert_allclose(a, b, rtol=1e-11, atol=1e-14)


def test_a_step_past_the_kernels_largest_layer_replays_the_numpy_plan_silently():
    # 784-128-10 at batch 128 is its matrix products: the NumPy plan is the faster one there
    sizes, batch = [784, 128, 10], 128
    assert batch * 784 * 128 > kernel.LARGEST
    X, y, loss_fn, out = problem("ce", 2 * batch, sizes[0], sizes[-1], np.float64, 0)
    base = mlp(sizes, "relu", np.float64, out, 0, True)
    eager = _run(copy.deepcopy(base), loss_fn, "sgd", X, y, 4, batch, False, [])
    with warnings.catch_warnings():
        warnings.simplefilter("error", KernelFallbackWarning)
        fast = _run(copy.deepcopy(base), loss_fn, "sgd", X, y, 4, batch, True, [])
    assert fast[2].compiled and fast[2].flat is None
    _same(fast, eager, np.float64)
