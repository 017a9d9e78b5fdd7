"""Sample weights in the scikit-learn face: only their ratios count in the loss (the L2
penalty is alpha / (2 sum(w)), as in scikit-learn), so huge weights (1e308) train as their
ratios say instead of giving loss_ = nan, one number stands for every row, and weights too
small for the penalty are refused naming sample_weight."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from chainrule.errors import DataError
from chainrule.sklearn import MLPClassifier, MLPRegressor

X = np.random.default_rng(0).normal(size=(40, 3))
Y_CLASS = (X[:, 0] > 0).astype(np.int64)
Y_VALUE = X[:, 0] - X[:, 1]


def _fit(cls, y, solver, w, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a short run does not converge
        return cls(hidden_layer_sizes=(5,), max_iter=15, random_state=0, solver=solver,
                   **kw).fit(X, y, sample_weight=w)


def _same_weights(a, b) -> None:
    for p, q in zip([*a.coefs_, *a.intercepts_], [*b.coefs_, *b.intercepts_]):
        np.testing.assert_allclose(p, q, rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("cls, y", [(MLPClassifier, Y_CLASS), (MLPRegressor, Y_VALUE)])
@pytest.mark.parametrize("solver", ["adam", "sgd", "lbfgs"])
def test_huge_weights_train_as_their_ratios_say(cls, y, solver) -> None:
    # The penalty alpha / (2 * 40e308) is 0 to double precision: the fit is the unweighted
    # one without a penalty.
    huge = _fit(cls, y, solver, np.full(40, 1e308))
    assert np.isfinite(huge.loss_)
    _same_weights(huge, _fit(cls, y, solver, None, alpha=0.0))
    # rows of weight 0 next to huge ones: as 0 and 1
    w = np.r_[np.zeros(20), np.full(20, 1e308)]
    _same_weights(_fit(cls, y, solver, w, alpha=0.0),
                  _fit(cls, y, solver, np.r_[np.zeros(20), np.ones(20)], alpha=0.0))


@pytest.mark.parametrize("solver", ["adam", "lbfgs"])
def test_one_number_is_every_rows_weight_as_in_scikit_learn(solver) -> None:
    _same_weights(_fit(MLPClassifier, Y_CLASS, solver, 2.5),
                  _fit(MLPClassifier, Y_CLASS, solver, np.full(40, 2.5)))


def test_weights_too_small_for_the_penalty_are_refused_naming_them() -> None:
    with pytest.raises(DataError, match=r"sample_weight\[3\] is 1e-300: with alpha=0.0001 "
                                        r".*exceed float32's range"):
        MLPRegressor(max_iter=5).fit(X.astype(np.float32), Y_VALUE,
                                     sample_weight=np.r_[np.ones(3), 1e-300, np.ones(36)])
    with pytest.raises(ValueError, match="sample_weight"):  # scikit-learn's error type too
        MLPRegressor(max_iter=5).fit(X.astype(np.float32), Y_VALUE, sample_weight=1e-300)


def test_tiny_weights_without_a_penalty_train_as_their_ratios_say() -> None:
    # float32 data: the weights 1e-300 were cast to float32, that is to 0
    def fit(w):
        return MLPRegressor(hidden_layer_sizes=(5,), max_iter=15, random_state=0, alpha=0.0,
                            ).fit(X.astype(np.float32), Y_VALUE, sample_weight=w)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", category=UserWarning)  # not converged
        _same_weights(fit(np.full(40, 1e-300)), fit(None))
