"""Convolution, pooling and normalisation: against PyTorch (float64), finite differences, and
the course's published checks (cs231n's second assignment), rewritten as tests."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

import chainrule as cr
from chainrule.nn.conv import Conv2d, conv2d, pad_input
from chainrule.nn.max_pooling import (
    masks_from_index,
    masks_from_values,
    max_windows,
    max_windows_plain,
    window_offsets,
)
from chainrule.nn.normalization import BatchNorm1d, BatchNorm2d, LayerNorm, batch_norm, layer_norm
from chainrule.nn.pooling import (
    AdaptiveAvgPool2d,
    AvgPool2d,
    MaxPool2d,
    adaptive_avg_pool2d,
    avg_pool2d,
    max_pool2d,
)
from conftest import HAS_TORCH, max_rel_err, needs_torch

if HAS_TORCH:
    import torch
    import torch.nn.functional as F

# (N, C, H, W), (O, kh, kw), stride, padding, dilation, groups
CONV_CASES = [
    ((2, 3, 7, 7), (4, 3, 3), 1, 0, 1, 1),
    ((1, 3, 8, 6), (2, 3, 2), 2, 1, 1, 1),          # batch 1, non-square input and kernel
    ((2, 4, 9, 9), (6, 3, 3), (2, 1), (1, 2), 1, 2),  # groups, per-axis stride and padding
    ((2, 2, 10, 9), (2, 3, 3), 1, 2, 2, 1),         # dilation
    ((2, 4, 6, 6), (4, 1, 1), 1, 0, 1, 4),          # depthwise 1x1
    ((3, 1, 5, 5), (3, 5, 5), 1, 2, 1, 1),          # LeNet's first layer, 'same' by hand
    ((2, 2, 7, 8), (3, 4, 3), 1, "same", (2, 1), 1),  # 'same' with an even kernel: odd padding
    ((2, 3, 6, 7), (2, 3, 3), 3, 0, 1, 1),          # stride larger than the kernel's reach
]


def _conv_inputs(case, rng):
    xs, (o, kh, kw), stride, padding, dilation, groups = case
    x = rng.normal(size=xs)
    w = rng.normal(size=(o, xs[1] // groups, kh, kw))
    b = rng.normal(size=o)
    return x, w, b, dict(stride=stride, padding=padding, dilation=dilation, groups=groups)


def _grads(fn: Callable, arrays: list[np.ndarray], g_seed: int = 5):
    """Forward value and input gradients of sum(fn(*tensors) * G) for a fixed random G."""
    ts = [cr.tensor(a, requires_grad=True) for a in arrays]
    out = fn(*ts)
    G = np.random.default_rng(g_seed).normal(size=out.shape)
    (out * G).sum().backward()
    return out.data, [t.grad for t in ts], G


def _torch_grads(fn: Callable, arrays: list[np.ndarray], G: np.ndarray):
    ts = [torch.tensor(a, requires_grad=True) for a in arrays]
    out = fn(*ts)
    (out * torch.tensor(G)).sum().backward()
    return out.detach().numpy(), [t.grad.numpy() for t in ts]


def _numeric(fn: Callable, arrays: list[np.ndarray], G: np.ndarray, h: float = 1e-6):
    """Central differences of sum(fn(*arrays) * G), every entry of every array."""
    out = []
    for k, a in enumerate(arrays):
        grad = np.zeros_like(a)
        for idx in np.ndindex(a.shape):
            old = a[idx]
            a[idx] = old + h
            up = (fn(*[cr.tensor(b) for b in arrays]).numpy() * G).sum()
            a[idx] = old - h
            down = (fn(*[cr.tensor(b) for b in arrays]).numpy() * G).sum()
            a[idx] = old
            grad[idx] = (up - down) / (2 * h)
        out.append(grad)
        del k
    return out


@needs_torch
@pytest.mark.parametrize("case", CONV_CASES)
def test_conv2d_matches_pytorch(case) -> None:
    x, w, b, kw = _conv_inputs(case, np.random.default_rng(0))
    out, grads, G = _grads(lambda x, w, b: conv2d(x, w, b, **kw), [x, w, b])
    tout, tgrads = _torch_grads(lambda x, w, b: F.conv2d(x, w, b, **kw), [x, w, b], G)
    assert max_rel_err(out, tout) < 1e-10
    for ours, theirs in zip(grads, tgrads):
        assert max_rel_err(ours, theirs) < 1e-10


@pytest.mark.parametrize("case", [CONV_CASES[1], CONV_CASES[2], CONV_CASES[3], CONV_CASES[6]])
def test_conv2d_gradients_match_finite_differences(case) -> None:
    xs, (o, kh, kw_), *rest = case
    small = ((1, xs[1], 5, 6), (o, kh, kw_), *rest)
    x, w, b, kw = _conv_inputs(small, np.random.default_rng(1))
    fn = lambda x, w, b: conv2d(x, w, b, **kw)
    _, grads, G = _grads(fn, [x, w, b])
    for ours, numeric in zip(grads, _numeric(fn, [x, w, b], G)):
        assert max_rel_err(ours, numeric) < 1e-7


def test_cs231n_conv_forward_naive_check() -> None:
    """The course's check: x (2, 3, 4, 4), w (3, 3, 4, 4) from linspace, stride 2, pad 1."""
    x = np.linspace(-0.1, 0.5, num=2 * 3 * 4 * 4).reshape(2, 3, 4, 4)
    w = np.linspace(-0.2, 0.3, num=3 * 3 * 4 * 4).reshape(3, 3, 4, 4)
    b = np.linspace(-0.1, 0.2, num=3)
    out = conv2d(cr.tensor(x), cr.tensor(w), cr.tensor(b), stride=2, padding=1).numpy()
    correct = np.array([[[[-0.08759809, -0.10987781], [-0.18387192, -0.2109216]],
                         [[0.21027089, 0.21661097], [0.22847626, 0.23004637]],
                         [[0.50813986, 0.54309974], [0.64082444, 0.67101435]]],
                        [[[-0.98053589, -1.03143541], [-1.19128892, -1.24695841]],
                         [[0.69108355, 0.66880383], [0.59480972, 0.56776003]],
                         [[2.36270298, 2.36904306], [2.38090835, 2.38247847]]]])
    assert np.abs(out - correct).max() < 1e-7


def test_conv2d_worked_by_hand() -> None:
    # x = [[1, 2, 3], [4, 5, 6], [7, 8, 9]], kernel [[1, 0], [0, -1]]: each output is
    # x[i, j] - x[i+1, j+1] = -4 everywhere; bias 1 gives -3.
    x = np.arange(1.0, 10.0).reshape(1, 1, 3, 3)
    w = np.array([[[[1.0, 0.0], [0.0, -1.0]]]])
    out = conv2d(cr.tensor(x), cr.tensor(w), cr.tensor([1.0])).numpy()
    np.testing.assert_array_equal(out, np.full((1, 1, 2, 2), -3.0))


@needs_torch
@pytest.mark.parametrize(("shape", "kernel", "stride", "padding"), [
    ((2, 3, 8, 8), 2, None, 0), ((1, 2, 7, 9), 3, 2, 1), ((2, 2, 6, 5), (3, 2), (1, 2), (1, 0)),
    ((2, 1, 5, 5), 2, 1, 0),
])
def test_pooling_matches_pytorch(shape, kernel, stride, padding) -> None:
    x = np.random.default_rng(2).normal(size=shape)
    for ours, theirs in ((max_pool2d, F.max_pool2d), (avg_pool2d, F.avg_pool2d)):
        out, (gx,), G = _grads(lambda t, f=ours: f(t, kernel, stride, padding), [x])
        tout, (tgx,) = _torch_grads(lambda t, f=theirs: f(t, kernel, stride, padding), [x], G)
        assert max_rel_err(out, tout) < 1e-12 and max_rel_err(gx, tgx) < 1e-12


@needs_torch
def test_max_pool_ties_go_to_the_first_maximum_as_in_pytorch() -> None:
    x = np.zeros((1, 1, 4, 4))
    _, (gx,), G = _grads(lambda t: max_pool2d(t, 2, 1), [x])
    _, (tgx,) = _torch_grads(lambda t: F.max_pool2d(t, 2, 1), [x], G)
    np.testing.assert_array_equal(gx, tgx)


@pytest.mark.parametrize(("kernel", "stride", "padding"), [
    (2, 2, 0), (3, 2, 1), ((2, 3), (1, 2), (1, 1)), (3, 1, 0), (2, 3, 0)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_max_pool_fast_path_equals_the_argmax_path(kernel, stride, padding, dtype) -> None:
    # Rectified inputs tie often (whole windows of zeros); -inf padding and repeated values too.
    rng = np.random.default_rng(6)
    x = np.maximum(rng.integers(-3, 3, size=(3, 2, 9, 8)), 0).astype(dtype)
    ph, pw = (padding, padding) if isinstance(padding, int) else padding
    xp = pad_input(x, (ph, ph, pw, pw), -np.inf)
    k = (kernel, kernel) if isinstance(kernel, int) else kernel
    s = (stride, stride) if isinstance(stride, int) else stride
    out = max_windows(xp, k, s)
    ref_out, where = max_windows_plain(xp, k, s)
    np.testing.assert_array_equal(out, ref_out)
    assert out.dtype == dtype
    offsets = window_offsets(xp.shape[2:], k, s)
    fast = list(masks_from_values(xp, out, offsets))
    plain = list(masks_from_index(where, len(offsets)))
    assert len(fast) == len(plain) == k[0] * k[1]
    for a, b in zip(fast, plain):
        np.testing.assert_array_equal(a, b)


@needs_torch
def test_max_pool_with_nan_takes_the_plain_path_as_pytorch() -> None:
    x = np.random.default_rng(7).normal(size=(1, 2, 6, 6))
    x[0, 0, 1, 1] = x[0, 1, 4, 3] = np.nan
    out, (gx,), G = _grads(lambda t: max_pool2d(t, 2), [x])
    tout, (tgx,) = _torch_grads(lambda t: F.max_pool2d(t, 2), [x], G)
    np.testing.assert_array_equal(np.isnan(out), np.isnan(tout))
    np.testing.assert_allclose(gx, tgx, rtol=1e-12)


@needs_torch
def test_lenet_step_in_float32_stays_float32_and_matches_pytorch() -> None:
    # The LeNet layers (padded conv, pool, valid conv, pool) in float32 against PyTorch in
    # float32: no hidden float64 upcast, and the same gradients to float32 rounding.
    rng = np.random.default_rng(8)
    x = rng.normal(size=(4, 1, 28, 28)).astype(np.float32)
    w1, b1 = rng.normal(size=(6, 1, 5, 5)).astype(np.float32), rng.normal(size=6).astype(
        np.float32)
    w2, b2 = rng.normal(size=(16, 6, 5, 5)).astype(np.float32), rng.normal(size=16).astype(
        np.float32)

    def net(conv, pool, relu, x, w1, b1, w2, b2):
        h = pool(relu(conv(x, w1, b1, padding=2)), 2)
        return pool(relu(conv(h, w2, b2)), 2)

    arrays = [x, w1, b1, w2, b2]
    crs = [cr.tensor(a, requires_grad=True) for a in arrays]
    y = net(conv2d, max_pool2d, cr.relu, *crs)
    G = rng.normal(size=y.shape).astype(np.float32)
    y.backward(G)
    out, grads = y.numpy(), [np.asarray(t.grad) for t in crs]
    ts = [torch.tensor(a, requires_grad=True) for a in arrays]
    tout = net(F.conv2d, F.max_pool2d, torch.relu, *ts)
    (tout * torch.tensor(G)).sum().backward()
    assert out.dtype == np.float32 and all(g.dtype == np.float32 for g in grads)
    np.testing.assert_allclose(out, tout.detach().numpy(), rtol=1e-4, atol=1e-3)
    for g, t in zip(grads, ts):
        np.testing.assert_allclose(g, t.grad.numpy(), rtol=1e-3, atol=1e-2)


@needs_torch
def test_global_average_pooling_matches_pytorch() -> None:
    x = np.random.default_rng(3).normal(size=(2, 3, 5, 4))
    out, (gx,), G = _grads(lambda t: adaptive_avg_pool2d(t, 1), [x])
    tout, (tgx,) = _torch_grads(lambda t: F.adaptive_avg_pool2d(t, 1), [x], G)
    assert max_rel_err(out, tout) < 1e-12 and max_rel_err(gx, tgx) < 1e-12


def test_pooling_gradients_match_finite_differences() -> None:
    x = np.random.default_rng(4).normal(size=(1, 2, 5, 6))
    for fn in (lambda t: max_pool2d(t, 3, 2, 1), lambda t: avg_pool2d(t, (2, 3), 1, (1, 1))):
        _, (gx,), G = _grads(fn, [x])
        (numeric,) = _numeric(fn, [x], G)
        assert max_rel_err(gx, numeric) < 1e-7


def test_cs231n_max_pool_forward_naive_check() -> None:
    x = np.linspace(-0.3, 0.4, num=2 * 3 * 4 * 4).reshape(2, 3, 4, 4)
    out = max_pool2d(cr.tensor(x), 2, 2).numpy()
    correct = np.array([[[[-0.26315789, -0.24842105], [-0.20421053, -0.18947368]],
                         [[-0.14526316, -0.13052632], [-0.08631579, -0.07157895]],
                         [[-0.02736842, -0.01263158], [0.03157895, 0.04631579]]],
                        [[[0.09052632, 0.10526316], [0.14947368, 0.16421053]],
                         [[0.20842105, 0.22315789], [0.26736842, 0.28210526]],
                         [[0.32631579, 0.34105263], [0.38526316, 0.4]]]])
    assert np.abs(out - correct).max() < 1e-7


# -- normalisation ----------------------------------------------------------------------------
@needs_torch
@pytest.mark.parametrize("shape", [(6, 3), (4, 3, 5), (2, 3, 4, 5), (2, 3, 1, 1)])
@pytest.mark.parametrize("training", [True, False])
def test_batch_norm_matches_pytorch(shape, training: bool) -> None:
    rng = np.random.default_rng(5)
    x = rng.normal(size=shape) * 3 + 1
    gamma, beta = rng.normal(size=3), rng.normal(size=3)
    rm, rv = rng.normal(size=3), rng.uniform(0.5, 2, size=3)
    ours_rm, ours_rv = rm.copy(), rv.copy()
    out, grads, G = _grads(lambda x, g, b: batch_norm(x, ours_rm, ours_rv, g, b, training,
                                                      0.3, 1e-5), [x, gamma, beta])
    t_rm, t_rv = torch.tensor(rm), torch.tensor(rv)
    tout, tgrads = _torch_grads(lambda x, g, b: F.batch_norm(x, t_rm, t_rv, g, b, training,
                                                             0.3, 1e-5), [x, gamma, beta], G)
    assert max_rel_err(out, tout) < 1e-10
    for ours, theirs in zip(grads, tgrads):
        assert max_rel_err(ours, theirs) < 1e-10
    assert max_rel_err(ours_rm, t_rm.numpy()) < 1e-12
    assert max_rel_err(ours_rv, t_rv.numpy()) < 1e-12


@needs_torch
@pytest.mark.parametrize("affine", ["none", "weight", "bias"])
def test_batch_norm_without_weight_or_bias_matches_pytorch(affine: str) -> None:
    rng = np.random.default_rng(9)
    x = rng.normal(size=(3, 2, 4, 3)) * 2 - 1
    p = rng.normal(size=2)
    arrays = [x] if affine == "none" else [x, p]

    def ours(x, p=None):
        return batch_norm(x, None, None, p if affine == "weight" else None,
                          p if affine == "bias" else None, True)

    def theirs(x, p=None):
        return F.batch_norm(x, None, None, p if affine == "weight" else None,
                            p if affine == "bias" else None, True)

    out, grads, G = _grads(ours, arrays)
    tout, tgrads = _torch_grads(theirs, arrays, G)
    assert max_rel_err(out, tout) < 1e-10
    for a, b in zip(grads, tgrads):
        assert max_rel_err(a, b) < 1e-10


@needs_torch
@pytest.mark.parametrize(("shape", "normalized"), [((4, 6), (6,)), ((2, 3, 4, 5), (4, 5)),
                                                   ((1, 3, 4), (3, 4))])
def test_layer_norm_matches_pytorch(shape, normalized) -> None:
    rng = np.random.default_rng(6)
    x = rng.normal(size=shape) * 2 - 1
    gamma, beta = rng.normal(size=normalized), rng.normal(size=normalized)
    out, grads, G = _grads(lambda x, g, b: layer_norm(x, normalized, g, b), [x, gamma, beta])
    tout, tgrads = _torch_grads(lambda x, g, b: F.layer_norm(x, normalized, g, b),
                                [x, gamma, beta], G)
    assert max_rel_err(out, tout) < 1e-10
    for ours, theirs in zip(grads, tgrads):
        assert max_rel_err(ours, theirs) < 1e-10


def test_normalisation_gradients_match_finite_differences() -> None:
    rng = np.random.default_rng(7)
    x, g, b = rng.normal(size=(4, 3, 2, 2)), rng.normal(size=3), rng.normal(size=3)
    bn = lambda x, g, b: batch_norm(x, None, None, g, b, training=True)
    _, grads, G = _grads(bn, [x, g, b])
    for ours, numeric in zip(grads, _numeric(bn, [x, g, b], G)):
        assert max_rel_err(ours, numeric) < 1e-7
    x2, g2, b2 = rng.normal(size=(3, 4)), rng.normal(size=4), rng.normal(size=4)
    ln2 = lambda x, g, b: layer_norm(x, 4, g, b)
    _, grads, G = _grads(ln2, [x2, g2, b2])
    for ours, numeric in zip(grads, _numeric(ln2, [x2, g2, b2], G)):
        assert max_rel_err(ours, numeric) < 1e-7


def test_cs231n_batchnorm_checks() -> None:
    """The course's checks, on a two-layer ReLU network's activations: after batch norm in
    training mode each feature has mean beta and standard deviation gamma; after many training
    batches, evaluation mode on fresh data gives means near 0 and deviations near 1."""
    rng = np.random.default_rng(231)
    n, d1, d2, d3 = 200, 50, 60, 3
    w1, w2 = rng.normal(size=(d1, d2)), rng.normal(size=(d2, d3))

    def activations():
        return np.maximum(0, rng.normal(size=(n, d1)) @ w1) @ w2

    a = activations()
    gamma, beta = np.array([1.0, 2.0, 3.0]), np.array([11.0, 12.0, 13.0])
    out = batch_norm(a, None, None, cr.tensor(gamma), cr.tensor(beta), training=True).numpy()
    np.testing.assert_allclose(out.mean(axis=0), beta, atol=1e-10)
    np.testing.assert_allclose(out.std(axis=0), gamma, rtol=1e-5)
    bn = BatchNorm1d(d3, dtype=np.float64)
    for _ in range(50):
        bn(activations())
    bn.eval()
    out = bn(activations()).numpy()
    np.testing.assert_allclose(out.mean(axis=0), 0, atol=0.2)
    np.testing.assert_allclose(out.std(axis=0), 1, atol=0.2)


# -- the layers ---------------------------------------------------------------------------------
@needs_torch
def test_layers_match_pytorch_modules_with_the_same_weights() -> None:
    rng = np.random.default_rng(8)
    x = rng.normal(size=(4, 3, 12, 12))
    ours = [Conv2d(3, 4, 3, padding="same", dtype=np.float64, rng=0),
            BatchNorm2d(4, dtype=np.float64), MaxPool2d(2), AvgPool2d(3, 1, 1),
            AdaptiveAvgPool2d(1)]
    theirs = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3, padding="same", dtype=torch.float64),
                                 torch.nn.BatchNorm2d(4, dtype=torch.float64),
                                 torch.nn.MaxPool2d(2), torch.nn.AvgPool2d(3, 1, 1),
                                 torch.nn.AdaptiveAvgPool2d(1))
    with torch.no_grad():
        theirs[0].weight.copy_(torch.tensor(ours[0].weight.data))
        theirs[0].bias.copy_(torch.tensor(ours[0].bias.data))
    model = cr.nn.Sequential(*ours)
    for mode in ("train", "eval"):
        getattr(model, mode)()
        getattr(theirs, mode)()
        out = model(x).data
        tout = theirs(torch.tensor(x)).detach().numpy()
        assert max_rel_err(out, tout) < 1e-10, mode
    np.testing.assert_allclose(ours[1].running_var, theirs[1].running_var.numpy(), rtol=1e-12)
    assert model.output_shape((None, 3, 12, 12)) == (None, 4, 1, 1)


def test_batchnorm_buffers_and_modes() -> None:
    bn = BatchNorm2d(3)
    assert [k for k, _ in bn.named_buffers()] == ["running_mean", "running_var"]
    assert list(bn.state_dict()) == ["weight", "bias", "running_mean", "running_var"]
    x = np.random.default_rng(9).normal(size=(4, 3, 2, 2)).astype(np.float32) + 5
    bn(x)
    running_mean = np.asarray(bn.running_mean)  # a host copy
    assert running_mean.dtype == np.float32 and np.all(running_mean > 0.4)
    before = running_mean.copy()
    bn.eval()
    bn(x)
    np.testing.assert_array_equal(np.asarray(bn.running_mean), before)  # not updated
    assert np.asarray(BatchNorm2d(3, dtype="float64").running_var).dtype == np.float64
    with pytest.raises(cr.ShapeError, match="more than one value per channel"):
        BatchNorm1d(3).train()(np.zeros((1, 3)))
    with pytest.raises(cr.ShapeError, match=r"BatchNorm2d\(3\) needs inputs of shape "
                                            r"\(N, 3, H, W\)"):
        BatchNorm2d(3)(np.zeros((2, 3)))


def test_dropout2d_zeroes_whole_channels_and_only_in_training() -> None:
    from chainrule.nn.layers import Dropout2d

    drop = Dropout2d(0.5, rng=0)
    out = drop(np.ones((8, 6, 3, 3))).numpy()
    per_channel = out.reshape(8, 6, 9)
    assert np.all((per_channel == 0).all(axis=2) | (per_channel == 2).all(axis=2))
    assert 0 < (per_channel[:, :, 0] == 0).mean() < 1
    np.testing.assert_array_equal(drop.eval()(np.ones((2, 3, 2, 2))).numpy(), 1)


@pytest.mark.parametrize(("make", "message"), [
    (lambda: Conv2d(3, 4, 0), "kernel_size must be between 1"),
    (lambda: Conv2d(3, 4, 3, groups=2), "divisible by groups"),
    (lambda: Conv2d(3, 4, 3, stride=2, padding="same"), "padding='same' needs stride 1"),
    (lambda: Conv2d(3, 4, (3, 3, 3)), "integer or a pair"),
    (lambda: Conv2d(3, 4, 3, padding="full"), "padding must be"),
    (lambda: Conv2d(3, 4, 3)(np.zeros((1, 2, 5, 5))), r"input has 2 channels"),
    (lambda: Conv2d(3, 4, 5)(np.zeros((1, 3, 3, 3))), r"smaller than the 5x5 kernel"),
    (lambda: Conv2d(3, 4, 3)(np.zeros((3, 5, 5))), r"\(N, C, H, W\)"),
    (lambda: MaxPool2d(2, padding=2), "at most half the kernel"),
    (lambda: MaxPool2d(3)(np.zeros((1, 1, 2, 2))), "smaller than"),
    (lambda: adaptive_avg_pool2d(np.zeros((1, 1, 5, 5)), 2), "must divide"),
    (lambda: LayerNorm(4)(np.zeros((2, 3))), "does not end in the normalized shape"),
    (lambda: BatchNorm1d(0), "num_features must be between 1"),
])
def test_bad_arguments_name_themselves(make, message: str) -> None:
    with pytest.raises(cr.ChainruleError, match=message):
        make()


def test_conv2d_refuses_mixed_precision() -> None:
    with pytest.raises(cr.DTypeError, match="convert one explicitly"):
        conv2d(cr.tensor(np.zeros((1, 1, 3, 3), np.float32)), cr.tensor(np.zeros((1, 1, 2, 2))))
    layer = Conv2d(1, 1, 2, rng=0)  # the layer converts its input, as Linear does
    assert layer(np.zeros((1, 1, 3, 3))).numpy().dtype == np.float32
