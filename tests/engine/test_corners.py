"""Engine corners where PyTorch, HIPS autograd and tinygrad agree, checked against them.

Cases re-expressed from tinygrad's test/test_ops.py (transpose/permute, pow at zero), HIPS
autograd's tests/test_numpy.py (indexing with repeats, 0-d reductions) and PyTorch's own
semantics (division by a Python zero, float16)."""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr


def _torch():
    return pytest.importorskip("torch")


def _compare(fn_cr, fn_torch, *arrays, tol=1e-12):
    t = _torch()
    xs = [cr.tensor(a, requires_grad=True) for a in arrays]
    ts = [t.tensor(a, requires_grad=True) for a in arrays]
    out, tout = fn_cr(*xs), fn_torch(*ts)
    np.testing.assert_allclose(out.data, tout.detach().numpy(), rtol=tol, atol=tol)
    seed = np.random.default_rng(1).normal(size=out.shape)
    out.backward(seed)
    tout.backward(t.tensor(seed))
    for x, tx in zip(xs, ts):
        np.testing.assert_allclose(x.grad, tx.grad.numpy(), rtol=tol, atol=tol)


@pytest.mark.parametrize(("shape", "axes"), [
    ((2, 2, 2), (0, -1, 1)), ((3, 4, 5, 6), (-2, -1, 1, 0)), ((2, 3, 4), (-1, -3, -2)),
    ((2, 3), (-1, 0))])
def test_transpose_with_negative_axes_matches_torch(shape, axes):
    x = np.random.default_rng(0).normal(size=shape)
    _compare(lambda a: a.transpose(axes), lambda a: a.permute(*axes), x)


def test_transpose_refuses_a_non_permutation():
    with pytest.raises(cr.ShapeError, match="permutation"):
        cr.tensor(np.ones((2, 3)), requires_grad=True).transpose(0, 0)


@pytest.mark.parametrize("index", [(slice(None), (0, 0)), ((0, 0),), ([0, 0, 1],),
                                   (slice(None), [[0, 0], [1, 1]]), ((1, 1), (0, 0))])
def test_repeated_indices_accumulate(index):
    x = np.arange(6.0).reshape(2, 3)
    t = cr.tensor(x, requires_grad=True)
    t[index].sum().backward()
    expected = np.zeros_like(x)
    np.add.at(expected, index, 1.0)
    np.testing.assert_array_equal(t.grad, expected)


@pytest.mark.parametrize("reduce", ["sum", "max", "min", "mean", "logsumexp"])
@pytest.mark.parametrize("axis", [0, -1, (0,)])
def test_zero_dim_tensor_reduced_over_axis_zero_is_itself(reduce, axis):
    x = cr.tensor(2.5, requires_grad=True)
    fn = getattr(cr, reduce) if reduce == "logsumexp" else getattr(x, reduce)
    out = fn(x, axis=axis) if reduce == "logsumexp" else fn(axis=axis)
    assert out.shape == () and out.item() == pytest.approx(2.5)
    out.backward()
    assert x.grad.item() == 1.0


def test_axis_out_of_range_is_a_shape_error():
    x = cr.tensor(np.ones((2, 3)), requires_grad=True)
    for call in (lambda: x.sum(axis=2), lambda: x.max(axis=-3), lambda: cr.softmax(x, 5),
                 lambda: x.mean(axis=(0, 0))):
        with pytest.raises(cr.ShapeError, match="out of range"):
            call()


def test_pow_zero_exponent_at_zero_has_zero_gradient():
    t = _torch()
    for fn in (lambda a: a ** 0, lambda a: a ** 0.0):
        x = cr.tensor([0.0, 2.0], requires_grad=True)
        fn(x).sum().backward()
        tx = t.tensor([0.0, 2.0], requires_grad=True, dtype=t.float64)
        fn(tx).sum().backward()
        np.testing.assert_array_equal(x.grad, tx.grad.numpy())
    # the tensor-exponent form
    _compare(lambda a, b: a ** b, lambda a, b: a ** b, np.array([0.0, 2.0]), np.array([0.0, 0.0]))


def test_zero_base_with_tensor_exponent_follows_torch():
    t = _torch()
    e = np.array([-1.5, 0.0, 2.0])
    x = cr.tensor(e, requires_grad=True)
    (0.0 ** x).sum().backward()
    tx = t.tensor(e, requires_grad=True)
    (0.0 ** tx).sum().backward()
    np.testing.assert_array_equal(x.grad, tx.grad.numpy())  # -inf, 0, 0


def test_division_by_a_python_zero_gives_inf_like_torch():
    t = _torch()
    x = cr.tensor([1.0, 2.0], requires_grad=True)
    y = x / 0.0
    tx = t.tensor([1.0, 2.0], requires_grad=True, dtype=t.float64)
    ty = tx / 0.0
    np.testing.assert_array_equal(y.data, ty.detach().numpy())
    y.sum().backward()
    ty.sum().backward()
    np.testing.assert_array_equal(x.grad, tx.grad.numpy())


def test_float16_cannot_require_gradients():
    with pytest.raises(cr.DTypeError, match="float32"):
        cr.tensor([1.0], dtype="float16", requires_grad=True)
    with pytest.raises(cr.DTypeError, match="float32"):
        cr.tensor([1.0], dtype="float16").requires_grad_()
    # without gradients, float16 sigmoid is still right in the tail (it was stuck at 1.67e-5)
    z = cr.sigmoid(cr.tensor([-12.0, -15.0], dtype="float16"))
    np.testing.assert_allclose(z.data.astype(float), 1 / (1 + np.exp([12.0, 15.0])), rtol=0.05)


def test_broadcast_mismatch_names_the_op_and_both_shapes():
    a = cr.tensor(np.ones((2, 3)), requires_grad=True)
    b = cr.tensor(np.ones((4,)), requires_grad=True)
    for op, fn in [("add", lambda: a + b), ("mul", lambda: a * b), ("sub", lambda: a - b),
                   ("div", lambda: a / b), ("maximum", lambda: cr.maximum(a, b))]:
        with pytest.raises(cr.ShapeError, match=rf"{op}: shapes \(2, 3\) and \(4,\)"):
            fn()


def test_ragged_lists_are_refused_clearly():
    with pytest.raises(cr.DTypeError, match="rectangular"):
        cr.tensor([[1.0, 2.0], [3.0]])
