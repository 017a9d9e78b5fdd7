"""chainrule.sklearn takes scikit-learn's own steps: with the same random_state, the weights
after training equal those of ``sklearn.neural_network`` (cases re-expressed from scikit-learn's
``sklearn/neural_network/tests/test_mlp.py``: solvers, learning-rate schedules, Nesterov
momentum, early stopping, partial_fit, sample weights)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

pytest.importorskip("sklearn")

from sklearn.datasets import load_digits
from sklearn.neural_network import MLPClassifier as SkClassifier
from sklearn.neural_network import MLPRegressor as SkRegressor

from chainrule.sklearn import MLPClassifier, MLPRegressor

X, y = load_digits(n_class=3, return_X_y=True)
X, y = X[:150] / 16, y[:150]


def _max_diff(a, b) -> float:
    return max(float(np.max(np.abs(p - q)))
               for p, q in zip(a.coefs_ + a.intercepts_, b.coefs_ + b.intercepts_))


@pytest.mark.parametrize("settings", [
    dict(solver="sgd", learning_rate_init=0.1),
    dict(solver="sgd", learning_rate_init=0.1, nesterovs_momentum=False),
    dict(solver="sgd", learning_rate_init=0.1, momentum=0),
    dict(solver="sgd", learning_rate="invscaling", learning_rate_init=0.5, power_t=0.3),
    dict(solver="sgd", learning_rate="adaptive", tol=0.05, n_iter_no_change=2,
         learning_rate_init=0.2),
    dict(solver="sgd", batch_size=32, learning_rate_init=0.05, early_stopping=True),
    dict(solver="adam", batch_size=32),
    dict(solver="adam", beta_1=0.5, beta_2=0.9, epsilon=1e-4),
    dict(solver="lbfgs"),
])
def test_classifier_weights_equal_scikit_learns(settings) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ours = MLPClassifier((20,), max_iter=30, random_state=3, **settings).fit(X, y)
        theirs = SkClassifier((20,), max_iter=30, random_state=3, **settings).fit(X, y)
    assert ours.n_iter_ == theirs.n_iter_
    assert _max_diff(ours, theirs) < 1e-9
    if settings.get("early_stopping"):
        np.testing.assert_allclose(ours.validation_scores_, theirs.validation_scores_)
        assert ours.best_loss_ is None and ours.best_validation_score_ == max(
            ours.validation_scores_)


def test_multioutput_regression_and_partial_fit_take_scikit_learns_steps() -> None:
    Y = np.c_[X[:, 10], 2 * X[:, 20]]
    kw = dict(hidden_layer_sizes=(20,), solver="sgd", learning_rate_init=0.05, max_iter=5,
              random_state=3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ours, theirs = MLPRegressor(**kw).fit(X, Y), SkRegressor(**kw).fit(X, Y)
        for _ in range(3):
            ours.partial_fit(X, Y)
            theirs.partial_fit(X, Y)
    assert _max_diff(ours, theirs) < 1e-9
    assert ours.n_iter_ == 1 and ours.n_outputs_ == 2 and ours.out_activation_ == "identity"


def test_integer_sample_weights_equal_duplicated_rows_in_full_batch() -> None:
    w = np.arange(len(X)) % 3
    dup = np.repeat(np.arange(len(X)), w)
    kw = dict(hidden_layer_sizes=(10,), solver="lbfgs", max_iter=20, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        weighted = MLPClassifier(**kw).fit(X, y, sample_weight=w)
        duplicated = MLPClassifier(**kw).fit(X[dup], y[dup])
    assert _max_diff(weighted, duplicated) < 1e-8


def test_float32_stays_float32_and_small_validation_sets_are_refused() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        clf = MLPClassifier((5,), max_iter=5, random_state=0).fit(X.astype(np.float32), y)
    assert {c.dtype for c in clf.coefs_ + clf.intercepts_} == {np.dtype(np.float32)}
    with pytest.raises(ValueError, match="validation set is too small"):
        MLPRegressor(early_stopping=True).fit(X[:2], y[:2].astype(float))
