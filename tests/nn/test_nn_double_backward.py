"""Gradients of gradients through every nn.functional operation, against PyTorch in float64
(``torch.autograd.grad(..., create_graph=True)`` then a second grad) and, for a few, against
finite differences of the first gradient.

Each check takes a scalar L of the op's output (nonlinear in it, so the second derivative has
work to do), its gradients g_i with respect to every input (data and weights) with
``create_graph=True``, then S = sum_i (v_i . g_i + |g_i|^2) for fixed random v_i and the
gradients of S: Hessian-vector products plus the gradient of the gradients' size.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

import chainrule as cr
from chainrule.nn import functional as F
from chainrule.nn.conv import Conv2d, conv2d
from chainrule.nn.layers import Dropout, Dropout2d, Flatten, Linear
from chainrule.nn.normalization import batch_norm, layer_norm
from chainrule.nn.pooling import adaptive_avg_pool2d, avg_pool2d, max_pool2d
from conftest import HAS_TORCH, max_rel_err, needs_torch

if HAS_TORCH:
    import torch
    import torch.nn.functional as TF

TOL = 1e-10


def _second_order(fn: Callable, arrays: list[np.ndarray], lib: str, seed: int = 7
                  ) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """(first gradients, gradients of S) of L = fn(*inputs) in chainrule or PyTorch."""
    rng = np.random.default_rng(seed)
    vs = [rng.normal(size=a.shape) for a in arrays]
    if lib == "torch":
        ts = [torch.tensor(a, requires_grad=True) for a in arrays]
        gs = torch.autograd.grad(fn(*ts), ts, create_graph=True)
        s = sum((torch.tensor(v) * g).sum() + (g * g).sum() for v, g in zip(vs, gs))
        hs = torch.autograd.grad(s, ts, allow_unused=True)
        return ([g.detach().numpy() for g in gs],
                [np.zeros(a.shape) if h is None else h.numpy() for a, h in zip(arrays, hs)])
    ts = [cr.tensor(a, requires_grad=True) for a in arrays]
    gs = cr.grad(fn(*ts), ts, create_graph=True)
    s = sum(((cr.tensor(v) * g).sum() + (g * g).sum() for v, g in zip(vs, gs)), cr.tensor(0.0))
    hs = cr.grad(s, ts, allow_unused=True)
    return ([g.data for g in gs],
            [np.zeros(a.shape) if h is None else h.data for a, h in zip(arrays, hs)])


def _cubic(y):
    """A scalar of an op's output whose second derivative is not zero: sum(y^3)/3 + sum(y)."""
    return (y * y * y).sum() / 3 + y.sum()


def _against_torch(ours: Callable, theirs: Callable, arrays: list[np.ndarray],
                   tol: float = TOL) -> float:
    g1, h1 = _second_order(ours, arrays, "chainrule")
    g2, h2 = _second_order(theirs, arrays, "torch")
    worst = 0.0
    for i, (a, b) in enumerate(zip(g1 + h1, g2 + h2)):
        err = max_rel_err(a, b)
        order = "first" if i < len(g1) else "second"
        assert err < tol, f"{order}-order gradient of input {i % len(g1)}: {err:.2e}"
        worst = max(worst, err)
    return worst


# -- convolution ------------------------------------------------------------------------------
# (N, C, H, W), (O, kh, kw), stride, padding, dilation, groups
CONV_CASES = [
    ((2, 3, 7, 7), (4, 3, 3), 1, 0, 1, 1),
    ((1, 3, 8, 6), (2, 3, 2), 2, 1, 1, 1),
    ((2, 4, 9, 9), (6, 3, 3), (2, 1), (1, 2), 1, 2),   # groups, per-axis stride and padding
    ((2, 2, 10, 9), (2, 3, 3), 1, 2, 2, 1),            # dilation
    ((2, 4, 6, 6), (4, 1, 1), 1, 0, 1, 4),             # depthwise 1x1
    ((2, 2, 7, 8), (3, 4, 3), 1, "same", (2, 1), 1),   # 'same' with odd total padding
]


@needs_torch
@pytest.mark.parametrize("case", CONV_CASES)
@pytest.mark.parametrize("bias", [True, False])
def test_conv2d_second_order_matches_torch(case, bias):
    xs, (o, kh, kw), stride, padding, dilation, groups = case
    rng = np.random.default_rng(0)
    arrays = [rng.normal(size=xs), rng.normal(size=(o, xs[1] // groups, kh, kw))]
    if bias:
        arrays.append(rng.normal(size=o))
    geometry = dict(stride=stride, padding=padding, dilation=dilation, groups=groups)
    _against_torch(lambda *t: _cubic(conv2d(*t, **geometry)),
                   lambda *t: _cubic(TF.conv2d(*t, **geometry)), arrays)


@needs_torch
def test_a_conv_layers_hessian_vector_product_matches_torch():
    # H v of a conv layer's output: f(x, W, b) = sum(tanh(conv(x, W, b))^2), all three at once
    rng = np.random.default_rng(1)
    x, w, b = rng.normal(size=(2, 2, 6, 6)), rng.normal(size=(3, 2, 3, 3)), rng.normal(size=3)
    v = [rng.normal(size=a.shape) for a in (x, w, b)]

    def ours(*t):
        return (conv2d(*t, padding=1, stride=2).tanh() ** 2).sum()

    ts = [cr.tensor(a, requires_grad=True) for a in (x, w, b)]
    gs = cr.grad(ours(*ts), ts, create_graph=True)
    hv = cr.grad(sum(((g * vi).sum() for g, vi in zip(gs, v)), cr.tensor(0.0)), ts)

    def theirs(*t):
        return (TF.conv2d(*t, padding=1, stride=2).tanh() ** 2).sum()

    _, expected = torch.autograd.functional.hvp(
        theirs, tuple(torch.tensor(a) for a in (x, w, b)), tuple(torch.tensor(a) for a in v))
    for got, want in zip(hv, expected):
        assert max_rel_err(got.data, want.numpy()) < TOL


# -- pooling ----------------------------------------------------------------------------------
POOLS = [
    (max_pool2d, "max_pool2d", (2,)),
    (max_pool2d, "max_pool2d", (3, 2, 1)),      # overlapping windows, padding
    (avg_pool2d, "avg_pool2d", (2,)),
    (avg_pool2d, "avg_pool2d", (3, 2, 1)),
    (adaptive_avg_pool2d, "adaptive_avg_pool2d", (1,)),
    (adaptive_avg_pool2d, "adaptive_avg_pool2d", ((2, 3),)),
]


@needs_torch
@pytest.mark.parametrize(("ours", "name", "args"), POOLS)
def test_pooling_second_order_matches_torch(ours, name, args):
    # x * x before the pooling: its second derivative reaches the input through the pool's
    # gradient (the routing, or the even spread), and with it the pool's adjoint
    x = np.random.default_rng(2).normal(size=(2, 3, 6, 6))
    theirs = getattr(TF, name)
    _against_torch(lambda t: _cubic(ours(t * t, *args)),
                   lambda t: _cubic(theirs(t * t, *args)), [x])


def test_max_pooling_has_derivatives_of_every_order():
    # The third derivative of sum(maxpool(x)^4) is 24 * maxpool(x) at each window's maximum
    x0 = np.random.default_rng(3).normal(size=(1, 2, 4, 4))
    x = cr.tensor(x0, requires_grad=True)
    (g,) = cr.grad((max_pool2d(x, 2) ** 4).sum(), x, create_graph=True)
    (h,) = cr.grad(g.sum(), x, create_graph=True)
    (k,) = cr.grad(h.sum(), x)
    m = max_pool2d(cr.tensor(x0), 2).data
    winners = np.kron(m, np.ones((2, 2))) == x0
    np.testing.assert_allclose(k.data, np.where(winners, 24 * x0, 0.0), rtol=1e-12)


# -- normalisation ----------------------------------------------------------------------------
@needs_torch
@pytest.mark.parametrize("shape", [(5, 3), (4, 3, 5), (3, 3, 2, 3)])
@pytest.mark.parametrize("affine", [True, False])
def test_batch_norm_in_training_second_order_matches_torch(shape, affine):
    rng = np.random.default_rng(4)
    arrays = [rng.normal(size=shape) * 2 + 1]
    if affine:
        arrays += [rng.normal(size=shape[1]), rng.normal(size=shape[1])]
    _against_torch(lambda *t: _cubic(batch_norm(t[0], None, None, *t[1:], training=True)),
                   lambda *t: _cubic(TF.batch_norm(t[0], None, None, *t[1:], training=True)),
                   arrays)


@needs_torch
def test_batch_norm_in_evaluation_second_order_matches_torch():
    rng = np.random.default_rng(5)
    mean, var = rng.normal(size=3), rng.uniform(0.5, 2.0, size=3)
    arrays = [rng.normal(size=(4, 3, 2, 2)), rng.normal(size=3), rng.normal(size=3)]
    _against_torch(
        lambda x, w, b: _cubic(batch_norm(x, mean.copy(), var.copy(), w, b, training=False)),
        lambda x, w, b: _cubic(TF.batch_norm(x, torch.tensor(mean), torch.tensor(var), w, b)),
        arrays)


@needs_torch
@pytest.mark.parametrize(("shape", "normalized"), [((4, 6), (6,)), ((3, 2, 4), (2, 4))])
@pytest.mark.parametrize("affine", [True, False])
def test_layer_norm_second_order_matches_torch(shape, normalized, affine):
    rng = np.random.default_rng(6)
    arrays = [rng.normal(size=shape)]
    if affine:
        arrays += [rng.normal(size=normalized), rng.normal(size=normalized)]
    _against_torch(lambda *t: _cubic(layer_norm(t[0], normalized, *t[1:])),
                   lambda *t: _cubic(TF.layer_norm(t[0], normalized, *t[1:])), arrays)


# -- softmax, dropout -------------------------------------------------------------------------
@needs_torch
@pytest.mark.parametrize("name", ["softmax", "log_softmax"])
@pytest.mark.parametrize("axis", [-1, 0])
def test_softmax_family_second_order_matches_torch(name, axis):
    x = np.random.default_rng(7).normal(size=(4, 5))
    _against_torch(lambda t: _cubic(getattr(cr, name)(t, axis=axis)),
                   lambda t: _cubic(getattr(torch, name)(t, dim=axis)), [x])


@needs_torch
@pytest.mark.parametrize("layer", [Dropout, Dropout2d])
@pytest.mark.parametrize("training", [True, False])
def test_dropout_second_order_matches_torch(layer, training):
    # In training the mask is a constant of the step: the same mask on the PyTorch side
    x = np.random.default_rng(8).normal(size=(4, 3, 2, 2))
    drop = layer(0.4, rng=0).train(training)
    scale = layer(0.4, rng=0).train(training)(cr.tensor(np.ones(x.shape))).data
    _against_torch(lambda t: _cubic(drop(t * t)),
                   lambda t: _cubic(t * t * torch.tensor(scale)), [x])


# -- losses -----------------------------------------------------------------------------------
def _torch_reduce(terms, reduction, weight, per_row):
    """PyTorch's element-wise loss reduced as chainrule does, with per-example weights."""
    if weight is not None:
        w = torch.tensor(weight).reshape(-1, *([1] * (terms.dim() - 1)))
        terms = terms * w
        if reduction == "mean":
            return terms.sum() / (w.sum() * (1 if per_row else terms[0].numel()))
    if reduction == "none":
        return terms
    return terms.sum() if reduction == "sum" else terms.mean()


def _loss_cases():
    rng = np.random.default_rng(9)
    y_reg, y_bin = rng.normal(size=(6, 2)), (rng.random((6, 2)) > 0.5).astype(float)
    labels, soft = rng.integers(0, 4, size=6), rng.dirichlet(np.ones(4), size=6)
    return {
        "mse": (lambda z, r, w: F.mse_loss(z, y_reg, r, w),
                lambda z, r, w: _torch_reduce(TF.mse_loss(z, torch.tensor(y_reg),
                                                          reduction="none"), r, w, False), 2),
        "bce_with_logits": (
            lambda z, r, w: F.binary_cross_entropy_with_logits(z, y_bin, r, w),
            lambda z, r, w: _torch_reduce(TF.binary_cross_entropy_with_logits(
                z, torch.tensor(y_bin), reduction="none"), r, w, False), 2),
        # chainrule works from the sigmoid's input, as PyTorch's loss with logits does (its
        # sigmoid then BCE differs by rounding in 1 / (p (1 - p)), up to 2e-10 here)
        "bce_after_sigmoid": (
            lambda z, r, w: F.binary_cross_entropy(cr.sigmoid(z), y_bin, r, w),
            lambda z, r, w: _torch_reduce(TF.binary_cross_entropy_with_logits(
                z, torch.tensor(y_bin), reduction="none"), r, w, False), 2),
        # probabilities not made by cr.sigmoid: 1 / (p (1 - p)) enters the derivatives, so
        # they are kept away from 0 and 1 (logits halved), where both lose digits
        "bce_of_probabilities": (
            lambda z, r, w: F.binary_cross_entropy(1 / (1 + (z * -0.5).exp()), y_bin, r, w),
            lambda z, r, w: _torch_reduce(TF.binary_cross_entropy(
                1 / (1 + torch.exp(z * -0.5)), torch.tensor(y_bin), reduction="none"), r, w,
                False), 2),
        "cross_entropy_labels": (
            lambda z, r, w: F.cross_entropy(z, labels, r, w),
            lambda z, r, w: _torch_reduce(TF.cross_entropy(z, torch.tensor(labels),
                                                           reduction="none"), r, w, True), 4),
        "cross_entropy_probabilities": (
            lambda z, r, w: F.cross_entropy(z, soft, r, w),
            lambda z, r, w: _torch_reduce(TF.cross_entropy(z, torch.tensor(soft),
                                                           reduction="none"), r, w, True), 4),
    }


LOSSES = _loss_cases()


@needs_torch
@pytest.mark.parametrize("name", sorted(LOSSES))
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("weighted", [False, True])
def test_loss_second_order_matches_torch(name, reduction, weighted):
    # The loss of a small linear model's logits, so the second derivatives reach both the
    # data and the weights; 'none' is reduced afterwards by a nonlinear sum
    ours, theirs, k = LOSSES[name]
    rng = np.random.default_rng(10)
    x, w = rng.normal(size=(6, 3)), rng.normal(size=(3, k))
    weight = rng.uniform(0.2, 3.0, size=6) if weighted else None

    def finish(loss):
        return loss if reduction != "none" else (loss * loss).sum() + loss.sum()

    _against_torch(lambda a, b: finish(ours(a @ b, reduction, weight)),
                   lambda a, b: finish(theirs(a @ b, reduction, weight)), [x, w])


# -- a gradient penalty -----------------------------------------------------------------------
def _critic_weights(seed: int = 11) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.normal(size=(4, 1, 3, 3)) * 0.5, rng.normal(size=4) * 0.1,
            rng.normal(size=(1, 12)) * 0.5, rng.normal(size=1) * 0.1]


def _wgan_gp_steps(lib: str, steps: int = 3, lam: float = 10.0, lr: float = 0.05
                   ) -> list[list[np.ndarray]]:
    """A WGAN-GP critic's loss, critic(fake) - critic(real) + lam * (|d critic/d x|_2 - 1)^2 at
    points between them, trained by SGD; the weights after each step."""
    rng = np.random.default_rng(12)
    real, fake = rng.normal(size=(5, 1, 6, 6)), rng.normal(size=(5, 1, 6, 6)) + 1
    mix = rng.random((5, 1, 1, 1))
    between = mix * real + (1 - mix) * fake
    history = []
    if lib == "torch":
        params = [torch.tensor(a, requires_grad=True) for a in _critic_weights()]

        def critic(x):
            h = torch.tanh(TF.conv2d(x, params[0], params[1], padding=1))
            h = TF.avg_pool2d(TF.max_pool2d(h, 2), (1, 3)).flatten(1)  # (N, 4 * 3 * 1)
            return TF.linear(h, params[2], params[3])

        for _ in range(steps):
            x = torch.tensor(between, requires_grad=True)
            (gx,) = torch.autograd.grad(critic(x).sum(), x, create_graph=True)
            norm = (gx * gx).sum(dim=(1, 2, 3)).sqrt()
            loss = (critic(torch.tensor(fake)).mean() - critic(torch.tensor(real)).mean()
                    + lam * ((norm - 1) ** 2).mean())
            grads = torch.autograd.grad(loss, params)
            with torch.no_grad():
                for p, g in zip(params, grads):
                    p -= lr * g
            history.append([p.detach().numpy().copy() for p in params])
        return history
    conv = Conv2d(1, 4, 3, padding=1, dtype=np.float64)
    head = Linear(12, 1, dtype=np.float64)
    for p, a in zip((conv.weight, conv.bias, head.weight, head.bias), _critic_weights()):
        p.data[...] = cr.tensor(a).data  # on the test device
    params = [conv.weight, conv.bias, head.weight, head.bias]

    def critic(x):
        h = max_pool2d(conv(x).tanh(), 2)
        return head(Flatten()(avg_pool2d(h, (1, 3))))

    for _ in range(steps):
        x = cr.tensor(between, requires_grad=True)
        (gx,) = cr.grad(critic(x).sum(), x, create_graph=True)
        norm = (gx * gx).sum(axis=(1, 2, 3)).sqrt()
        loss = (critic(cr.tensor(fake)).mean() - critic(cr.tensor(real)).mean()
                + lam * ((norm - 1) ** 2).mean())
        for p in params:
            p.grad = None
        loss.backward()
        for p in params:
            p.data -= lr * p.grad
        history.append([np.array(np.asarray(p.data)) for p in params])
    return history


@needs_torch
def test_a_wgan_gp_critic_trains_as_in_torch_step_by_step():
    ours, theirs = _wgan_gp_steps("chainrule"), _wgan_gp_steps("torch")
    for step, (a, b) in enumerate(zip(ours, theirs)):
        for i, (p, q) in enumerate(zip(a, b)):
            assert max_rel_err(p, q) < TOL, f"step {step}, parameter {i}"
    assert max_rel_err(ours[-1][0], _critic_weights()[0]) > 1e-3  # it did move


# -- finite differences -----------------------------------------------------------------------
def _hessian(f: Callable, x0: np.ndarray) -> np.ndarray:
    x = cr.tensor(x0, requires_grad=True)
    (g,) = cr.grad(f(x), x, create_graph=True)
    flat = g.reshape(-1)
    return np.array([cr.grad(flat[i], x, retain_graph=True)[0].numpy().reshape(-1)
                     for i in range(x0.size)])


def _numeric_hessian(f: Callable, x0: np.ndarray, eps: float = 1e-5) -> np.ndarray:
    def gradient(v: np.ndarray) -> np.ndarray:
        t = cr.tensor(v.reshape(x0.shape), requires_grad=True)
        return cr.grad(f(t), t)[0].numpy().reshape(-1)

    flat, cols = x0.reshape(-1), []
    for j in range(flat.size):
        e = np.zeros(flat.size)
        e[j] = eps
        cols.append((gradient(flat + e) - gradient(flat - e)) / (2 * eps))
    return np.array(cols).T


W_FD = np.random.default_rng(13).normal(size=(2, 2, 2, 2))
FD_CASES = {
    "conv2d": lambda x: _cubic(conv2d(x, cr.tensor(W_FD), padding=1, stride=(2, 1))),
    "batch_norm": lambda x: _cubic(batch_norm(x, None, None, training=True)),
    "layer_norm": lambda x: _cubic(layer_norm(x, (3, 3))),
    "avg_pool2d": lambda x: _cubic(avg_pool2d(x * x, 2, 1)),
    "cross_entropy": lambda x: F.cross_entropy(x.reshape(12, 3), [0, 2, 1, 1, 0, 2] * 2),
}


@pytest.mark.parametrize("name", sorted(FD_CASES))
def test_second_derivatives_match_finite_differences(name):
    x0 = np.random.default_rng(14).normal(size=(2, 2, 3, 3)) * 0.7
    f = FD_CASES[name]
    exact, numeric = _hessian(f, x0), _numeric_hessian(f, x0)
    np.testing.assert_allclose(exact, exact.T, atol=1e-10)  # a Hessian is symmetric
    assert max_rel_err(exact, numeric) < 1e-6
