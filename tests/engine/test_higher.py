"""Gradients of gradients: every engine operation's second derivative against finite
differences of its first (float64), and cr.grad's contract (PyTorch's torch.autograd.grad)."""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
from chainrule.engine import Primitive

RNG = np.random.default_rng(0)
X0 = RNG.normal(size=(3, 4))
W = RNG.normal(size=(4, 2))


def _hessian(f, x0):
    x = cr.tensor(x0, requires_grad=True)
    (g,) = cr.grad(f(x), x, create_graph=True)
    rows = []
    for i in range(x0.size):
        (row,) = cr.grad(g.reshape(-1)[i], x, retain_graph=True, allow_unused=True)
        rows.append(np.zeros(x0.size) if row is None else row.data.reshape(-1))
    return np.array(rows)


def _numeric_hessian(f, x0, eps=1e-5):
    def gradient(v):
        t = cr.tensor(v.reshape(x0.shape), requires_grad=True)
        (g,) = cr.grad(f(t), t)
        return g.data.reshape(-1)

    flat = x0.reshape(-1)
    cols = []
    for j in range(flat.size):
        e = np.zeros(flat.size)
        e[j] = eps
        cols.append((gradient(flat + e) - gradient(flat - e)) / (2 * eps))
    return np.array(cols).T


CASES = {
    "tanh": lambda x: (x.tanh() ** 2).sum(),
    "sigmoid": lambda x: (x.sigmoid() ** 3).sum(),
    "exp": lambda x: x.exp().sum(),
    "log": lambda x: (x * x + 1).log().sum(),
    "sqrt": lambda x: (x * x + 1).sqrt().sum(),
    "abs": lambda x: (x.abs() ** 3).sum(),
    "relu": lambda x: (x.relu() ** 2).sum(),
    "leaky_relu": lambda x: (cr.leaky_relu(x, 0.1) ** 2).sum(),
    "div": lambda x: (1 / (x * x + 1)).sum() + (x / (x * x + 2)).sum() + (x / 3.0).sum() ** 2,
    "pow": lambda x: ((x * x + 1) ** x).sum() + (x ** 3).sum(),
    "sub_neg": lambda x: ((2.0 - x) * (x - 1.0) * -x).sum(),
    "matmul": lambda x: (x @ cr.tensor(W)).tanh().sum(),
    "linear": lambda x: cr.linear(x, cr.tensor(W.T), cr.tensor(np.ones(2))).tanh().sum(),
    "sum": lambda x: (x.sum(axis=0) ** 3).sum(),
    "mean": lambda x: (x.mean(axis=1, keepdims=True) ** 3).sum(),
    "max": lambda x: (x.max(axis=1) ** 3).sum(),
    "min": lambda x: (x.min(axis=0) ** 3).sum(),
    "softmax": lambda x: (x.softmax() ** 2).sum(),
    "log_softmax": lambda x: (x.log_softmax() ** 2).sum(),
    "logsumexp": lambda x: (x.logsumexp(axis=1) ** 2).sum(),
    "reshape_transpose": lambda x: (x.reshape(4, 3).T ** 3).sum() + (x.transpose(1, 0) ** 3).sum(),
    "getitem": lambda x: (x[1:, ::2] ** 3).sum() + (x[[0, 0, 2]] ** 3).sum(),
    "concatenate": lambda x: (cr.concatenate([x, x * x], axis=-1) ** 2).sum(),
    "stack": lambda x: (cr.stack([x, x * x], axis=0) ** 2).sum(),
    "where": lambda x: cr.where(x.data > 0, x * x, x ** 3).sum(),
    "maximum": lambda x: (cr.maximum(x, x * x) ** 2).sum(),
    "clip": lambda x: (x.clip(-0.5, 0.5) ** 2).sum() + (x ** 3).sum(),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_second_derivative_matches_finite_differences(name):
    f = CASES[name]
    np.testing.assert_allclose(_hessian(f, X0), _numeric_hessian(f, X0), atol=1e-7)


def test_backward_create_graph_leaves_a_differentiable_grad():
    x = cr.tensor(3.0, requires_grad=True)
    (x ** 3).backward(create_graph=True)
    first = x.grad
    assert isinstance(first, cr.Tensor) and first.requires_grad
    x.grad = None
    first.backward()
    assert (first.item(), x.grad.item()) == (27.0, 18.0)  # 3 x^2 and 6 x at x = 3


def test_grad_accumulates_nothing_and_returns_a_tuple():
    w = cr.tensor([1.0, 2.0], requires_grad=True)
    v = cr.tensor([3.0, 4.0], requires_grad=True)
    gw, gv = cr.grad((w * v).sum(), (w, v))
    assert gw.data.tolist() == [3.0, 4.0] and gv.data.tolist() == [1.0, 2.0]
    assert w.grad is None and v.grad is None


def test_grad_of_several_outputs_with_grad_outputs():
    w = cr.tensor([1.0, 2.0], requires_grad=True)
    (g,) = cr.grad([w * 2, w * w], w, grad_outputs=[np.ones(2), np.array([1.0, 10.0])])
    assert g.data.tolist() == [2 + 2 * 1.0, 2 + 10 * 4.0]


def test_grad_of_an_interior_tensor():
    w = cr.tensor(2.0, requires_grad=True)
    h = w * 3
    (gh,) = cr.grad(h * h, h)
    assert gh.item() == 12.0  # d(h^2)/dh = 2 h, h = 6


def test_unused_input_is_named_unless_allowed():
    w = cr.tensor(1.0, requires_grad=True)
    u = cr.tensor(1.0, requires_grad=True)
    with pytest.raises(cr.GraphError, match=r"inputs\[1\] was not used.*allow_unused=True"):
        cr.grad(w * 2, (w, u))
    assert cr.grad(w * 2, (w, u), allow_unused=True)[1] is None


def test_grad_frees_the_graph_unless_retained():
    w = cr.tensor(1.0, requires_grad=True)
    y = (w * w).exp()
    cr.grad(y, w)
    with pytest.raises(cr.GraphError, match="already freed"):
        cr.grad(y, w)
    z = (w * w).exp()
    cr.grad(z, w, retain_graph=True)
    assert cr.grad(z, w)[0].item() == pytest.approx(2 * np.e)


def test_a_users_primitive_is_second_order_for_free_when_its_rule_uses_no_saved_values():
    def _cube_backward(out, g):
        (x,) = out.inputs
        return (g * 3 * x.data ** 2,)

    cube = Primitive("cube", _cube_backward)
    x = cr.tensor(2.0, requires_grad=True)
    (g,) = cr.grad(cube(x.data ** 3, (x,)), x, create_graph=True)
    (h,) = cr.grad(g, x)
    assert (g.item(), h.item()) == (12.0, 12.0)  # 3 x^2, 6 x


def test_a_users_primitive_reading_saved_values_says_it_is_first_order_only():
    def _bw(out, g):
        return (g * out.saved,)

    scale = Primitive("scale_by_input", _bw)
    x = cr.tensor(2.0, requires_grad=True)
    y = scale(x.data ** 2 / 2, (x,), saved=x.data)
    with pytest.raises(cr.GraphError, match=r"'scale_by_input' reads out.saved.*saved='constant'"):
        cr.grad(y, x, create_graph=True)


def test_a_rule_calling_numpy_without_a_graph_form_names_the_primitive():
    def _bw(out, g):
        (x,) = out.inputs
        return (np.einsum("i,i->i", g, x.data),)

    p = Primitive("einsum_square", _bw)
    x = cr.tensor([1.0, 2.0], requires_grad=True)
    y = p(x.data ** 2 / 2, (x,))
    assert cr.grad(y, x, grad_outputs=np.ones(2))[0].data.tolist() == [1.0, 2.0]
    y = p(x.data ** 2 / 2, (x,))
    with pytest.raises(cr.GraphError, match=r"numpy\.einsum"):
        cr.grad(y, x, grad_outputs=np.ones(2), create_graph=True)


def test_numpy_on_tensors_records_or_refuses():
    x = cr.tensor([1.0, -2.0], requires_grad=True)
    y = np.exp(x)
    assert isinstance(y, cr.Tensor) and y.op == "exp"
    assert np.sign(x).tolist() == [1.0, -1.0]  # no gradient: a plain array
    with pytest.raises(cr.GraphError, match=r"numpy\.cumsum"):
        np.cumsum(x)


def test_a_missing_or_misshapen_seed_is_a_runtime_error_as_in_pytorch():
    w = cr.tensor([1.0, 2.0], requires_grad=True)
    for call in (lambda: (w * 2).backward(), lambda: cr.grad(w * 2, w),
                 lambda: (w * 2).backward(np.ones(3)),
                 lambda: (w * 2).backward(create_graph=True)):
        with pytest.raises(RuntimeError) as caught:
            call()
        assert isinstance(caught.value, (cr.SeedError, cr.ShapeError, ValueError))
