"""``cr.grad`` and ``backward(create_graph=True)`` against ``torch.autograd.grad`` on the
corners a user porting PyTorch code meets: repeated inputs, seeds of another dtype or that
require gradients, gradients with respect to intermediate tensors (which must neither run
nor free the graph below them), accumulation of differentiable ``.grad``, and which results
require gradients."""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
from chainrule.engine import Primitive
from conftest import needs_torch

X0 = np.array([1.0, 2.0, 3.0])


def _torch():
    import torch

    return torch


def _t(a, dtype=np.float64, requires_grad=False):
    torch = _torch()
    return torch.tensor(np.asarray(a, dtype=dtype), requires_grad=requires_grad)


def _close(ours, theirs):
    got = ours.data if isinstance(ours, cr.Tensor) else np.asarray(ours)
    np.testing.assert_allclose(got, theirs.detach().numpy(), rtol=1e-12, atol=0)
    assert got.dtype == theirs.detach().numpy().dtype


@needs_torch
def test_the_same_input_twice_gets_its_gradient_at_both_places():
    x = cr.tensor(X0, requires_grad=True)
    tx = _t(X0, requires_grad=True)
    ours = cr.grad((x * x * x).sum(), [x, x])
    theirs = _torch().autograd.grad((tx * tx * tx).sum(), [tx, tx])
    assert len(ours) == 2
    for a, b in zip(ours, theirs):
        _close(a, b)
    # also with create_graph, and differentiable again
    x = cr.tensor(X0, requires_grad=True)
    tx = _t(X0, requires_grad=True)
    g1, g2 = cr.grad((x ** 3).sum(), (x, x), create_graph=True)
    t1, t2 = _torch().autograd.grad((tx ** 3).sum(), (tx, tx), create_graph=True)
    _close(cr.grad((g1 * g2).sum(), x)[0],
           _torch().autograd.grad((t1 * t2).sum(), tx)[0])


@needs_torch
@pytest.mark.parametrize("create_graph", [False, True])
def test_a_tensor_seed_of_another_dtype_takes_the_outputs_dtype(create_graph):
    x = cr.tensor(X0.astype(np.float32), requires_grad=True)
    tx = _t(X0, np.float32, requires_grad=True)
    (g,) = cr.grad(x ** 2, x, grad_outputs=cr.tensor([1.0, 2.0, 3.0]),
                   create_graph=create_graph)
    (tg,) = _torch().autograd.grad(tx ** 2, tx, grad_outputs=_t([1.0, 2.0, 3.0]),
                                   create_graph=create_graph)
    _close(g, tg)
    assert g.requires_grad == tg.requires_grad


@needs_torch
def test_a_seed_that_requires_gradients_is_differentiated_through_with_create_graph():
    x, v = cr.tensor(X0, requires_grad=True), cr.tensor([1.0, -1.0, 2.0], requires_grad=True)
    tx, tv = _t(X0, requires_grad=True), _t([1.0, -1.0, 2.0], requires_grad=True)
    (g,) = cr.grad(x.tanh(), x, grad_outputs=v, create_graph=True)
    (tg,) = _torch().autograd.grad(tx.tanh(), tx, grad_outputs=tv, create_graph=True)
    _close(g, tg)
    for a, b in zip(cr.grad((g * g).sum(), (x, v)),
                    _torch().autograd.grad((tg * tg).sum(), (tx, tv))):
        _close(a, b)
    # without create_graph the seed is a constant and the result does not require gradients
    (g,) = cr.grad(x.tanh(), x, grad_outputs=v)
    assert not g.requires_grad


@needs_torch
def test_grad_with_respect_to_an_intermediate_leaves_the_graph_below_it_alone():
    x = cr.tensor(X0, requires_grad=True)
    tx = _t(X0, requires_grad=True)
    y, ty = x.exp(), tx.exp()
    _close(cr.grad((y * y).sum(), y)[0], _torch().autograd.grad((ty * ty).sum(), ty)[0])
    # PyTorch ran no rule below y, so nothing there was freed: backward through it works
    y.sum().backward()
    ty.sum().backward()
    _close(x.grad, tx.grad)


def test_a_first_order_only_rule_below_the_wanted_tensor_is_not_run():
    def _bw(out, g):
        return (g * out.saved,)

    scale = Primitive("scale_by_input", _bw)
    x = cr.tensor(2.0, requires_grad=True)
    y = scale(x.data ** 2 / 2, (x,), saved=x.data)
    (g,) = cr.grad(y ** 3, y, create_graph=True)   # d(y^3)/dy = 3 y^2, y = 2
    assert g.item() == 12.0 and g.requires_grad
    (h,) = cr.grad(g, y)
    assert h.item() == 12.0                        # 6 y


def test_grad_on_a_freed_graph_still_says_it_was_freed():
    x = cr.tensor(X0, requires_grad=True)
    y = x.exp().sum()
    cr.grad(y, x)
    with pytest.raises(cr.GraphError, match="already freed"):
        cr.grad(y, x)
    z = x.exp()
    w = (z * z).sum()
    w.backward()
    with pytest.raises(cr.GraphError, match="already freed"):
        cr.grad(w, z)


@needs_torch
def test_grad_outputs_with_none_for_one_element_outputs():
    x = cr.tensor(X0, requires_grad=True)
    tx = _t(X0, requires_grad=True)
    ours = cr.grad([x * x, (x ** 3).sum()], [x], grad_outputs=[cr.tensor(np.ones(3)), None])
    theirs = _torch().autograd.grad([tx * tx, (tx ** 3).sum()], [tx],
                                    grad_outputs=[_t(np.ones(3)), None])
    _close(ours[0], theirs[0])


@needs_torch
def test_backward_with_create_graph_twice_accumulates_a_differentiable_sum():
    x = cr.tensor(X0, requires_grad=True)
    tx = _t(X0, requires_grad=True)
    (x ** 3).sum().backward()                        # a plain pass first: .grad an array
    (tx ** 3).sum().backward()
    for _ in range(2):
        (x ** 3).sum().backward(create_graph=True)
        (tx ** 3).sum().backward(create_graph=True)
    g, tg = x.grad, tx.grad
    _close(g, tg)
    assert g.requires_grad and tg.requires_grad
    x.grad, tx.grad = None, None
    (g * g).sum().backward()
    (tg * tg).sum().backward()
    _close(x.grad, tx.grad)


@needs_torch
def test_which_results_require_gradients():
    torch = _torch()
    for f, tf in [(lambda v: (v * 2).sum(), lambda v: (v * 2).sum()),
                  (lambda v: v.sum(), lambda v: v.sum()),
                  (lambda v: (v ** 3).sum(), lambda v: (v ** 3).sum())]:
        x, tx = cr.tensor(X0, requires_grad=True), _t(X0, requires_grad=True)
        (g,) = cr.grad(f(x), x, create_graph=True)
        (tg,) = torch.autograd.grad(tf(tx), tx, create_graph=True)
        assert g.requires_grad == tg.requires_grad
        x, tx = cr.tensor(X0, requires_grad=True), _t(X0, requires_grad=True)
        f(x).backward(create_graph=True)
        tf(tx).backward(create_graph=True)
        assert x.grad.requires_grad == tx.grad.requires_grad
        (g,) = cr.grad(f(x), x)
        assert not g.requires_grad
    # create_graph under no_grad still records the backward pass, as in PyTorch
    x, tx = cr.tensor(X0, requires_grad=True), _t(X0, requires_grad=True)
    y, ty = (x ** 3).sum(), (tx ** 3).sum()
    with cr.no_grad():
        (g,) = cr.grad(y, x, create_graph=True)
    with torch.no_grad():
        (tg,) = torch.autograd.grad(ty, tx, create_graph=True)
    assert g.requires_grad and tg.requires_grad


@needs_torch
def test_float32_gradients_of_gradients_stay_float32():
    x = cr.tensor(X0.astype(np.float32), requires_grad=True)
    tx = _t(X0, np.float32, requires_grad=True)
    (g,) = cr.grad((x ** 3).sum(), x, create_graph=True)
    (tg,) = _torch().autograd.grad((tx ** 3).sum(), tx, create_graph=True)
    _close(g, tg)
    _close(cr.grad(g.sum(), x)[0], _torch().autograd.grad(tg.sum(), tx)[0])


def test_grad_of_a_non_scalar_output_without_grad_outputs_is_a_clear_error():
    # PyTorch: RuntimeError "grad can be implicitly created only for scalar outputs"
    x = cr.tensor(X0, requires_grad=True)
    with pytest.raises(cr.ShapeError, match=r"shape \(3,\) needs its gradient given"):
        cr.grad(x * 2, x)


@needs_torch
@pytest.mark.parametrize("create_graph", [False, True])
def test_an_output_listed_twice_or_below_another_output_sends_both_seeds(create_graph):
    x = cr.tensor(X0, requires_grad=True)
    tx = _t(X0, requires_grad=True)
    y, ty = (x ** 3).sum(), (tx ** 3).sum()
    _close(cr.grad([y, y], x, retain_graph=True, create_graph=create_graph)[0],
           _torch().autograd.grad([ty, ty], tx, retain_graph=True, create_graph=create_graph)[0])
    z, tz = x.tanh(), tx.tanh()
    w, tw = (z * z).sum(), (tz * tz).sum()
    ours = cr.grad([w, z, w], [x, z], grad_outputs=[None, cr.tensor(X0), None],
                   create_graph=create_graph)
    theirs = _torch().autograd.grad([tw, tz, tw], [tx, tz], grad_outputs=[None, _t(X0), None],
                                    create_graph=create_graph)
    for a, b in zip(ours, theirs):
        _close(a, b)
        assert a.requires_grad == b.requires_grad


@needs_torch
def test_create_graph_gives_each_leaf_a_grad_of_its_own():
    # PyTorch clones into .grad: neither the seed nor another leaf's gradient is shared
    x, w = cr.tensor(X0, requires_grad=True), cr.tensor(X0, requires_grad=True)
    v = cr.tensor([1.0, 2.0, 3.0], requires_grad=True)
    tx, tw = _t(X0, requires_grad=True), _t(X0, requires_grad=True)
    tv = _t([1.0, 2.0, 3.0], requires_grad=True)
    (x + w).backward(v, create_graph=True)
    (tx + tw).backward(tv, create_graph=True)
    assert tx.grad.data_ptr() not in (tw.grad.data_ptr(), tv.data_ptr())
    assert x.grad is not w.grad and x.grad is not v
    assert not np.shares_memory(x.grad.data, w.grad.data)
    assert not np.shares_memory(x.grad.data, v.data)
    _close(cr.grad((x.grad * w.grad).sum(), v)[0],
           _torch().autograd.grad((tx.grad * tw.grad).sum(), tv)[0])
    leaf = cr.tensor(X0, requires_grad=True)
    leaf.backward(v, create_graph=True)   # backward on a leaf: d(leaf)/d(leaf) = the seed
    assert leaf.grad is not v and not np.shares_memory(leaf.grad.data, v.data)
    assert leaf.grad.requires_grad


@needs_torch
@pytest.mark.parametrize("create_graph", [False, True])
def test_materialize_grads_and_a_dict_of_inputs_as_pytorch_2(create_graph):
    x, w = cr.tensor(X0, requires_grad=True), cr.tensor(2.0, requires_grad=True)
    tx, tw = _t(X0, requires_grad=True), _t(2.0, requires_grad=True)
    ours = cr.grad((x ** 3).sum(), {"x": x, "w": w}, create_graph=create_graph,
                   materialize_grads=True)
    theirs = _torch().autograd.grad((tx ** 3).sum(), {"x": tx, "w": tw},
                                    create_graph=create_graph, materialize_grads=True)
    assert list(ours) == list(theirs) == ["x", "w"]
    for key in ours:
        _close(ours[key], theirs[key])
        assert ours[key].requires_grad == theirs[key].requires_grad


@needs_torch
@pytest.mark.filterwarnings("ignore:Using backward:UserWarning")  # torch's memory-cycle note
def test_backward_into_chosen_inputs_matches_pytorch():
    import torch

    a0, b0 = np.array([1.0, 2.0]), np.array([3.0, -1.0])
    for create_graph in (False, True):
        a, b = cr.tensor(a0, requires_grad=True), cr.tensor(b0, requires_grad=True)
        ta = torch.tensor(a0, requires_grad=True)
        tb = torch.tensor(b0, requires_grad=True)
        h, th = a * b, ta * tb
        (h * h).sum().backward(inputs=[a, h], create_graph=create_graph)
        (th * th).sum().backward(inputs=[ta, th], create_graph=create_graph)
        assert b.grad is None and tb.grad is None
        ga = a.grad.data if isinstance(a.grad, cr.Tensor) else a.grad
        gh = h.grad.data if isinstance(h.grad, cr.Tensor) else h.grad
        np.testing.assert_allclose(ga, ta.grad.detach().numpy(), rtol=0, atol=1e-12)
        np.testing.assert_allclose(gh, th.grad.detach().numpy(), rtol=0, atol=1e-12)
    with pytest.raises(cr.GraphError, match="no tensors"):
        (a * 2).sum().backward(inputs=[])
