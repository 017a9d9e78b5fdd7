"""cr.fit's sample weights count only by their ratios: 1e308 (which overflowed the float32
loss) or 1e-300 (which became 0 in it) train exactly as ones do, and a batch whose rows all
weigh 0 is skipped, not refused."""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
from chainrule import nn

X = np.random.default_rng(0).normal(size=(40, 3)).astype(np.float32)
TARGETS = {"classes": ((X[:, 0] > 0).astype(np.int64), 2), "values": (X[:, 0] - X[:, 1], 1)}
FIT = {"epochs": 3, "batch_size": 10, "shuffle": False, "verbose": 0, "optimizer": "adam",
       "lr": 0.05}


def _fit(X, y, k, w, wv="same"):
    model = nn.Sequential(nn.Linear(3, 4, rng=0), nn.Tanh(), nn.Linear(4, k, rng=1))
    val = (X, y) if w is None else (X, y, w if wv == "same" else wv)
    h = cr.fit(model, X, y, sample_weight=w, validation_data=val, **FIT)
    return model, h


def _same(a, b) -> None:
    for (name, p), (_, q) in zip(a[0].state_dict().items(), b[0].state_dict().items()):
        np.testing.assert_allclose(p, q, rtol=1e-6, atol=1e-7, err_msg=name)
    for key in a[1].history:
        np.testing.assert_allclose(a[1].history[key], b[1].history[key], rtol=1e-5,
                                   err_msg=key)


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("scale", [1e308, 1e-300])
def test_weights_train_by_their_ratios_whatever_their_size(target, scale) -> None:
    y, k = TARGETS[target]
    _same(_fit(X, y, k, np.full(40, scale)), _fit(X, y, k, np.ones(40)))
    ratios = np.linspace(0.25, 1.5, 40)  # times 1e308 stays below float64's 1.8e308
    _same(_fit(X, y, k, ratios * scale), _fit(X, y, k, ratios))


@pytest.mark.parametrize("target", TARGETS)
def test_a_heavy_row_beside_light_ones_keeps_both(target) -> None:
    # 1e308 beside 1: in each batch of 10 the light rows are weighed among themselves, so
    # every batch still trains (the loss of a batch is its own weighted mean)
    y, k = TARGETS[target]
    model, h = _fit(X, y, k, np.r_[1e308, np.ones(39)])
    assert np.isfinite(h.history["loss"]).all() and np.isfinite(h.history["val_loss"]).all()
    _same((model, h), _fit(X, y, k, np.r_[1.0, np.full(39, 1e-308)]))


@pytest.mark.parametrize("target", TARGETS)
def test_a_batch_of_weight_zero_is_skipped(target) -> None:
    # the first batch of 10 rows weighs nothing: training is that on the other 30 rows
    y, k = TARGETS[target]
    w = np.r_[np.zeros(10), np.ones(30)]
    got = _fit(X, y, k, w, wv=None)
    model = nn.Sequential(nn.Linear(3, 4, rng=0), nn.Tanh(), nn.Linear(4, k, rng=1))
    h = cr.fit(model, X[10:], y[10:], validation_data=(X, y), **FIT)
    _same(got, (model, h))
