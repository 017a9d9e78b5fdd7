"""sample_weight in every loss: the weighted mean sum(w_i l_i) / sum(w_i), so integer weights
equal duplicated rows (checked against the same loss on the duplicated data)."""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
from chainrule.nn import functional as F

rng = np.random.default_rng(0)
Z = rng.normal(size=(5, 3))
W = np.array([1, 3, 0, 2, 1])
LABELS = np.array([0, 2, 1, 1, 0])
Y01 = (rng.random((5, 3)) > 0.5).astype(float)


@pytest.mark.parametrize(("loss", "target"), [
    (F.mse_loss, Y01), (F.binary_cross_entropy_with_logits, Y01), (F.cross_entropy, LABELS),
    (lambda z, y, **kw: F.binary_cross_entropy(z.sigmoid(), y, **kw), Y01),
])
@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_integer_weights_equal_duplicated_rows(loss, target, reduction):
    z1 = cr.tensor(Z, requires_grad=True)
    weighted = loss(z1, target, reduction=reduction, sample_weight=W)
    weighted.backward()
    rows = np.repeat(np.arange(5), W)
    z2 = cr.tensor(Z, requires_grad=True)
    dup = loss(z2[rows], target[rows], reduction=reduction)
    dup.backward()
    assert weighted.item() == pytest.approx(dup.item(), rel=1e-12)
    np.testing.assert_allclose(z1.grad, z2.grad, rtol=1e-12, atol=1e-15)


def test_bad_weights_are_refused():
    z = cr.tensor(Z, requires_grad=True)
    with pytest.raises(cr.ShapeError, match="one per example"):
        F.mse_loss(z, Y01, sample_weight=[1.0, 2.0])
    with pytest.raises(cr.DataError, match="non-negative"):
        F.mse_loss(z, Y01, sample_weight=[1.0, -2.0, 1, 1, 1])


def test_bce_on_nan_probabilities_is_refused():
    p = cr.tensor([0.2, np.nan], requires_grad=True)
    with pytest.raises(cr.DataError, match="NaN"):
        F.binary_cross_entropy(p, [1.0, 0.0])


@pytest.mark.parametrize(("loss", "target"), [
    (F.mse_loss, Y01), (F.binary_cross_entropy_with_logits, Y01), (F.cross_entropy, LABELS),
])
@pytest.mark.parametrize("scale", [1e308 / 4, 1e-300])
def test_mean_losses_count_weights_by_their_ratios_in_float32(loss, target, scale):
    # sum(w l) / sum(w) is the same for w and c w; in float32, 1e308 used to become inf and
    # 1e-300 zero, which the loss then refused or turned into NaN.
    z32 = Z.astype(np.float32)
    huge = loss(cr.tensor(z32), target, sample_weight=np.asarray(W, dtype=np.float64) * scale)
    plain = loss(cr.tensor(z32), target, sample_weight=np.asarray(W, dtype=np.float64))
    assert np.isfinite(huge.item())
    assert huge.item() == pytest.approx(plain.item(), rel=1e-6)


def test_summed_losses_keep_the_weights_scale():
    z = cr.tensor(Z)
    once = F.mse_loss(z, Y01, reduction="sum", sample_weight=W)
    twice = F.mse_loss(z, Y01, reduction="sum", sample_weight=2 * np.asarray(W, dtype=float))
    assert twice.item() == pytest.approx(2 * once.item(), rel=1e-12)


@pytest.mark.parametrize("reduction", ["sum", "none"])
def test_weights_beyond_the_losses_dtype_are_refused_where_their_scale_counts(reduction):
    z32 = cr.tensor(Z.astype(np.float32))
    with pytest.raises(cr.DataError, match="beyond float32's range"):
        F.mse_loss(z32, Y01, reduction=reduction, sample_weight=[1e308, 1, 1, 1, 1])
