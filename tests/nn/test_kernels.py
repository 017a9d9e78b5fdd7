"""The compiled loops of the conv net layers (chainrule.nn.kernels) give the numbers of the
array-API formulas they stand in for: convolution, max pooling (with and without a ReLU
folded in) and batch normalisation, forward, backward and gradients of gradients; float64 to
1e-12.  The loops also run as plain Python (slowly), which these tests use on small inputs so
that they check the loops' logic where numba is not installed."""

from __future__ import annotations

import contextlib
from types import SimpleNamespace

import numpy as np
import pytest

import chainrule as cr
from chainrule.nn import kernels, kernels_conv, kernels_norm, kernels_pool
from chainrule.nn.conv import conv2d
from chainrule.nn.normalize import batch_norm, layer_norm
from chainrule.nn.pooling import MaxPool2d, max_pool2d, relu_max_pool2d

# The loops stand in for NumPy's formulas on NumPy arrays only (other devices keep the
# formulas, which the rest of tests/nn checks there).
pytestmark = pytest.mark.cpu_only
needs_numba = pytest.mark.skipif(not kernels.available(),
                                 reason="numba is not installed (pip install chainrule[fast])")
PYTHON_LOOPS = SimpleNamespace(**{name: getattr(m, name) for m in kernels.MODULES
                                  for name in m.KERNELS})


def _tol(dtype: str) -> float:
    return 1e-12 if dtype == "float64" else 2e-5


def _run(fn, arrays, compiled: bool, seed: int = 3):
    """Output and input gradients of fn(*tensors) for a fixed random output gradient."""
    ts = [cr.tensor(a, requires_grad=True) for a in arrays]
    with contextlib.nullcontext() if compiled else kernels.disabled():
        y = fn(*ts)
        g = np.random.default_rng(seed).normal(size=y.shape).astype(y.data.dtype)
        y.backward(g)
    return [y.data] + [t.grad for t in ts]


def _same(fn, arrays, dtype):
    for got, want in zip(_run(fn, arrays, True), _run(fn, arrays, False)):
        np.testing.assert_allclose(got, want, rtol=_tol(dtype), atol=_tol(dtype))


# (N, C, H, W), (O, kh, kw), padding: the first two use one product per example (few long
# rows, LeNet's first layer), the others one product over the whole batch
CONV_CASES = [((4, 1, 12, 12), (3, 5, 5), 2), ((2, 2, 9, 7), (3, 3, 2), (1, 0)),
              ((3, 6, 8, 8), (5, 5, 5), 0), ((2, 3, 5, 6), (4, 3, 3), "same")]


@needs_numba
@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("case", CONV_CASES)
@pytest.mark.parametrize("bias", [True, False])
def test_compiled_convolution_matches_the_formulas(dtype, case, bias):
    xs, (o, kh, kw), padding = case
    rng = np.random.default_rng(0)
    arrays = [rng.normal(size=xs), rng.normal(size=(o, xs[1], kh, kw))]
    if bias:
        arrays.append(rng.normal(size=o))
    _same(lambda *t: conv2d(*t, padding=padding), [a.astype(dtype) for a in arrays], dtype)


def test_convolution_loops_as_python_match_the_formulas():
    rng = np.random.default_rng(1)
    x, w, b = rng.normal(size=(2, 2, 5, 6)), rng.normal(size=(3, 2, 3, 2)), rng.normal(size=3)
    for xs, ws, layout in [(x[:, :, :3, :3], w, True), (x[:, :1], w[:, :1, :1, :1], False)]:
        with kernels.disabled():
            ref = conv2d(cr.tensor(xs), cr.tensor(ws), cr.tensor(b), padding=1)
        g = rng.normal(size=ref.shape)
        out, cols, whole = kernels_conv.forward(PYTHON_LOOPS, xs, ws, b, (1, 1, 1, 1),
                                                ref.shape[2:])
        assert whole == layout  # one product over the whole batch, or one per example
        np.testing.assert_allclose(out, ref.data, rtol=1e-12, atol=1e-12)
        dx, dw, db = kernels_conv.backward(PYTHON_LOOPS, g, ws, cols, whole, xs.shape,
                                           (1, 1, 1, 1), True, True)
        xt, wt = cr.tensor(xs, requires_grad=True), cr.tensor(ws, requires_grad=True)
        with kernels.disabled():
            conv2d(xt, wt, cr.tensor(b), padding=1).backward(g)
        np.testing.assert_allclose(dx, xt.grad, rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(dw, wt.grad, rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(db, g.sum(axis=(0, 2, 3)), rtol=1e-12)


def _pool_input(shape, dtype, seed=2, nan=True):
    x = np.random.default_rng(seed).normal(size=shape)
    x[0, 0, 0, :3] = x[0, 0, 1, :3] = 0.5   # ties: the first in the window wins
    if nan:
        x[-1, -1, -1, -1] = np.nan           # NaN is its window's maximum
    x[0, -1] = -np.abs(x[0, -1])             # a plane with no positive value (relu cuts it)
    return x.astype(dtype)


POOL_CASES = [((2, 3, 8, 8), 2, None, 0), ((2, 2, 7, 9), 3, 2, 1),
              ((1, 2, 6, 6), (3, 2), (1, 2), (1, 1)), ((3, 1, 5, 5), 2, 1, 0)]


@needs_numba
@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("case", POOL_CASES)
@pytest.mark.parametrize("pool", [max_pool2d, relu_max_pool2d])
@pytest.mark.parametrize("nan", [True, False])  # 2x2 windows: NaN takes the general loop
def test_compiled_max_pooling_matches_the_formulas(dtype, case, pool, nan):
    shape, k, s, p = case
    x = _pool_input(shape, dtype, nan=nan)
    for got, want in zip(_run(lambda t: pool(t, k, s, p), [x], True),
                         _run(lambda t: pool(t, k, s, p), [x], False)):
        np.testing.assert_allclose(got, want, rtol=_tol(dtype), atol=_tol(dtype))


@pytest.mark.parametrize("compiled", [True, False])
def test_relu_max_pool_is_max_pool_of_relu(compiled):
    x = _pool_input((2, 3, 6, 6), "float64")
    fused = _run(lambda t: MaxPool2d(2).relu_forward(t), [x], compiled)
    apart = _run(lambda t: max_pool2d(cr.relu(t), 2), [x], compiled)
    for got, want in zip(fused, apart):
        np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("k,pad", [(3, 1), (2, 0)])  # the general loop and the 2x2 one
@pytest.mark.parametrize("nan", [True, False])
def test_pooling_loops_as_python_match_the_formulas(k, pad, nan):
    x = _pool_input((2, 2, 6, 8), "float64", nan=nan)
    for relu in (False, True):
        with kernels.disabled():
            t = cr.tensor(x, requires_grad=True)
            ref = (relu_max_pool2d if relu else max_pool2d)(t, k, 2, pad)
            g = np.random.default_rng(0).normal(size=ref.shape)
            ref.backward(g)
        geometry = ((k, k), (2, 2), (pad,) * 4)
        out, where = kernels_pool.max_pool_arrays(PYTHON_LOOPS, x, *geometry, ref.shape[2:],
                                                  relu)
        np.testing.assert_array_equal(out, ref.data)
        dx = kernels_pool.route_arrays(PYTHON_LOOPS, g, where, *geometry, x.shape)
        np.testing.assert_allclose(dx, t.grad, rtol=1e-12, atol=1e-12)


def _bn(x, w=None, b=None):
    c = x.shape[1]
    return batch_norm(x, np.zeros(c, x.data.dtype), np.ones(c, x.data.dtype), w, b,
                      training=True)


@needs_numba
@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("shape", [(4, 3, 5, 6), (8, 2, 7)])
@pytest.mark.parametrize("affine", [True, False])
def test_compiled_batch_norm_matches_the_formulas(dtype, shape, affine):
    rng = np.random.default_rng(4)
    arrays = [rng.normal(size=shape) * 3 + 2]
    if affine:
        arrays += [rng.normal(size=shape[1]), rng.normal(size=shape[1])]
    _same(_bn, [a.astype(dtype) for a in arrays], dtype)


@needs_numba
def test_compiled_batch_norm_updates_the_running_statistics_alike():
    x = np.random.default_rng(5).normal(size=(6, 3, 4, 4)) * 2 + 1
    stats = []
    for ctx in (contextlib.nullcontext(), kernels.disabled()):
        rm, rv = np.zeros(3), np.ones(3)
        with ctx:
            batch_norm(cr.tensor(x), rm, rv, training=True, momentum=0.3)
        stats.append((rm, rv))
    for got, want in zip(*stats):
        np.testing.assert_allclose(got, want, rtol=1e-12)


def test_batch_norm_loops_as_python_match_the_formulas():
    rng = np.random.default_rng(6)
    x, w, b = rng.normal(size=(3, 2, 4)) + 1, rng.normal(size=2), rng.normal(size=2)
    g = rng.normal(size=x.shape)
    ts = [cr.tensor(a, requires_grad=True) for a in (x, w, b)]
    with kernels.disabled():
        ref = _bn(*ts)
        ref.backward(g)
    out, xhat, inv_std, _, _ = kernels_norm.train_arrays(PYTHON_LOOPS, x, w, b, 1e-5)
    np.testing.assert_allclose(out, ref.data, rtol=1e-12, atol=1e-12)
    dx, dw, db = kernels_norm.grad_arrays(PYTHON_LOOPS, g, xhat, w, inv_std, True)
    for got, t in zip((dx, dw, db), ts):
        np.testing.assert_allclose(got, t.grad, rtol=1e-12, atol=1e-12)


def _second_order(fn, arrays, compiled):
    """Gradients of S = sum_i (v_i . g_i + |g_i|^2), g_i the first gradients (create_graph)."""
    rng = np.random.default_rng(7)
    vs = [rng.normal(size=a.shape) for a in arrays]
    with contextlib.nullcontext() if compiled else kernels.disabled():
        ts = [cr.tensor(a, requires_grad=True) for a in arrays]
        y = fn(*ts)
        gs = cr.grad((y * y * y).sum() / 3 + y.sum(), ts, create_graph=True)
        s = sum(((cr.tensor(v) * g).sum() + (g * g).sum() for v, g in zip(vs, gs)),
                cr.tensor(0.0))
        hs = cr.grad(s, ts, allow_unused=True)
    return [g.data for g in gs] + [np.zeros(a.shape) if h is None else h.data
                                   for a, h in zip(arrays, hs)]


@needs_numba
@pytest.mark.parametrize("name", ["conv", "pool", "relu_pool", "bn", "ln"])
def test_gradients_of_gradients_match_with_the_compiled_forward(name):
    rng = np.random.default_rng(8)
    x = rng.normal(size=(3, 2, 6, 6))
    fn, arrays = {
        "conv": (lambda *t: conv2d(*t, padding=1), [x, rng.normal(size=(4, 2, 3, 3)),
                                                   rng.normal(size=4)]),
        "pool": (lambda t: max_pool2d(t, 2), [x]),
        "relu_pool": (lambda t: relu_max_pool2d(t, 3, 2, 1), [x]),
        "bn": (_bn, [x, rng.normal(size=2), rng.normal(size=2)]),
        "ln": (lambda *t: _ln(*t, k=2), [x, rng.normal(size=(6, 6)), rng.normal(size=(6, 6))]),
    }[name]
    for got, want in zip(_second_order(fn, arrays, True), _second_order(fn, arrays, False)):
        np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-10)


def _ln(x, w=None, b=None, k=1):
    return layer_norm(x, x.shape[x.ndim - k:], w, b)


@needs_numba
@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("shape,k", [((5, 19), 1), ((3, 4, 16), 1), ((2, 3, 4, 5), 2)])
@pytest.mark.parametrize("affine", [True, False])
def test_compiled_layer_norm_matches_the_formulas(dtype, shape, k, affine):
    rng = np.random.default_rng(9)
    arrays = [rng.normal(size=shape) * 3 + 2]
    if affine:
        arrays += [rng.normal(size=shape[len(shape) - k:]) for _ in range(2)]
    _same(lambda *t: _ln(*t, k=k), [a.astype(dtype) for a in arrays], dtype)


def test_layer_norm_loops_as_python_match_the_formulas():
    rng = np.random.default_rng(10)
    x, w, b = rng.normal(size=(4, 11)) + 1, rng.normal(size=11), rng.normal(size=11)
    g = rng.normal(size=x.shape)
    ts = [cr.tensor(a, requires_grad=True) for a in (x, w, b)]
    with kernels.disabled():
        ref = _ln(*ts)
        ref.backward(g)
    out, xhat, inv_std = kernels_norm.layer_norm_arrays(PYTHON_LOOPS, x, 11, w, b, 1e-5)
    np.testing.assert_allclose(out, ref.data, rtol=1e-12, atol=1e-12)
    dx, dw, db = kernels_norm.layer_norm_grad_arrays(PYTHON_LOOPS, g, xhat, 11, w, inv_std,
                                                     True)
    for got, t in zip((dx, dw, db), ts):
        np.testing.assert_allclose(got, t.grad, rtol=1e-12, atol=1e-12)


def test_the_cache_folder_changes_with_any_compiled_source(tmp_path):
    # numba checks a cached kernel against its own file only; the folder's digest covers
    # the files whose functions are compiled into it too (a helper edited alone).
    (tmp_path / "sub").mkdir()
    helper = tmp_path / "sub" / "helper.py"
    helper.write_text("import numba\n\ndef f(x):\n    return x + 1\n")
    (tmp_path / "plain.py").write_text("x = 1\n")
    before = kernels.sources_digest(tmp_path)
    (tmp_path / "plain.py").write_text("x = 2\n")  # no compiled code: same folder
    assert kernels.sources_digest(tmp_path) == before
    helper.write_text("import numba\n\ndef f(x):\n    return x + 2\n")
    assert kernels.sources_digest(tmp_path) != before
