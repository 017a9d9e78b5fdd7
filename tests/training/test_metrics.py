"""The metrics agree with scikit-learn's, with and without sample weights."""

from __future__ import annotations

import numpy as np
import pytest

from chainrule.errors import ConfigError, DataError, ShapeError
from chainrule.training import metrics

sk = pytest.importorskip("sklearn.metrics")

RNG = np.random.default_rng(0)
N = 37
W = RNG.uniform(0.0, 3.0, size=N)


def _regression(k: int) -> tuple[np.ndarray, np.ndarray]:
    y = RNG.normal(4000.0, 800.0, size=(N, k))  # body mass in grams: large mean, large spread
    return y, y + RNG.normal(0.0, 300.0, size=(N, k))


@pytest.mark.parametrize("k", [1, 3])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("name, peer", [
    ("mse", "mean_squared_error"), ("rmse", "root_mean_squared_error"),
    ("mae", "mean_absolute_error"), ("r2", "r2_score")])
def test_regression_metrics_match_scikit_learn(name: str, peer: str, k: int,
                                               weighted: bool) -> None:
    y, pred = _regression(k)
    if k == 1:
        y, pred = y[:, 0], pred[:, 0]
    w = W if weighted else None
    ours = getattr(metrics, name)(y, pred, sample_weight=w)
    theirs = getattr(sk, peer)(y, pred, sample_weight=w)
    assert ours == pytest.approx(theirs, rel=1e-9)


@pytest.mark.parametrize("weighted", [False, True])
def test_accuracy_and_log_loss_match_scikit_learn(weighted: bool) -> None:
    y = RNG.integers(0, 3, size=N)
    proba = RNG.dirichlet([1.0, 1.0, 1.0], size=N)
    w = W if weighted else None
    assert metrics.accuracy(y, proba.argmax(1), w) == pytest.approx(
        sk.accuracy_score(y, proba.argmax(1), sample_weight=w), rel=1e-12)
    assert metrics.log_loss(y, proba, w) == pytest.approx(
        sk.log_loss(y, proba, sample_weight=w, labels=[0, 1, 2]), rel=1e-9)
    # Two classes given as the probability of class 1, as scikit-learn accepts.
    yb, pb = (y > 0).astype(int), proba[:, 0]
    assert metrics.log_loss(yb, pb, w) == pytest.approx(sk.log_loss(yb, pb, sample_weight=w),
                                                        rel=1e-9)


def test_certain_wrong_probability_is_finite_as_in_scikit_learn() -> None:
    y, proba = np.array([0, 1]), np.array([[1.0, 0.0], [1.0, 0.0]])
    assert metrics.log_loss(y, proba) == pytest.approx(sk.log_loss(y, proba), rel=1e-9)


def test_constant_target_r2_follows_scikit_learn() -> None:
    y = np.full(5, 2.0)
    assert metrics.r2(y, y) == sk.r2_score(y, y) == 1.0
    assert metrics.r2(y, y + 1) == sk.r2_score(y, y + 1) == 0.0


def test_integer_weights_equal_duplicated_rows() -> None:
    y, pred = _regression(2)
    w = RNG.integers(0, 4, size=N)
    w[0] = 1
    rows = np.repeat(np.arange(N), w)
    for name in ("mse", "rmse", "mae", "r2"):
        fn = getattr(metrics, name)
        assert fn(y, pred, w) == pytest.approx(fn(y[rows], pred[rows]), rel=1e-12), name
    labels, guess = RNG.integers(0, 2, size=N), RNG.integers(0, 2, size=N)
    assert metrics.accuracy(labels, guess, w) == pytest.approx(
        metrics.accuracy(labels[rows], guess[rows]), rel=1e-12)


def test_sums_over_batches_equal_the_metric_of_all_rows() -> None:
    # What fit does batch by batch and what MPI does rank by rank: add the stats.
    y, pred = _regression(2)
    for name in ("mse", "rmse", "mae", "r2"):
        m = metrics.get(name)
        parts = [m.stats(y[a:b], pred[a:b], W[a:b]) for a, b in ((0, 10), (10, 11), (11, N))]
        assert m.result(sum(parts)) == pytest.approx(m(y, pred, W), rel=1e-10), name


def test_worked_by_hand() -> None:
    # errors -1, 0, 2: squares 1, 0, 4 -> MSE 5/3; |e| 1, 0, 2 -> MAE 1;
    # mean of y = 2, SS_tot = 1 + 0 + 1 = 2, SS_res = 5 -> R^2 = 1 - 5/2 = -1.5
    y, pred = [1.0, 2.0, 3.0], [0.0, 2.0, 5.0]
    assert metrics.mse(y, pred) == pytest.approx(5 / 3)
    assert metrics.mae(y, pred) == pytest.approx(1.0)
    assert metrics.r2(y, pred) == pytest.approx(-1.5)
    # weights 2, 1, 1: MSE (2*1 + 0 + 4) / 4 = 1.5
    assert metrics.mse(y, pred, [2, 1, 1]) == pytest.approx(1.5)


@pytest.mark.parametrize("w, match", [
    ([1.0, -1.0, 1.0], r"sample_weight\[1\] is -1.0"),
    ([1.0, np.nan, 1.0], r"sample_weight\[1\] is nan"),
    ([0.0, 0.0, 0.0], "every weight is zero"),
    ([1.0, 1.0], r"shape \(2,\) but there are 3 examples"),
    ("abc", "must be a sequence of numbers"),
])
def test_bad_sample_weights_are_refused(w: object, match: str) -> None:
    with pytest.raises(DataError, match=match):
        metrics.mse([1.0, 2.0, 3.0], [1.0, 2.0, 3.0], w)


def test_bad_inputs_name_what_is_wrong() -> None:
    with pytest.raises(ShapeError, match="y_true has shape"):
        metrics.mse([1.0, 2.0], [1.0, 2.0, 3.0])
    with pytest.raises(DataError, match=r"class labels 0\.\.1"):
        metrics.log_loss([0, 2], [[0.5, 0.5], [0.5, 0.5]])
    with pytest.raises(ConfigError, match="unknown metric 'f1'; choose one of accuracy"):
        metrics.get("f1")


def test_reports() -> None:
    rep = metrics.regression_metrics([1.0, 3.0], [2.0, 3.0])
    assert set(rep) == {"mse", "rmse", "mae", "r2", "n"} and rep["n"] == 2
    rep = metrics.classification_metrics([0, 1, 1], [[0.9, 0.1], [0.4, 0.6], [0.7, 0.3]])
    assert rep["accuracy"] == pytest.approx(2 / 3) and rep["n"] == 3
    assert rep["log_loss"] == pytest.approx(-np.mean(np.log([0.9, 0.6, 0.3])))


def test_unweighted_accuracy_of_one_label_each_equals_the_weighted_sum():
    # the count of hits (the unweighted path) against the weighted formula with unit weights
    rng = np.random.default_rng(3)
    for n in (0, 1, 7, 1000):
        t, p = rng.integers(0, 3, n), rng.integers(0, 3, n)
        fast = metrics.METRICS["accuracy"].stats(t, p, None)
        weighted = metrics.METRICS["accuracy"].stats(t, p, np.ones(n))
        assert fast.tolist() == weighted.tolist()
        assert fast.dtype == weighted.dtype
