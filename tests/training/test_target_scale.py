"""Standardised regression targets of any finite magnitude: TargetScaler's statistics and
the scores of a regression at 1e300 or 1e-300 are those of the same numbers at unit scale,
moved by a power of two (which is exact), never inf, NaN or a 'constant' target."""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
from chainrule import nn
from chainrule.predictor import regression_scores
from chainrule.training.metrics import regression_metrics
from chainrule.training.targets import TargetScaler


def _targets(n: int = 50, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return (3.0 + rng.normal(size=(n, 2)) * [1.0, 0.25]).astype(np.float64)


@pytest.mark.parametrize("power", [1000, 700, 520, -520, -700, -1000])
def test_target_statistics_move_exactly_with_a_power_of_two(power: int) -> None:
    """Multiplying targets by 2**power multiplies their mean and std by exactly that (the
    trusted reference is the unit-scale fit); before, squares overflowed to an inf scale or
    underflowed to 0, read as a constant target (scale 1)."""
    y = _targets()
    unit = TargetScaler.fit(y)
    moved = TargetScaler.fit(y * 2.0**power)
    np.testing.assert_array_equal(moved.mean, unit.mean * 2.0**power)
    np.testing.assert_array_equal(moved.scale, unit.scale * 2.0**power)
    np.testing.assert_allclose(moved.transform(y * 2.0**power), unit.transform(y), rtol=1e-15,
                               atol=1e-15)


def test_one_column_huge_and_one_ordinary_are_each_right() -> None:
    y = _targets()
    both = TargetScaler.fit(y * [2.0**1000, 1.0])
    unit = TargetScaler.fit(y)
    np.testing.assert_array_equal(both.scale, unit.scale * [2.0**1000, 1.0])


def _net(seed: int = 0) -> nn.Sequential:
    return nn.Sequential(nn.Linear(3, 6, rng=seed, dtype=np.float64), nn.Tanh(),
                         nn.Linear(6, 1, rng=seed + 1, dtype=np.float64))


@pytest.mark.parametrize("scale", [1e250, 1e-250])
def test_fit_with_standardize_target_learns_the_same_network_at_any_scale(scale: float) -> None:
    rng = np.random.default_rng(1)
    X = rng.normal(size=(60, 3))
    y = 5.0 + X @ np.array([1.0, -0.5, 0.25]) + rng.normal(0, 0.1, 60)
    a, b = _net(), _net()
    for model, target in ((a, y), (b, y * scale)):
        cr.fit(model, X, target, optimizer="adam", lr=0.02, batch_size=10, epochs=5, seed=3,
               verbose=0, standardize_target=True)
    with cr.no_grad():
        np.testing.assert_allclose(b(X).numpy()[:, 0] / scale, a(X).numpy()[:, 0], rtol=1e-9)


@pytest.mark.parametrize("scale", [1e300, 1e-300, 2.0**600, 1e200])
def test_regression_scores_at_any_scale_are_the_unit_scale_scores(scale: float) -> None:
    rng = np.random.default_rng(2)
    y = rng.normal(size=40)
    p = y + rng.normal(0, 0.3, 40)
    unit = regression_metrics(y, p)
    got = regression_scores(y * scale, p * scale)
    assert got["r2"] == pytest.approx(unit["r2"], rel=1e-12)
    assert got["rmse"] == pytest.approx(unit["rmse"] * scale, rel=1e-12)
    assert got["mae"] == pytest.approx(unit["mae"] * scale, rel=1e-12)
    assert got["n"] == 40
    with np.errstate(over="ignore", under="ignore"):
        assert got["mse"] == pytest.approx(float(np.float64(unit["mse"]) * scale * scale),
                                           rel=1e-12)
