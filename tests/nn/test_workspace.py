"""The scratch arrays a conv layer keeps between calls (chainrule.nn.workspace): an array comes
back only once nothing else holds it, so outputs a caller keeps, and the saved values of a
graph not yet run backward, are never overwritten; training with the kept arrays gives the
numbers of the formulas step after step; copies and pickles start empty."""

from __future__ import annotations

import contextlib
import copy
import pickle

import numpy as np
import pytest

import chainrule as cr
from chainrule.nn import kernels
from chainrule.nn.workspace import Workspace, empty

pytestmark = pytest.mark.cpu_only  # the kept arrays serve the NumPy fast paths only
needs_numba = pytest.mark.skipif(not kernels.available(),
                                 reason="numba is not installed (pip install chainrule[fast])")


def test_an_array_comes_back_only_when_nothing_else_holds_it():
    ws = Workspace()
    a = ws.empty("cols", (3, 4), np.float32)
    assert ws.empty("cols", (3, 4), np.float32) is not a      # a is held here
    view = a[1:]
    del a
    held = ws.empty("cols", (3, 4), np.float32)                # a view keeps a too
    assert held.base is None and view.base is not held
    del view
    free = ws.empty("cols", (3, 4), np.float32)
    assert free.shape == (3, 4) and free.dtype == np.float32


def test_another_shape_or_dtype_or_slot_gets_a_new_array():
    ws = Workspace()
    first_id = id(ws.empty("a", (2, 2), np.float64))
    assert id(ws.empty("a", (2, 2), np.float64)) == first_id   # freed at once: the same one
    for slot, shape, dtype in [("a", (2, 3), np.float64), ("a", (2, 2), np.float32),
                               ("b", (2, 2), np.float64)]:
        got = ws.empty(slot, shape, dtype)
        assert got.shape == shape and got.dtype == dtype


def test_a_slot_keeps_at_most_two_arrays_and_clear_lets_them_go():
    ws = Workspace()
    held = [ws.empty("out", (1000,), np.float64) for _ in range(4)]
    assert ws.nbytes() == 2 * 8000
    ws.clear()
    assert ws.nbytes() == 0 and all(a.shape == (1000,) for a in held)


def test_without_a_workspace_every_call_makes_a_new_array():
    a = empty(None, "cols", (2,), np.float32)
    assert empty(None, "cols", (2,), np.float32) is not a


def test_copies_and_pickles_of_a_layer_start_with_an_empty_workspace():
    layer = cr.nn.Conv2d(1, 2, 3, rng=0)
    layer(np.ones((2, 1, 5, 5), np.float32))
    for other in (copy.deepcopy(layer), pickle.loads(pickle.dumps(layer))):
        assert other.workspace is not layer.workspace and other.workspace.nbytes() == 0
        np.testing.assert_array_equal(other(np.ones((2, 1, 5, 5), np.float32)).data,
                                      layer(np.ones((2, 1, 5, 5), np.float32)).data)


def _lenet_like(seed: int, dtype: str, bn: bool = False):
    return cr.nn.Sequential(
        cr.nn.Conv2d(1, 3, 3, padding=1, dtype=dtype, rng=seed),
        *([cr.nn.BatchNorm2d(3, dtype=dtype)] if bn else []), cr.nn.ReLU(),
        cr.nn.MaxPool2d(2), cr.nn.Conv2d(3, 4, 3, dtype=dtype, rng=seed + 1), cr.nn.ReLU(),
        cr.nn.MaxPool2d(2, padding=1), cr.nn.Flatten(), cr.nn.Linear(16, 5, dtype=dtype,
                                                                       rng=seed + 2))


def _train(compiled: bool, dtype: str, steps: int = 4, bn: bool = False) -> list[np.ndarray]:
    """Losses and final weights of a few SGD steps on a small conv net (with BatchNorm2d
    after its first convolution where ``bn``)."""
    rng = np.random.default_rng(0)
    model = _lenet_like(1, dtype, bn)
    opt = cr.optim.SGD(model.parameters(), lr=0.1)
    loss_fn = cr.nn.CrossEntropyLoss()
    out = []
    with contextlib.nullcontext() if compiled else kernels.disabled():
        for _ in range(steps):
            x = rng.normal(size=(6, 1, 8, 8)).astype(dtype)
            y = rng.integers(0, 5, size=6)
            opt.zero_grad()
            loss = loss_fn(model(cr.tensor(x)), y)
            loss.backward()
            opt.step()
            out.append(np.asarray(loss.data))
    return out + [p.data for p in model.parameters()]


@needs_numba
@pytest.mark.parametrize("bn", [False, True])
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_training_steps_with_kept_arrays_match_the_formulas(dtype, bn):
    tol = 1e-12 if dtype == "float64" else 2e-5
    for got, want in zip(_train(True, dtype, bn=bn), _train(False, dtype, bn=bn)):
        np.testing.assert_allclose(got, want, rtol=tol, atol=tol)


@needs_numba
def test_an_output_kept_by_the_caller_is_not_overwritten_by_the_next_call():
    model = _lenet_like(3, "float64")
    rng = np.random.default_rng(1)
    x1, x2 = rng.normal(size=(2, 4, 1, 8, 8))
    first = model[0](x1)
    kept = first.data.copy()
    pooled = model[2].relu_forward(first)
    kept_pool = pooled.data.copy()
    for _ in range(2):                      # two more calls of the same layers
        model[2].relu_forward(model[0](x2)).sum().backward()
    np.testing.assert_array_equal(first.data, kept)
    np.testing.assert_array_equal(pooled.data, kept_pool)


@needs_numba
def test_two_graphs_of_one_layer_alive_at_once_keep_their_own_saved_arrays():
    """A layer called twice before either backward (shared weights): each call's columns
    and argmax indices stay its own, so both gradients are right."""
    rng = np.random.default_rng(2)
    x1, x2 = rng.normal(size=(2, 3, 2, 7, 7))

    def grads(compiled: bool) -> list[np.ndarray]:
        conv = cr.nn.Conv2d(2, 3, 3, padding=1, dtype="float64", rng=5)
        pool = cr.nn.MaxPool2d(2)
        with contextlib.nullcontext() if compiled else kernels.disabled():
            a = pool.relu_forward(conv(cr.tensor(x1)))
            b = pool.relu_forward(conv(cr.tensor(x2)))
            (a * a).sum().backward()
            (b * 3.0).sum().backward()
        return [conv.weight.grad, conv.bias.grad]

    for got, want in zip(grads(True), grads(False)):
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)



@needs_numba
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_batch_norm_arrays_from_a_workspace_equal_new_ones(dtype):
    from chainrule.nn import kernels_norm

    kern = kernels.get()
    rng = np.random.default_rng(4)
    ws = Workspace()
    gamma, beta = rng.normal(size=(2, 3)).astype(dtype)
    for _ in range(3):  # the second and third calls get the first call's arrays back
        x = rng.normal(size=(4, 3, 5, 5)).astype(dtype)
        g = rng.normal(size=x.shape).astype(dtype)
        fresh = kernels_norm.train_arrays(kern, x, gamma, beta, 1e-5)
        kept = kernels_norm.train_arrays(kern, x, gamma, beta, 1e-5, ws)
        for a, b in zip(fresh, kept):
            np.testing.assert_array_equal(a, b)
        grads = [kernels_norm.grad_arrays(kern, g, r[1], gamma, r[2], True, w)
                 for r, w in ((fresh, None), (kept, ws))]
        for a, b in zip(*grads):
            np.testing.assert_array_equal(a, b)
        del kept, grads
    assert ws.nbytes() == 3 * x.nbytes  # xhat, out and dx, one of each
