"""The step kernel's own exp, expm1, tanh and log1p (training/vmath.py): within a few units in
the last place of the exact values, in float64 and in float32, over the ranges the kernel
calls them on."""

import numpy as np
import pytest

from chainrule.training import kernel

pytestmark = [pytest.mark.cpu_only,
              pytest.mark.skipif(kernel.kernels() is None, reason="needs numba")]

RANGES = {"exp": (np.exp, -87.0, 87.0), "expm1": (np.expm1, -20.0, 0.0),
          "tanh": (np.tanh, -12.0, 12.0), "log1p": (np.log1p, 0.0, 1.0)}


@pytest.fixture(scope="module")
def apply():
    import numba

    from chainrule.training import vmath

    @numba.njit
    def run(x, which):
        out = np.empty_like(x)
        for i in range(x.size):
            v = x[i]
            if which == 0:
                out[i] = vmath.exp(v)
            elif which == 1:
                out[i] = vmath.expm1(v)
            elif which == 2:
                out[i] = vmath.tanh(v)
            else:
                out[i] = vmath.log1p(v)
        return out
    return run


@pytest.mark.parametrize("dtype,most", [(np.float32, 3.0), (np.float64, 4.0)])
@pytest.mark.parametrize("name", list(RANGES))
def test_within_a_few_ulp_of_the_exact_value(apply, name, dtype, most):
    exact, lo, hi = RANGES[name]
    rng = np.random.default_rng(0)
    x = np.concatenate([rng.uniform(lo, hi, 100_000), np.linspace(lo, hi, 4001),
                        [0.0, 1e-8, 1e-30]]).astype(dtype)
    got = apply(x, list(RANGES).index(name))
    assert got.dtype == dtype
    want = exact(x.astype(np.float64))
    ulp = np.spacing(np.abs(want).astype(dtype)).astype(np.float64)
    assert np.max(np.abs(got.astype(np.float64) - want) / ulp) <= most


def test_exp_of_float32_underflows_to_zero_as_numpy_does(apply):
    x = np.array([-87.5, -100.0, -1e30], np.float32)
    np.testing.assert_array_equal(apply(x, 0), np.zeros(3, np.float32))
