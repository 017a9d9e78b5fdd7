"""nn.normalize holds the normalisation primitive and its functions; nn.normalization the
layers, re-exporting batch_norm and layer_norm where users import them."""

from __future__ import annotations

import numpy as np

import chainrule as cr
from chainrule.nn import functional as F
from chainrule.nn import normalization, normalize


def test_the_functions_are_one_object_under_both_paths() -> None:
    assert normalization.batch_norm is normalize.batch_norm is F.batch_norm
    assert normalization.layer_norm is normalize.layer_norm is F.layer_norm
    assert set(normalization.__all__) >= {"BatchNorm1d", "BatchNorm2d", "LayerNorm",
                                          "batch_norm", "layer_norm", "invalid_buffer"}


def test_the_layers_compute_with_the_functions() -> None:
    x = np.random.default_rng(0).normal(size=(5, 3))
    bn = normalization.BatchNorm1d(3, dtype="float64")
    expected = normalize.batch_norm(cr.tensor(x), None, None, bn.weight, bn.bias, training=True)
    np.testing.assert_array_equal(bn(x).numpy(), expected.numpy())
    ln = normalization.LayerNorm(3, dtype="float64")
    np.testing.assert_array_equal(ln(x).numpy(),
                                  normalize.layer_norm(cr.tensor(x), 3, ln.weight,
                                                       ln.bias).numpy())
