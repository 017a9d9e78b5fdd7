"""The tensor and the backward pass: seeds' worked examples, graph rules, dtypes, stability."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import chainrule as cr
from chainrule.nn import functional as F


def test_seed_example_squared_error() -> None:
    # The seeds' computation graph: J = 1/2 (w x + b - y)^2 with w=2, b=8, x=-2, y=2.
    # Forward: c = wx = -4, a = c + b = 4, d = a - y = 2, J = d^2 / 2 = 2.
    # Backward: dJ/dd = d = 2, dJ/da = 2, dJ/db = 2, dJ/dc = 2, dJ/dw = dJ/dc * x = -4.
    w = cr.tensor(2.0, requires_grad=True)
    b = cr.tensor(8.0, requires_grad=True)
    J = 0.5 * (w * -2.0 + b - 2.0) ** 2
    J.backward()
    assert J.item() == 2.0
    assert w.grad == -4.0
    assert b.grad == 2.0


def test_seed_example_relu_network() -> None:
    # The seeds' 1-1-1 network: a1 = relu(w1 x + b1), a2 = w2 a1 + b2, J = 1/2 (a2 - y)^2
    # with x=1, y=5, w1=2, b1=0, w2=3, b2=1: a1 = 2, a2 = 7, J = 2.
    # dJ/da2 = 2; dJ/dw2 = 2 * a1 = 4; dJ/db2 = 2; dJ/da1 = 2 * w2 = 6;
    # dJ/dz1 = 6 (z1 = 2 > 0); dJ/dw1 = 6 * x = 6; dJ/db1 = 6.
    w1, b1, w2, b2 = (cr.tensor(v, requires_grad=True) for v in (2.0, 0.0, 3.0, 1.0))
    a1 = (w1 * 1.0 + b1).relu()
    a2 = w2 * a1 + b2
    J = 0.5 * (a2 - 5.0) ** 2
    J.backward()
    assert (a1.item(), a2.item(), J.item()) == (2.0, 7.0, 2.0)
    assert (w1.grad, b1.grad, w2.grad, b2.grad) == (6.0, 6.0, 4.0, 2.0)


def test_one_hidden_layer_matches_seed_formulas(rng: np.random.Generator) -> None:
    # Columns layout: X (n_x, m), W1 (n_h, n_x), b1 (n_h, 1); tanh hidden, sigmoid output, BCE.
    n_x, n_h, m = 3, 5, 7
    X = rng.normal(size=(n_x, m))
    Y = (rng.random((1, m)) > 0.5).astype(float)
    P = {"W1": rng.normal(size=(n_h, n_x)), "b1": rng.normal(size=(n_h, 1)),
         "W2": rng.normal(size=(1, n_h)), "b2": rng.normal(size=(1, 1))}
    Z1 = P["W1"] @ X + P["b1"]
    A1 = np.tanh(Z1)
    A2 = 1 / (1 + np.exp(-(P["W2"] @ A1 + P["b2"])))
    dZ2 = A2 - Y
    expected = {"W2": dZ2 @ A1.T / m, "b2": dZ2.sum(axis=1, keepdims=True) / m}
    dZ1 = (P["W2"].T @ dZ2) * (1 - A1**2)
    expected |= {"W1": dZ1 @ X.T / m, "b1": dZ1.sum(axis=1, keepdims=True) / m}

    t = {k: cr.tensor(v, requires_grad=True) for k, v in P.items()}
    a2 = (t["W2"] @ (t["W1"] @ X + t["b1"]).tanh() + t["b2"]).sigmoid()
    cost = F.binary_cross_entropy(a2, Y)
    cost.backward()
    cost_np = -np.mean(Y * np.log(A2) + (1 - Y) * np.log(1 - A2))
    assert abs(cost.item() - cost_np) < 1e-12
    for k in P:
        np.testing.assert_allclose(t[k].grad, expected[k], rtol=1e-10, atol=1e-12)


def test_leaf_gradients_accumulate_across_backward_calls() -> None:
    w = cr.tensor([1.0, 2.0], requires_grad=True)
    (w * 3).sum().backward()
    (w * 3).sum().backward()
    np.testing.assert_array_equal(w.grad, [6.0, 6.0])


def test_value_used_twice_gets_both_contributions() -> None:
    x = cr.tensor(3.0, requires_grad=True)
    y = x * x + x  # dy/dx = 2x + 1 = 7
    y.backward()
    assert x.grad == 7.0


def test_shared_gradient_is_not_aliased_between_leaves() -> None:
    a = cr.tensor([1.0, 2.0], requires_grad=True)
    b = cr.tensor([3.0, 4.0], requires_grad=True)
    (a + b).sum().backward()
    a.grad += 10  # must not change b.grad
    np.testing.assert_array_equal(b.grad, [1.0, 1.0])
    assert a.grad.flags.writeable and b.grad.flags.writeable


def test_graph_is_freed_and_second_backward_says_so() -> None:
    x = cr.tensor(2.0, requires_grad=True)
    y = (x * x).exp()
    y.backward()
    with pytest.raises(cr.GraphError, match="retain_graph=True"):
        y.backward()


def test_retain_graph_allows_second_backward() -> None:
    x = cr.tensor(2.0, requires_grad=True)
    y = x * x
    y.backward(retain_graph=True)
    y.backward()
    assert x.grad == 8.0


def test_intermediate_gradients_are_freed_unless_retained() -> None:
    x = cr.tensor(2.0, requires_grad=True)
    h = x * 3
    k = (x * 2).retain_grad()
    (h * k).backward()
    assert h.grad is None
    assert k.grad == 6.0


def test_nonscalar_backward_needs_grad() -> None:
    x = cr.tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(cr.ShapeError, match="needs grad="):
        (x * 2).backward()
    with pytest.raises(cr.ShapeError, match="shape"):
        (x * 2).backward(np.ones(3))
    (x * 2).backward(np.array([1.0, 10.0]))
    np.testing.assert_array_equal(x.grad, [2.0, 20.0])


def test_backward_without_requires_grad_is_an_error() -> None:
    with pytest.raises(cr.GraphError, match="requires_grad"):
        (cr.tensor(1.0) * 2).backward()


def test_deep_chain_of_100000_ops_backpropagates() -> None:
    x = cr.tensor(1.0, requires_grad=True)
    y = x
    for _ in range(100_000):
        y = y * 1.0 + 0.0
    y.backward()
    assert x.grad == 1.0


def test_no_grad_builds_no_graph() -> None:
    w = cr.tensor([1.0], requires_grad=True)
    with cr.no_grad():
        y = w * 2
        assert not cr.is_grad_enabled()
    assert cr.is_grad_enabled()
    assert not y.requires_grad and y.is_leaf


def test_comparisons_return_boolean_arrays() -> None:
    t = cr.tensor([1.0, 2.0, 3.0])
    for result in (t > 1.5, t <= 2, t == cr.tensor([1.0, 0.0, 3.0]), t != 2.0):
        assert isinstance(result, np.ndarray) and result.dtype == bool


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_dtype_is_preserved_through_ops_and_gradients(dtype: type) -> None:
    rng = np.random.default_rng(0)
    a = cr.tensor(rng.normal(size=(3, 4)), requires_grad=True, dtype=dtype)
    b = cr.tensor(rng.normal(size=(4,)), requires_grad=True, dtype=dtype)
    out = ((a * 2.5 + 1) @ b.reshape(4, 1)).tanh().sigmoid() ** 2 / 3.0
    out = cr.log_softmax(out.T, axis=1).sum() + cr.maximum(a, 0.5).mean() + np.float64(2) * a[0, 0]
    assert out.dtype == dtype
    out.backward()
    assert a.grad.dtype == dtype and b.grad.dtype == dtype


def test_mixed_float_dtypes_raise_naming_the_operation() -> None:
    a = cr.tensor([1.0], dtype=np.float32)
    b = cr.tensor([1.0], dtype=np.float64)
    with pytest.raises(cr.DTypeError, match="mul: cannot combine float32 and float64"):
        a * b
    with pytest.raises(cr.DTypeError, match="add"):
        a + np.array([1.0])
    # Integer arrays adopt the tensor's float dtype.
    assert (a * np.array([2])).dtype == np.float32


def test_requires_grad_needs_floats() -> None:
    with pytest.raises(cr.DTypeError, match="floating-point"):
        cr.tensor([1, 2], requires_grad=True)


@pytest.mark.parametrize("value", [1e4, -1e4])
def test_extreme_inputs_stay_finite_without_warnings(value: float) -> None:
    x = cr.tensor([value, 0.0, -value], requires_grad=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        outs = [x.sigmoid().sum(), cr.log_softmax(x).sum(), cr.logsumexp(x), cr.softmax(x)[0],
                F.binary_cross_entropy_with_logits(x, np.array([0.0, 1.0, 1.0])),
                F.cross_entropy(x.reshape(1, 3), np.array([2])),
                F.binary_cross_entropy(x.sigmoid(), np.array([0.0, 1.0, 1.0]))]
        for out in outs:
            x.grad = None
            out.backward()
            assert np.isfinite(out.data).all()
            assert np.isfinite(x.grad).all()


def test_sigmoid_is_exact_in_both_tails() -> None:
    x = cr.tensor([-40.0, 40.0])
    s = x.sigmoid().data
    np.testing.assert_allclose(s, [np.exp(-40) / (1 + np.exp(-40)), 1 / (1 + np.exp(-40))],
                               rtol=1e-15)


def test_tensor_basics() -> None:
    data = np.arange(6.0).reshape(2, 3)
    t = cr.tensor(data)
    data[0, 0] = 100  # cr.tensor copied
    assert t.data[0, 0] == 0
    assert (t.shape, t.ndim, t.dtype, len(t)) == ((2, 3), 2, np.float64, 2)
    assert t.numpy() is t.data
    assert cr.tensor(3.5).item() == 3.5
    d = cr.tensor([1.0], requires_grad=True).detach()
    assert d.is_leaf and not d.requires_grad
    assert "requires_grad=True" in repr(cr.tensor([1.0], requires_grad=True))
    assert "op=mul" in repr(cr.tensor([1.0], requires_grad=True) * cr.tensor([2.0]))
    assert "float32" in repr(cr.tensor([1.0], dtype="float32"))
    with pytest.raises(cr.ShapeError, match="one element"):
        t.item()


def test_grad_may_be_assigned() -> None:
    w = cr.tensor([1.0, 2.0], requires_grad=True)
    w.grad = np.array([0.5, 0.5])
    (w * 2).sum().backward()
    np.testing.assert_array_equal(w.grad, [2.5, 2.5])


def test_numpy_on_the_left_works() -> None:
    w = cr.tensor([[1.0, 2.0]], requires_grad=True)
    y = np.array([[3.0], [4.0]]) @ w + np.ones((2, 2)) - 1.0 * w
    y.sum().backward()  # d/dw: column sums of the (2, 1) matrix (3 + 4), minus 1 per row (2)
    np.testing.assert_array_equal(w.grad, [[5.0, 5.0]])


def test_iteration_and_indexing_errors() -> None:
    t = cr.tensor([[1.0, 2.0], [3.0, 4.0]])
    rows = list(t)
    assert len(rows) == 2 and rows[1].data.tolist() == [3.0, 4.0]
    with pytest.raises(cr.ShapeError, match="index"):
        t[5]
    with pytest.raises(cr.ShapeError, match="align"):
        t @ cr.tensor([1.0, 2.0, 3.0])
