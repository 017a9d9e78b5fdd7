"""The arrays Linear and ReLU keep between steps (their ``workspace``): training with them gives
the numbers of the plain products (the same layers with ``workspace = None``) step after step,
in float64 and float32, with gradients accumulated, layers shared, gradients of gradients and
retained gradients; an array the caller holds (an output, ``weight.grad``) is never written
over; in steady training no new array is made.  Each test runs with the engine's size limit
(arrays from 128 KiB on are kept, smaller ones made fresh: both in one network) and with
every array kept (limit 0)."""

from __future__ import annotations

import copy
import pickle

import numpy as np
import pytest

import chainrule as cr
from chainrule import nn
from chainrule.engine import scratch
from chainrule.engine.ops import elementwise, linalg

pytestmark = pytest.mark.cpu_only  # the kept arrays serve the NumPy path only

WIDE = (7, 600, 64, 3)  # at batch 60 in float64: some arrays above the size limit, some below


@pytest.fixture(autouse=True, params=["limit", "all"])
def kept_from(request, monkeypatch):
    """The size from which arrays are kept: the engine's, or 0 (every array)."""
    limit = scratch.KEPT_BYTES if request.param == "limit" else 0
    for module in (linalg, elementwise):
        monkeypatch.setattr(module, "KEPT_BYTES", limit)
    return limit


def _mlp(dtype: str, seed: int = 0, kept: bool = True, sizes=WIDE) -> nn.Sequential:
    layers: list[nn.Module] = []
    for i in range(len(sizes) - 1):
        layers.append(nn.Linear(sizes[i], sizes[i + 1], dtype=dtype, rng=seed + i))
        if i < len(sizes) - 2:
            layers.append(nn.ReLU())
    model = nn.Sequential(*layers)
    if not kept:
        for m in model:
            m.workspace = None  # the plain products: no workspace
    return model


def _steps(kept: bool, dtype: str, steps: int = 5, zero: bool = True) -> list[np.ndarray]:
    """Losses, gradients and final weights of a few SGD steps; ``zero=False`` lets the
    gradients accumulate (``zero_grad(set_to_none=False)`` every other step)."""
    rng = np.random.default_rng(0)
    model = _mlp(dtype, kept=kept)
    opt = cr.optim.SGD(model.parameters(), lr=0.1, momentum=0.5)
    loss_fn = nn.CrossEntropyLoss()
    out = []
    for i in range(steps):
        x = rng.normal(size=(60, 7)).astype(dtype)
        y = rng.integers(0, 3, size=60)
        if zero:
            opt.zero_grad()
        elif i % 2 == 0:
            opt.zero_grad(set_to_none=False)
        loss = loss_fn(model(cr.tensor(x)), y)
        loss.backward()
        out += [np.asarray(loss.data)] + [p.grad.copy() for p in model.parameters()]
        opt.step()
    return out + [p.data for p in model.parameters()]


@pytest.mark.parametrize("zero", [True, False])
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_training_with_kept_arrays_gives_the_plain_numbers(dtype, zero):
    tol = 1e-12 if dtype == "float64" else 1e-6
    for got, want in zip(_steps(True, dtype, zero=zero), _steps(False, dtype, zero=zero),
                         strict=True):
        np.testing.assert_allclose(got, want, rtol=tol, atol=tol)


def test_linear_with_a_workspace_equals_the_plain_node_and_falls_back_off_its_path():
    rng = np.random.default_rng(1)
    w = cr.tensor(rng.normal(size=(400, 60)), requires_grad=True)
    b = cr.tensor(rng.normal(size=400), requires_grad=True)
    ws = nn.workspace.Workspace()
    for shape in [(50, 60), (2, 25, 60), (60,)]:   # 2-D: the kept arrays; else the plain path
        x = cr.tensor(rng.normal(size=shape), requires_grad=True)
        seed = rng.normal(size=(*shape[:-1], 400))
        grads = []
        for workspace in (ws, None):
            for t in (x, w, b):
                t.grad = None
            out = cr.linear(x, w, b, workspace=workspace)
            out.backward(seed)
            grads.append([out.data.copy(), x.grad, w.grad, b.grad])
        for got, want in zip(*grads, strict=True):
            np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)


def test_outputs_and_gradients_the_caller_keeps_are_never_written_over():
    rng = np.random.default_rng(2)
    model = _mlp("float64", seed=3)
    lin, relu = model[0], model[1]
    x1, x2 = rng.normal(size=(2, 60, 7))
    first = lin(cr.tensor(x1))
    act = relu(first)
    kept_first, kept_act = first.data.copy(), act.data.copy()
    model(cr.tensor(x1)).sum().backward()
    grad = lin.weight.grad                      # held by the caller across the next steps
    kept_grad = grad.copy()
    for _ in range(3):
        lin.weight.grad = None
        model(cr.tensor(x2)).sum().backward()
    np.testing.assert_array_equal(first.data, kept_first)
    np.testing.assert_array_equal(act.data, kept_act)
    np.testing.assert_array_equal(grad, kept_grad)
    assert lin.weight.grad is not grad


def test_a_retained_gradient_is_not_written_over_by_the_next_step():
    rng = np.random.default_rng(4)
    model = _mlp("float64", seed=5)
    hidden = model[1](model[0](cr.tensor(rng.normal(size=(60, 7)))))
    hidden.retain_grad()
    model[3](model[2](hidden)).sum().backward()
    kept = hidden.grad.copy()
    for _ in range(2):
        model(cr.tensor(rng.normal(size=(60, 7)))).sum().backward()
    np.testing.assert_array_equal(hidden.grad, kept)


def _shared_and_second_order(kept: bool) -> list[np.ndarray]:
    """A layer used twice in one step, then a gradient-norm penalty (create_graph)."""
    rng = np.random.default_rng(6)
    lin = nn.Linear(150, 150, dtype="float64", rng=7)
    relu = nn.ReLU()
    if not kept:
        lin.workspace = relu.workspace = None
    x = cr.tensor(rng.normal(size=(120, 150)) * 0.1, requires_grad=True)
    out = []
    for _ in range(3):
        lin.zero_grad()
        x.grad = None
        lin(relu(lin(x))).sum().backward()
        out += [lin.weight.grad.copy(), lin.bias.grad.copy(), x.grad.copy()]
    (gx,) = cr.grad(lin(relu(lin(x))).sum(), [x], create_graph=True)
    lin.zero_grad()
    (gx * gx).sum().backward()
    return [*out, gx.data, lin.weight.grad]


def test_a_shared_layer_and_gradients_of_gradients_give_the_plain_numbers():
    for got, want in zip(_shared_and_second_order(True), _shared_and_second_order(False),
                         strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)


def test_steady_training_makes_no_new_arrays(kept_from):
    rng = np.random.default_rng(8)
    model = _mlp("float32", sizes=(30, 600, 600, 5))
    opt = cr.optim.SGD(model.parameters(), lr=0.05)
    loss_fn = nn.CrossEntropyLoss()
    seen = []
    for _ in range(4):
        opt.zero_grad()
        loss_fn(model(cr.tensor(rng.normal(size=(64, 30)).astype("float32"))),
                rng.integers(0, 5, size=64)).backward()
        opt.step()
        seen.append(([id(m.weight.grad) for m in model[0::2]
                      if m.weight.data.nbytes >= kept_from],
                     sum(m.workspace.nbytes() for m in model)))
    assert all(s == seen[1] for s in seen[1:])  # the same gradient arrays, the same bytes
    assert seen[1][1] > 0


@pytest.mark.parametrize("make", [lambda: nn.Linear(300, 200, rng=0), nn.ReLU])
def test_copies_and_pickles_start_with_an_empty_workspace(make):
    layer = make()
    x = np.ones((200, 300), np.float32)
    layer(x)
    for other in (copy.deepcopy(layer), pickle.loads(pickle.dumps(layer))):
        assert other.workspace is not layer.workspace and other.workspace.nbytes() == 0
        np.testing.assert_array_equal(other(x).data, layer(x).data)
