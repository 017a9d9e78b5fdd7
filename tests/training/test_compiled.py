"""cr.compile: the captured plan equals the eager step, step by step, from the same state."""

from __future__ import annotations

import copy
import warnings

import numpy as np
import pytest
from small_nets import ACTS, mlp, problem

import chainrule as cr
from chainrule import nn

# Compiled plans are NumPy's and numba's: they run on the CPU only (other devices train
# eagerly, tests/engine/test_devices.py and tests/training/test_device_fit.py).
pytestmark = pytest.mark.cpu_only


def _run(model, loss_fn, make_opt, X, y, steps, batch, compiled):
    opt = make_opt(model)

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
    return losses, [p.data.copy() for p in model.parameters()], fn


OPTIMIZERS = {
    "sgd": lambda m: cr.optim.SGD(m.parameters(), lr=0.05),
    "momentum": lambda m: cr.optim.SGD(m.parameters(), lr=0.05, momentum=0.9, nesterov=True,
                                       weight_decay=1e-3),
    "adam": lambda m: cr.optim.Adam(m.parameters(), lr=0.01),
}

# The benchmark's workloads, at a size a unit test can afford: (sizes, activation, loss, batch)
WORKLOADS = {
    "W0 2-4-1 full batch": ([2, 4, 1], "tanh", "bce", 400),
    "W1 64-32-10 Adam": ([64, 32, 10], "relu", "ce", 32),
    "W2 784-128-10": ([784, 128, 10], "relu", "ce", 128),
    "W3 deep wide (scaled down)": ([64, 128, 128, 10], "relu", "ce", 64),
    "W4 20 x 64 deep (scaled down)": ([32] + [64] * 8 + [10], "tanh", "ce", 64),
}


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("name", list(WORKLOADS))
def test_compiled_equals_eager_on_every_workload(name, dtype):
    sizes, act, kind, batch = WORKLOADS[name]
    X, y, loss_fn, out = problem(kind, 2 * batch, sizes[0], sizes[-1], dtype)
    make_opt = OPTIMIZERS["adam" if "Adam" in name else "momentum"]
    base = mlp(sizes, act, dtype, out)
    eager = _run(copy.deepcopy(base), loss_fn, make_opt, X, y, 6, batch, False)
    fast = _run(copy.deepcopy(base), loss_fn, make_opt, X, y, 6, batch, True)
    assert fast[2].compiled, fast[2].reason
    # float32: the one-call kernel (with numba) sums products in another order than NumPy's
    # BLAS, and Adam turns a last-bit difference of a small gradient into a few 1e-6 of a
    # weight after six steps; float32's own precision is 1.2e-7
    rtol = 1e-12 if dtype == np.float64 else 1e-5
    np.testing.assert_allclose(fast[0], eager[0], rtol=rtol)
    for a, b in zip(fast[1], eager[1]):
        np.testing.assert_allclose(a, b, rtol=rtol, atol=rtol * 1e-2)


@pytest.mark.parametrize("seed", range(12))
def test_compiled_equals_eager_on_random_small_models(seed):
    rng = np.random.default_rng(seed)
    depth = int(rng.integers(1, 4))
    sizes = [int(v) for v in rng.integers(1, 9, size=depth + 1)]
    kind = ["mse", "bce", "bce_logits", "ce", "onehot"][seed % 5]
    if kind in ("ce", "onehot"):
        sizes[-1] = max(sizes[-1], 2)
    act = list(ACTS)[seed % 4]
    X, y, loss_fn, out = problem(kind, 10, sizes[0], sizes[-1], np.float64, seed)
    make_opt = list(OPTIMIZERS.values())[seed % 3]
    base = mlp(sizes, act, np.float64, out, seed)
    eager = _run(copy.deepcopy(base), loss_fn, make_opt, X, y, 5, 5, False)
    fast = _run(copy.deepcopy(base), loss_fn, make_opt, X, y, 5, 5, True)
    assert fast[2].compiled, fast[2].reason
    np.testing.assert_allclose(fast[0], eager[0], rtol=1e-12)
    for a, b in zip(fast[1], eager[1]):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-14)


def test_parameter_groups_and_frozen_parameters():
    X, y, loss_fn, _ = problem("mse", 16, 3, 2, np.float64)
    base = mlp([3, 5, 2], "tanh", np.float64)
    base[0].bias.requires_grad = False  # a parameter that gets no gradient

    def make_opt(m):
        return cr.optim.SGD([{"params": [m[0].weight, m[0].bias], "lr": 0.1},
                             {"params": [m[2].weight, m[2].bias], "lr": 0.01}], momentum=0.5)

    eager = _run(copy.deepcopy(base), loss_fn, make_opt, X, y, 4, 8, False)
    fast = _run(copy.deepcopy(base), loss_fn, make_opt, X, y, 4, 8, True)
    assert fast[2].compiled, fast[2].reason
    np.testing.assert_allclose(fast[0], eager[0], rtol=1e-12)
    for a, b in zip(fast[1], eager[1]):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-15)
    np.testing.assert_array_equal(fast[1][1], base[0].bias.data)  # never moved


def test_unsupported_steps_run_eagerly_with_one_warning():
    X, y, loss_fn, _ = problem("mse", 8, 3, 1, np.float64)
    model = nn.Sequential(nn.Linear(3, 4, dtype=np.float64, rng=0), nn.Dropout(0.5, rng=0),
                          nn.Linear(4, 1, dtype=np.float64, rng=1))
    opt = cr.optim.SGD(model.parameters(), lr=0.1)

    def step(xb, yb):
        opt.zero_grad()
        loss = loss_fn(model(xb), yb)
        loss.backward()
        opt.step()
        return loss

    fast = cr.compile(step)
    with pytest.warns(RuntimeWarning, match="running eagerly"):
        fast(cr.tensor(X), y)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fast(cr.tensor(X), y)  # the same shapes: no second warning
    assert not fast.compiled
    assert "does not replay" in fast.reason  # names the operation it met


def test_closure_optimizers_fall_back_to_eager():
    X, y, loss_fn, _ = problem("mse", 8, 3, 1, np.float64)
    model = mlp([3, 1], "tanh", np.float64)
    opt = cr.optim.LBFGS(model.parameters(), lr=0.5)

    def step(xb, yb):
        def closure():
            opt.zero_grad()
            loss = loss_fn(model(xb), yb)
            loss.backward()
            return loss
        return opt.step(closure)

    fast = cr.compile(step, optimizer=opt, model=model, loss_fn=loss_fn)
    with pytest.warns(RuntimeWarning, match="closure"):
        fast(cr.tensor(X), y)
    assert not fast.compiled


def test_a_new_batch_shape_recaptures():
    X, y, loss_fn, out = problem("bce", 12, 2, 1, np.float64)
    model = mlp([2, 3, 1], "tanh", np.float64, out)
    fast = cr.compile(model=model, loss_fn=loss_fn,
                      optimizer=cr.optim.SGD(model.parameters(), lr=0.1))
    for n in (8, 8, 4, 4, 8):
        loss = fast(X[:n], y[:n])
        assert np.isfinite(float(loss))
    assert fast.compiled


@pytest.mark.parametrize("use_numba", [False, True])
def test_numba_kernels_and_numpy_plan_both_equal_eager(monkeypatch, use_numba):
    from chainrule.training import fused

    if use_numba:
        pytest.importorskip("numba")
        monkeypatch.delenv("CHAINRULE_NO_NUMBA", raising=False)
        monkeypatch.setattr(fused, "_tried", False)  # build (or load) the kernels again
    else:
        monkeypatch.setattr(fused, "_tried", True)  # as if numba were not installed
        monkeypatch.setattr(fused, "_kernels", None)
    assert fused.available() == use_numba
    for kind, act in [("bce", "tanh"), ("mse", "sigmoid"), ("bce_logits", "leaky_relu"),
                      ("ce", "relu")]:
        X, y, loss_fn, out = problem(kind, 12, 3, 2 if kind != "bce" else 1, np.float64)
        base = mlp([3, 5, 4, 2 if kind != "bce" else 1], act, np.float64, out)
        eager = _run(copy.deepcopy(base), loss_fn, OPTIMIZERS["adam"], X, y, 5, 6, False)
        fast = _run(copy.deepcopy(base), loss_fn, OPTIMIZERS["adam"], X, y, 5, 6, True)
        assert fast[2].compiled, fast[2].reason
        np.testing.assert_allclose(fast[0], eager[0], rtol=1e-12)
        for a, b in zip(fast[1], eager[1]):
            np.testing.assert_allclose(a, b, rtol=1e-11, atol=1e-14)


@pytest.mark.parametrize(("kind", "out"), [("bce", nn.Sigmoid), ("ce", None), ("mse", None)])
def test_fit_with_compile_equals_eager_fit(kind, out):
    n_out = 1 if kind == "bce" else 3
    X, y, loss_fn, _ = problem(kind, 40, 4, n_out, np.float64)
    histories, weights = [], []
    for compiled in (False, True):
        model = mlp([4, 6, n_out], "tanh", np.float64, out)
        h = cr.fit(model, X, y, loss=loss_fn, optimizer="adam", lr=0.01, epochs=4,
                   batch_size=10, shuffle=True, seed=0, verbose=0, compile=compiled)
        histories.append(h)
        weights.append([p.data.copy() for p in model.parameters()])
    np.testing.assert_allclose(histories[1]["loss"], histories[0]["loss"], rtol=1e-12)
    for a, b in zip(weights[1], weights[0]):
        np.testing.assert_allclose(a, b, rtol=1e-11, atol=1e-14)


def test_fit_compile_falls_back_with_a_warning():
    X, y, loss_fn, _ = problem("mse", 20, 3, 1, np.float64)
    model = nn.Sequential(nn.Linear(3, 4, dtype=np.float64, rng=0), nn.Dropout(0.2, rng=0),
                          nn.Linear(4, 1, dtype=np.float64, rng=1))
    with pytest.warns(RuntimeWarning, match="training eagerly"):
        cr.fit(model, X, y, loss=loss_fn, epochs=2, batch_size=10, verbose=0, compile=True)


def test_a_smaller_last_batch_is_captured_once_not_at_every_change_of_shape(monkeypatch):
    from chainrule.training import compiled as compiled_mod

    captures = []
    real = compiled_mod.capture

    def counted(*args, **kwargs):
        captures.append(args[2].shape)
        return real(*args, **kwargs)
    monkeypatch.setattr(compiled_mod, "capture", counted)
    X, y, loss_fn, _ = problem("ce", 37, 4, 3, np.float64)
    model = mlp([4, 6, 3], "tanh", np.float64)
    opt = cr.optim.Adam(model.parameters(), lr=0.01)
    fast = cr.compile(model=model, loss_fn=loss_fn, optimizer=opt)
    eager_model = mlp([4, 6, 3], "tanh", np.float64)
    eager_opt = cr.optim.Adam(eager_model.parameters(), lr=0.01)
    for _ in range(3):  # epochs of batches of 16, 16 and 5 rows
        for start in range(0, 37, 16):
            xb, yb = cr.Tensor(X[start:start + 16]), y[start:start + 16]
            got = float(fast(xb, yb))
            eager_opt.zero_grad()
            loss = loss_fn(eager_model(xb), yb)
            loss.backward()
            eager_opt.step()
            assert got == pytest.approx(float(loss), rel=1e-12)
            assert fast.compiled
    assert sorted(captures) == [(5, 4), (16, 4)]
    for a, b in zip(model.parameters(), eager_model.parameters()):
        np.testing.assert_allclose(a.data, b.data, rtol=1e-11, atol=1e-14)
