"""chainrule.training.class_metrics against scikit-learn's functions, on random cases and
on the edge cases that trip such code: a class never predicted, one class only in the
scored rows, ties in the scores, a class absent from both."""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterator

import numpy as np
import pytest

from chainrule.errors import DataError, ShapeError
from chainrule.training import class_metrics as cm

metrics = pytest.importorskip("sklearn.metrics")


def _random_case(seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    rng = np.random.default_rng(seed)
    k = int(rng.integers(2, 6))
    n = int(rng.integers(1, 60))
    y = rng.integers(0, k, n)
    proba = rng.dirichlet(np.ones(k), n)
    if seed % 3 == 0:  # coarse probabilities: many exact ties
        proba = np.round(proba, 1) + 1e-9
    return y, proba, proba.argmax(axis=1), k


def _check_against_sklearn(y: np.ndarray, pred: np.ndarray, k: int) -> None:
    labels = list(range(k))
    np.testing.assert_array_equal(cm.confusion_matrix(y, pred, k),
                                  metrics.confusion_matrix(y, pred, labels=labels))
    ours = cm.precision_recall_f1(y, pred, k)
    theirs = metrics.precision_recall_fscore_support(y, pred, labels=labels, zero_division=0)
    for a, b in zip(ours, theirs):
        np.testing.assert_allclose(a, b)
    with _quiet():
        want = metrics.balanced_accuracy_score(y, pred)
    assert cm.balanced_accuracy(y, pred) == pytest.approx(want)


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """scikit-learn warns about classes absent from y_true; the numbers are what we test."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


@pytest.mark.parametrize("seed", range(40))
def test_random_cases_agree_with_sklearn(seed: int) -> None:
    y, proba, pred, k = _random_case(seed)
    _check_against_sklearn(y, pred, k)
    report = cm.class_report(y, proba)
    assert report.accuracy == pytest.approx(metrics.accuracy_score(y, pred))
    with _quiet():
        assert report.f1_macro == pytest.approx(metrics.f1_score(y, pred, average="macro",
                                                                 zero_division=0))


@pytest.mark.parametrize("seed", range(40))
def test_roc_auc_with_ties_agrees_with_sklearn(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = int(rng.integers(2, 80))
    y = rng.integers(0, 2, n)
    y[:2] = [0, 1]  # both classes
    score = rng.integers(0, 4, n) / 4.0 if seed % 2 else rng.random(n)  # ties on odd seeds
    assert cm.roc_auc(y, score) == pytest.approx(metrics.roc_auc_score(y, score))


def test_a_class_never_predicted_has_precision_zero_like_sklearn() -> None:
    y = np.array([0, 1, 2, 2, 1, 0, 2])
    pred = np.array([0, 0, 2, 2, 0, 0, 2])  # class 1 never predicted
    _check_against_sklearn(y, pred, 3)
    p, r, f, s = cm.precision_recall_f1(y, pred, 3)
    assert p[1] == 0 and r[1] == 0 and f[1] == 0 and s[1] == 2


def test_one_class_only_in_the_scored_rows() -> None:
    y = np.zeros(6, dtype=int)
    pred = np.array([0, 0, 1, 0, 1, 0])
    _check_against_sklearn(y, pred, 2)
    report = cm.class_report(y, np.eye(2)[pred], ["No", "Yes"])
    assert report.roc_auc is None and "roc_auc" not in report.scores()
    assert report.balanced_accuracy == pytest.approx(4 / 6)  # the recall of 'No' alone
    assert report.baseline_accuracy == 1.0 and report.support == [6, 0]
    with _quiet():  # scikit-learn warns and gives NaN: undefined, as ours says
        assert np.isnan(metrics.roc_auc_score(y, pred))
    assert np.isnan(cm.roc_auc(y, pred))


def test_a_class_absent_from_rows_and_predictions_is_kept_in_the_table() -> None:
    y, pred = np.array([0, 2, 2, 0]), np.array([0, 2, 0, 0])
    _check_against_sklearn(y, pred, 4)
    report = cm.class_report(y, np.eye(4)[pred])
    assert report.support == [2, 0, 2, 0]
    assert report.f1_macro == pytest.approx(metrics.f1_score(y, pred, average="macro"))


def test_baseline_is_the_given_class_or_the_majority_of_the_rows() -> None:
    # 'always No' on 31 rows of which 30 are No: 30 / 31
    y = np.array([0] * 30 + [1])
    proba = np.tile([0.2, 0.8], (31, 1))  # always says Yes
    report = cm.class_report(y, proba, ["No", "Yes"])
    assert report.baseline_class == 0 and report.baseline_accuracy == pytest.approx(30 / 31)
    assert report.accuracy == pytest.approx(1 / 31)
    assert cm.class_report(y, proba, ["No", "Yes"], baseline_class=1).baseline_accuracy == \
        pytest.approx(1 / 31)
    assert report.per_class()["baseline_class"] == "No"


def test_binary_probability_of_class_one_is_accepted() -> None:
    y = np.array([0, 1, 1, 0])
    p1 = np.array([0.2, 0.7, 0.4, 0.1])
    report = cm.class_report(y, p1)
    assert report.accuracy == 0.75 and report.roc_auc == pytest.approx(
        metrics.roc_auc_score(y, p1))


def test_bad_input_names_the_problem() -> None:
    with pytest.raises(ShapeError, match="one predicted class per example"):
        cm.confusion_matrix([0, 1], [0])
    with pytest.raises(DataError, match="class codes"):
        cm.confusion_matrix([0, -1], [0, 0])
    with pytest.raises(DataError, match="two classes"):
        cm.roc_auc([0, 2], [0.1, 0.2])
    with pytest.raises(ShapeError, match="class names"):
        cm.class_report([0, 1], [[0.5, 0.5], [0.1, 0.9]], ["a"])
