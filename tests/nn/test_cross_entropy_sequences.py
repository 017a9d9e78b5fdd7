"""cross_entropy over sequences, against PyTorch in float64: the (N, C, d1, ...) layout,
ignore_index (padding counts for nothing; 'mean' divides by the labels kept), one example of
shape (C,), and soft targets per position."""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
from chainrule import nn
from chainrule.nn import functional as F

torch = pytest.importorskip("torch")
RNG = np.random.default_rng(0)


def _both(z, target, **kw):
    ours = cr.tensor(z, requires_grad=True)
    loss = F.cross_entropy(ours, target, **kw)
    theirs = torch.tensor(z, requires_grad=True)
    ref = torch.nn.functional.cross_entropy(theirs, torch.tensor(target), **kw)
    seed = np.ones(loss.shape) if loss.shape else None
    loss.backward(seed)
    ref.backward(torch.ones_like(ref) if ref.shape else None)
    np.testing.assert_allclose(loss.numpy(), ref.detach().numpy(), rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(ours.grad, theirs.grad.numpy(), rtol=1e-10, atol=1e-15)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("shape", [(4, 5), (3, 5, 7), (2, 5, 3, 4)])
def test_labels_per_position_with_padding_match_torch(shape, reduction):
    z = RNG.normal(size=shape)
    n, c, rest = shape[0], shape[1], shape[2:]
    labels = RNG.integers(0, c, size=(n, *rest))
    labels.flat[::3] = -100  # padding
    _both(z, labels, reduction=reduction)


def test_a_chosen_ignore_index_and_a_class_per_token():
    z = RNG.normal(size=(3, 6, 8))  # (N, C, T): six tokens, eight positions
    labels = RNG.integers(0, 6, size=(3, 8))
    _both(z, labels, ignore_index=0)
    _both(z, labels, ignore_index=0, reduction="sum")


def test_everything_ignored_gives_nan_as_torch():
    z = RNG.normal(size=(2, 3))
    labels = np.array([-100, -100])
    loss = F.cross_entropy(cr.tensor(z), labels)
    assert np.isnan(loss.item())
    assert torch.isnan(torch.nn.functional.cross_entropy(torch.tensor(z), torch.tensor(labels)))


def test_one_example_and_soft_targets_per_position():
    z = RNG.normal(size=(5,))
    _both(z, np.array(3))
    zz = RNG.normal(size=(2, 4, 3))
    p = RNG.random(size=(2, 4, 3))
    p /= p.sum(axis=1, keepdims=True)
    _both(zz, p)


def test_the_module_keeps_ignore_index_and_checks_it():
    loss = nn.CrossEntropyLoss(ignore_index=0)
    assert "ignore_index=0" in repr(loss)
    z = cr.tensor(RNG.normal(size=(2, 4, 3)), requires_grad=True)
    value = loss(z, np.array([[1, 0, 2], [0, 0, 3]]))
    ref = torch.nn.CrossEntropyLoss(ignore_index=0)(torch.tensor(z.numpy()),
                                                    torch.tensor([[1, 0, 2], [0, 0, 3]]))
    assert value.item() == pytest.approx(ref.item(), rel=1e-12)
    with pytest.raises(cr.ConfigError, match="ignore_index must be an integer"):
        nn.CrossEntropyLoss(ignore_index=0.5)


def test_wrong_target_shapes_name_both():
    with pytest.raises(cr.ShapeError, match=r"labels of shape \(2, 3\)"):
        F.cross_entropy(cr.tensor(np.zeros((2, 4, 3))), np.zeros((2, 4), dtype=int))


def test_second_derivative_with_ignored_positions():
    z0 = RNG.normal(size=(2, 3, 4))
    labels = np.array([[0, 1, -100, 2], [-100, 0, 0, 1]])
    assert cr.gradgradcheck(lambda z: F.cross_entropy(z, labels), [z0])
