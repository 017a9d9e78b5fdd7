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
