"""Every differentiable operation: value and gradient against PyTorch (float64) and against
central finite differences (gradcheck), including pairs of broadcast shapes."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

import chainrule as cr
from conftest import HAS_TORCH, max_rel_err

if HAS_TORCH:
    import torch


def _positive(rng, shape):
    return rng.uniform(0.5, 2.0, size=shape)


def _normal(rng, shape):
    return rng.normal(size=shape)


def _distinct(rng, shape):
    # Well separated values so max/min/relu/abs/clip are never evaluated at a kink.
    n = int(np.prod(shape))
    vals = (rng.permutation(n) - n / 2 + 0.5) * 0.37
    return vals.reshape(shape)


# name: (chainrule function, torch function, input shapes, sampler)
UNARY = {
    "neg": (lambda a: -a, lambda a: -a),
    "exp": (cr.exp, torch.exp if HAS_TORCH else None),
    "tanh": (cr.tanh, torch.tanh if HAS_TORCH else None),
    "sigmoid": (cr.sigmoid, torch.sigmoid if HAS_TORCH else None),
    "relu": (cr.relu, torch.relu if HAS_TORCH else None),
    "leaky_relu": (lambda a: cr.leaky_relu(a, 0.1),
                   (lambda a: torch.nn.functional.leaky_relu(a, 0.1)) if HAS_TORCH else None),
    "abs": (cr.abs, torch.abs if HAS_TORCH else None),
    "clip": (lambda a: cr.clip(a, -0.5, 0.7), lambda a: torch.clamp(a, -0.5, 0.7)),
    "softmax": (lambda a: cr.softmax(a, axis=-1), lambda a: torch.softmax(a, dim=-1)),
    "softmax0": (lambda a: cr.softmax(a, axis=0), lambda a: torch.softmax(a, dim=0)),
    "log_softmax": (lambda a: cr.log_softmax(a, axis=1), lambda a: torch.log_softmax(a, dim=1)),
    "logsumexp": (lambda a: cr.logsumexp(a, axis=1), lambda a: torch.logsumexp(a, dim=1)),
    "logsumexp_all": (lambda a: cr.logsumexp(a), lambda a: torch.logsumexp(a, dim=(0, 1))),
    "sum": (lambda a: a.sum(), lambda a: a.sum()),
    "sum_axis": (lambda a: a.sum(axis=0), lambda a: a.sum(dim=0)),
    "sum_keep": (lambda a: a.sum(axis=1, keepdims=True), lambda a: a.sum(dim=1, keepdim=True)),
    "mean": (lambda a: a.mean(), lambda a: a.mean()),
    "mean_axis": (lambda a: a.mean(axis=-1), lambda a: a.mean(dim=-1)),
    "max": (lambda a: a.max(), lambda a: torch.amax(a)),
    "max_axis": (lambda a: a.max(axis=1, keepdims=True), lambda a: torch.amax(a, 1, True)),
    "min_axis": (lambda a: a.min(axis=0), lambda a: torch.amin(a, 0)),
    "pow2": (lambda a: a**2, lambda a: a**2),
    "pow3": (lambda a: a**3, lambda a: a**3),
    "rsub": (lambda a: 1.5 - a, lambda a: 1.5 - a),
    "scale": (lambda a: 2.5 * a / 4.0 + 1.0, lambda a: 2.5 * a / 4.0 + 1.0),
    "reshape": (lambda a: (a.reshape(-1) * cr.tensor(np.arange(12.0))).reshape(4, 3),
                lambda a: (a.reshape(-1) * torch.arange(12.0, dtype=torch.float64)).reshape(4, 3)),
    "transpose": (lambda a: a.T * cr.tensor(np.arange(12.0).reshape(4, 3)),
                  lambda a: a.T * torch.arange(12.0, dtype=torch.float64).reshape(4, 3)),
    "slice": (lambda a: a[1:, ::2], lambda a: a[1:, ::2]),
    "int_index": (lambda a: a[[0, 2, 0], [1, 1, 1]], lambda a: a[[0, 2, 0], [1, 1, 1]]),
    "row_index": (lambda a: a[np.array([2, 0, 2])], lambda a: a[torch.tensor([2, 0, 2])]),
    "mask": (lambda a: a[a.data > 0], lambda a: a[a > 0]),
}
POSITIVE = {
    "log": (cr.log, torch.log if HAS_TORCH else None),
    "sqrt": (cr.sqrt, torch.sqrt if HAS_TORCH else None),
    "pow_half": (lambda a: a**0.5 + a**-1.5, lambda a: a**0.5 + a**-1.5),
    "rdiv": (lambda a: 3.0 / a, lambda a: 3.0 / a),
    "rpow": (lambda a: 2.0**a, lambda a: 2.0**a),
}
BROADCAST_SHAPES = [((3, 4), (3, 4)), ((3, 4), (4,)), ((3, 1), (1, 4)), ((2, 3, 4), (3, 1)),
                    ((), (2, 3)), ((5, 1, 3), (4, 1))]
BINARY = {
    "add": (lambda a, b: a + b, lambda a, b: a + b),
    "sub": (lambda a, b: a - b, lambda a, b: a - b),
    "mul": (lambda a, b: a * b, lambda a, b: a * b),
    "div": (lambda a, b: a / b, lambda a, b: a / b),
    "maximum": (cr.maximum, torch.maximum if HAS_TORCH else None),
    "minimum": (cr.minimum, torch.minimum if HAS_TORCH else None),
    "where": (lambda a, b: cr.where(a.data > 0.1, a, b),
              lambda a, b: torch.where(a > 0.1, a, b)),
}
MATMUL_SHAPES = [((3, 4), (4, 5)), ((4,), (4, 5)), ((3, 4), (4,)), ((4,), (4,)),
                 ((2, 3, 4), (4, 5)), ((2, 3, 4), (2, 4, 5)), ((3, 4), (2, 4, 5)),
                 ((2, 1, 3, 4), (5, 4, 2))]


def _compare(cr_fn: Callable, torch_fn: Callable | None, arrays: list[np.ndarray]) -> None:
    """Value and gradient of sum(f(inputs) * v) agree with PyTorch and finite differences."""
    v_rng = np.random.default_rng(7)
    leaves = [cr.tensor(a, requires_grad=True) for a in arrays]
    out = cr_fn(*leaves)
    v = v_rng.normal(size=out.shape)
    (out * v).sum().backward()
    if HAS_TORCH and torch_fn is not None:
        tl = [torch.tensor(a, requires_grad=True) for a in arrays]
        tout = torch_fn(*tl)
        (tout * torch.tensor(v)).sum().backward()
        assert max_rel_err(out.data, tout.detach().numpy()) < 1e-12
        for leaf, t in zip(leaves, tl):
            assert leaf.grad is not None
            assert leaf.grad.shape == leaf.shape
            assert max_rel_err(leaf.grad, t.grad.numpy()) < 1e-10
    assert cr.gradcheck(cr_fn, arrays)


@pytest.mark.parametrize("name", sorted(UNARY))
def test_unary_ops(name: str) -> None:
    cr_fn, torch_fn = UNARY[name]
    _compare(cr_fn, torch_fn, [_distinct(np.random.default_rng(0), (3, 4))])


@pytest.mark.parametrize("name", sorted(POSITIVE))
def test_positive_domain_ops(name: str) -> None:
    cr_fn, torch_fn = POSITIVE[name]
    _compare(cr_fn, torch_fn, [_positive(np.random.default_rng(0), (3, 4))])


@pytest.mark.parametrize("shapes", BROADCAST_SHAPES, ids=str)
@pytest.mark.parametrize("name", sorted(BINARY))
def test_binary_ops_with_broadcasting(name: str, shapes: tuple) -> None:
    cr_fn, torch_fn = BINARY[name]
    rng = np.random.default_rng(1)
    a = _distinct(rng, shapes[0])
    b = _distinct(rng, shapes[1]) + 0.05  # keep maximum/minimum away from ties
    if name == "div":
        b = np.sign(b) * (np.abs(b) + 0.5)
    _compare(cr_fn, torch_fn, [a, b])


@pytest.mark.parametrize("shapes", BROADCAST_SHAPES[:3], ids=str)
def test_pow_with_tensor_exponent(shapes: tuple) -> None:
    rng = np.random.default_rng(2)
    _compare(lambda a, b: a**b, lambda a, b: a**b,
             [_positive(rng, shapes[0]), _normal(rng, shapes[1])])


@pytest.mark.parametrize("shapes", MATMUL_SHAPES, ids=str)
def test_matmul(shapes: tuple) -> None:
    rng = np.random.default_rng(3)
    _compare(lambda a, b: a @ b, lambda a, b: a @ b,
             [_normal(rng, shapes[0]), _normal(rng, shapes[1])])


def test_linear_fused_matches_composition() -> None:
    rng = np.random.default_rng(4)
    _compare(cr.linear, torch.nn.functional.linear if HAS_TORCH else None,
             [_normal(rng, (5, 3)), _normal(rng, (4, 3)), _normal(rng, (4,))])
    _compare(cr.linear, torch.nn.functional.linear if HAS_TORCH else None,
             [_normal(rng, (2, 5, 3)), _normal(rng, (4, 3))])


@pytest.mark.parametrize("axis", [0, 1, -1])
def test_concatenate_and_stack(axis: int) -> None:
    rng = np.random.default_rng(5)
    a, b = _normal(rng, (2, 3)), _normal(rng, (2, 3))
    _compare(lambda x, y: cr.concatenate([x, y * 2], axis=axis),
             lambda x, y: torch.cat([x, y * 2], dim=axis), [a, b])
    _compare(lambda x, y: cr.stack([x, y, x], axis=axis),
             lambda x, y: torch.stack([x, y, x], dim=axis), [a, b])


def test_transpose_with_axes_and_batched_reshape() -> None:
    rng = np.random.default_rng(6)
    _compare(lambda a: a.transpose(2, 0, 1).reshape(4, 6),
             lambda a: a.permute(2, 0, 1).reshape(4, 6), [_normal(rng, (2, 3, 4))])


def test_max_splits_gradient_between_ties() -> None:
    x = cr.tensor([[1.0, 3.0, 3.0], [2.0, 0.0, 2.0]], requires_grad=True)
    x.max(axis=1).sum().backward()
    np.testing.assert_array_equal(x.grad, [[0, 0.5, 0.5], [0.5, 0, 0.5]])


def test_maximum_splits_gradient_at_ties() -> None:
    a = cr.tensor([1.0, 2.0], requires_grad=True)
    b = cr.tensor([1.0, 0.0], requires_grad=True)
    cr.maximum(a, b).sum().backward()
    np.testing.assert_array_equal(a.grad, [0.5, 1.0])
    np.testing.assert_array_equal(b.grad, [0.5, 0.0])


def test_ops_cover_every_listed_function() -> None:
    listed = ["exp", "log", "sqrt", "abs", "tanh", "sigmoid", "relu", "leaky_relu", "softmax",
              "log_softmax", "logsumexp", "maximum", "minimum", "where", "clip", "concatenate",
              "stack"]
    for name in listed:
        assert callable(getattr(cr, name)), name


def test_relu_backward_is_the_gradient_times_the_mask_exactly():
    # NumPy's fast path (g times the boolean mask) and the standard one (g times the mask cast
    # to g's dtype) give these numbers, signed zeros and NaN included.
    rng = np.random.default_rng(0)
    xv = rng.standard_normal((64, 33)).astype(np.float32)
    g = rng.standard_normal((64, 33)).astype(np.float32)
    g[0, :5] = [np.nan, -0.0, np.inf, -np.inf, 1.0]
    xv[0, :5] = 1.0
    x = cr.tensor(xv, requires_grad=True)
    cr.relu(x).backward(g)  # g itself flows back (a sum of inf and -inf would warn)
    got = np.asarray(x.grad)
    want = g * (xv > 0).astype(np.float32)
    assert got.dtype == np.float32
    np.testing.assert_array_equal(got, want)
    assert (np.signbit(got) == np.signbit(want)).all()


@pytest.mark.parametrize("shape", [(5, 3, 7), (2, 3, 4, 7), (4, 1, 7)])
def test_linear_of_nd_inputs_equals_linear_row_by_row(shape):
    # N-D inputs run as one (N*L, in) product: the values and all three gradients are those of
    # the 2-D rows.
    rng = np.random.default_rng(1)
    xv = rng.standard_normal(shape)
    wv, bv = rng.standard_normal((6, 7)), rng.standard_normal(6)
    gv = rng.standard_normal((*shape[:-1], 6))
    got, want = [], []
    for x_of, g_of, into in ((lambda: xv, lambda: gv, got),
                             (lambda: xv.reshape(-1, 7), lambda: gv.reshape(-1, 6), want)):
        x, w, b = (cr.tensor(a, requires_grad=True) for a in (x_of(), wv, bv))
        out = cr.linear(x, w, b)
        (out * cr.tensor(g_of())).sum().backward()
        into += [np.asarray(out.data).reshape(-1, 6), np.asarray(x.grad).reshape(-1, 7),
                 np.asarray(w.grad), np.asarray(b.grad)]
    assert got[0].shape == want[0].shape
    for a, b_ in zip(got, want):
        np.testing.assert_allclose(a, b_, rtol=1e-12, atol=1e-12)
