"""Initialisers draw straight into the tensor's array, with the numbers a seed always gave."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest

import chainrule as cr
from chainrule.nn import init

pytestmark = pytest.mark.cpu_only   # reads the NumPy array the draw wrote into


def _zeros(shape, dtype):
    return cr.tensor(np.zeros(shape, dtype=dtype))


@pytest.mark.parametrize("fill, reference", [
    (lambda t, g: init.normal_(t, 0.3, 0.7, g), lambda g, s: g.normal(0.3, 0.7, s)),
    (lambda t, g: init.uniform_(t, -0.2, 0.5, g), lambda g, s: g.uniform(-0.2, 0.5, s)),
])
def test_float64_draws_are_numpys_normal_and_uniform(fill, reference):
    # float64 weights of a given seed are the numbers they always were.
    t = _zeros((50, 40), "float64")
    fill(t, np.random.default_rng(3))
    np.testing.assert_array_equal(t.data, reference(np.random.default_rng(3), (50, 40)))


@pytest.mark.parametrize("dtype", ["float32", "float16"])
@pytest.mark.parametrize("fill, reference", [
    (lambda t, g: init.normal_(t, 0.3, 0.7, g), lambda g, s: g.normal(0.3, 0.7, s)),
    (lambda t, g: init.uniform_(t, -0.2, 0.5, g), lambda g, s: g.uniform(-0.2, 0.5, s)),
])
def test_other_dtypes_get_the_float64_draw_cast_down(fill, reference, dtype, monkeypatch):
    # Drawn in blocks (three here, the last one short) and cast: a seed gives the weights it
    # always gave, and the next draw from the generator is the same too.
    monkeypatch.setattr(init, "_BLOCK", 400)
    t, g, ref = _zeros((30, 33), dtype), np.random.default_rng(5), np.random.default_rng(5)
    fill(t, g)
    assert t.data.dtype == dtype
    np.testing.assert_array_equal(t.data, reference(ref, (30, 33)).astype(dtype))
    assert g.random() == ref.random()


def test_uniform_stays_in_its_bounds_and_normal_has_its_scale():
    w = init.uniform_(_zeros((200, 300), "float32"), -0.1, 0.1, rng=0).data
    assert w.min() >= -0.1 and w.max() <= 0.1
    v = init.normal_(_zeros((200, 300), "float32"), 1.0, 0.5, rng=0).data
    assert abs(v.mean() - 1.0) < 0.01 and abs(v.std() - 0.5) < 0.01


def test_building_a_layer_costs_about_its_weights():
    # A float64 draw then a cast held 2.7x the weights at the peak.
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        layer = cr.nn.Linear(1000, 1000, init="kaiming_normal", rng=0)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    size = layer.weight.data.nbytes + layer.bias.data.nbytes
    assert peak < 1.2 * size


def test_a_non_contiguous_array_is_filled_through_a_copy():
    base = np.zeros((6, 8), dtype=np.float32)
    t = cr.Tensor(base[:, ::2])
    t.data = base[:, ::2]
    init.uniform_(t, 1.0, 2.0, rng=0)
    assert (base[:, ::2] >= 1.0).all() and (base[:, 1::2] == 0).all()
