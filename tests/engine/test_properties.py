"""Property tests: for random broadcast shapes and random compositions of operations, the
backward pass agrees with finite differences and every gradient has its tensor's shape."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

import chainrule as cr

# Smooth operations only (no kinks), so central differences are accurate everywhere; and none
# grows faster than linearly, so four in a row neither overflow nor bend too sharply for a
# central difference (x**2 four times is x**16; exp four times overflows).
UNARY = [
    ("tanh", lambda t: t.tanh()),
    ("sigmoid", lambda t: t.sigmoid()),
    ("exp_bounded", lambda t: t.tanh().exp()),
    ("x_tanh_x", lambda t: t * t.tanh()),
    ("softplus", lambda t: cr.logsumexp(cr.stack([t, t * 0.0]), axis=0)),
    ("log_cosh", lambda t: (t.exp() + (-t).exp()).log()),
    ("sqrt_pos", lambda t: (t * t + 1.0).sqrt()),
    ("softmax_last", lambda t: cr.softmax(t, axis=-1)),
]
BINARY = [
    ("add", lambda a, b: a + b),
    ("sub", lambda a, b: a - b),
    ("mul", lambda a, b: a * b),
    ("div_pos", lambda a, b: a / (b * b + 1.0)),
]


@st.composite
def broadcast_pair(draw: st.DrawFn) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """Two shapes that broadcast together: drop leading axes and set some sizes to 1."""
    full = draw(st.lists(st.integers(1, 4), min_size=0, max_size=3))
    def variant() -> tuple[int, ...]:
        keep = draw(st.integers(0, len(full)))
        dims = full[len(full) - keep:]
        return tuple(1 if draw(st.booleans()) else d for d in dims)
    return variant(), variant()


@settings(max_examples=60, deadline=None, derandomize=True)
@given(shapes=broadcast_pair(), ops=st.lists(st.integers(0, 100), min_size=1, max_size=4),
       binary=st.integers(0, len(BINARY) - 1), seed=st.integers(0, 2**16))
def test_random_compositions_match_finite_differences(shapes, ops, binary, seed) -> None:
    rng = np.random.default_rng(seed)
    a0, b0 = rng.normal(size=shapes[0]), rng.normal(size=shapes[1])

    def f(a: cr.Tensor, b: cr.Tensor) -> cr.Tensor:
        out = BINARY[binary][1](a, b)
        for k in ops:
            out = UNARY[k % len(UNARY)][1](out)
        return out

    assert cr.gradcheck(f, (a0, b0), atol=1e-5, rtol=1e-3)
    a = cr.tensor(a0, requires_grad=True)
    b = cr.tensor(b0, requires_grad=True)
    out = f(a, b)
    out.backward(np.ones(out.shape))
    assert a.grad.shape == a.shape and b.grad.shape == b.shape


@settings(max_examples=40, deadline=None, derandomize=True)
@given(batch=st.lists(st.integers(1, 3), max_size=2), n=st.integers(1, 4), k=st.integers(1, 4),
       m=st.integers(1, 4), seed=st.integers(0, 2**16))
def test_matmul_and_reductions_on_random_shapes(batch, n, k, m, seed) -> None:
    rng = np.random.default_rng(seed)
    a0 = rng.normal(size=(*batch, n, k))
    b0 = rng.normal(size=(k, m))
    axis = int(rng.integers(0, len(batch) + 2))
    assert cr.gradcheck(lambda a, b: ((a @ b).tanh().sum(axis=axis) ** 2).mean(), (a0, b0))
