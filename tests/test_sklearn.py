"""chainrule.sklearn: scikit-learn's own estimator checks, plus the API users rely on."""

from __future__ import annotations

import pickle
import warnings

import numpy as np
import pytest

pytest.importorskip("sklearn")

from sklearn.datasets import load_iris, make_regression
from sklearn.model_selection import GridSearchCV, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import parametrize_with_checks

from chainrule.sklearn import MLPClassifier, MLPRegressor


# The instances scikit-learn's own common tests use for its MLPs (max_iter=100), plus L-BFGS.
@parametrize_with_checks([
    MLPClassifier(max_iter=100),
    MLPRegressor(max_iter=100),
    MLPClassifier(solver="lbfgs", max_iter=100),
])
def test_sklearn_estimator_checks(estimator, check) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ConvergenceWarning on tiny check data sets
        check(estimator)


def _iris() -> tuple[np.ndarray, np.ndarray]:
    X, y = load_iris(return_X_y=True)
    return StandardScaler().fit_transform(X), np.array(["setosa", "versicolor",
                                                        "virginica"])[y]


def test_pipeline_grid_search_and_cross_validation() -> None:
    X, y = load_iris(return_X_y=True)
    pipe = make_pipeline(StandardScaler(), MLPClassifier((16,), learning_rate_init=0.01,
                                                         max_iter=60, random_state=0))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        scores = cross_val_score(pipe, X, y, cv=3)
        grid = GridSearchCV(pipe, {"mlpclassifier__hidden_layer_sizes": [(4,), (16,)]}, cv=3)
        grid.fit(X, y)
    assert scores.mean() > 0.85
    assert grid.best_params_["mlpclassifier__hidden_layer_sizes"] in [(4,), (16,)]
    assert grid.score(X, y) > 0.85


def test_classifier_attributes_probabilities_and_labels() -> None:
    X, y = _iris()
    clf = MLPClassifier((16,), learning_rate_init=0.01, max_iter=300, random_state=0).fit(X, y)
    assert list(clf.classes_) == ["setosa", "versicolor", "virginica"]
    assert len(clf.loss_curve_) == clf.n_iter_ <= 300
    assert clf.loss_curve_[-1] < clf.loss_curve_[0]
    P = clf.predict_proba(X)
    np.testing.assert_allclose(P.sum(axis=1), 1)
    np.testing.assert_array_equal(clf.classes_[P.argmax(axis=1)], clf.predict(X))
    assert clf.score(X, y) > 0.95
    assert [c.shape for c in clf.coefs_] == [(4, 16), (16, 3)]
    assert [b.shape for b in clf.intercepts_] == [(16,), (3,)]


def test_random_state_fixes_everything() -> None:
    X, y = _iris()
    make = lambda rs: MLPClassifier((8,), max_iter=20, random_state=rs)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        a, b, c = make(1).fit(X, y), make(1).fit(X, y), make(2).fit(X, y)
    assert a.loss_curve_ == b.loss_curve_ and a.loss_curve_ != c.loss_curve_


def test_partial_fit_continues_training() -> None:
    X, y = _iris()
    clf = MLPClassifier((16,), learning_rate_init=0.01, random_state=0)
    with pytest.raises(ValueError, match="classes must be passed"):
        clf.partial_fit(X, y)
    for _ in range(30):
        clf.partial_fit(X, y, classes=np.unique(y))
    assert clf.n_iter_ == 1 and len(clf.loss_curve_) == 30  # n_iter_: this call's epochs
    assert clf.loss_curve_[-1] < clf.loss_curve_[0] / 2
    with pytest.raises(ValueError, match="features"):
        clf.partial_fit(X[:, :3], y)


def test_early_stopping_restores_the_best_validation_weights() -> None:
    X, y = _iris()
    clf = MLPClassifier((16,), learning_rate_init=0.05, max_iter=500, early_stopping=True,
                        n_iter_no_change=5, random_state=0).fit(X, y)
    assert clf.n_iter_ < 500
    assert len(clf.validation_scores_) == clf.n_iter_
    assert clf.best_validation_score_ == max(clf.validation_scores_)


def test_alpha_shrinks_the_weights() -> None:
    X, y = _iris()
    norms = []
    for alpha in (0.0, 1.0):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            clf = MLPClassifier((16,), alpha=alpha, max_iter=50, random_state=0).fit(X, y)
        norms.append(sum(float((w**2).sum()) for w in clf.coefs_))
    assert norms[1] < norms[0]


def test_regressor_and_pickle() -> None:
    X, y = make_regression(200, 4, noise=1.0, random_state=0)
    y = (y - y.mean()) / y.std()
    reg = MLPRegressor(hidden_layer_sizes=(32,), learning_rate_init=0.01, max_iter=200,
                       random_state=0).fit(X, y)
    assert reg.predict(X).shape == (200,) and reg.score(X, y) > 0.95
    again = pickle.loads(pickle.dumps(reg))
    np.testing.assert_array_equal(again.predict(X), reg.predict(X))
    Y2 = np.column_stack([y, -y])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        reg2 = MLPRegressor(hidden_layer_sizes=(16,), max_iter=30, random_state=0).fit(X, Y2)
    assert reg2.predict(X).shape == (200, 2)


def test_bad_parameters_are_reported_in_fit() -> None:
    from sklearn.utils._param_validation import InvalidParameterError as SklearnError

    from chainrule.errors import ConfigError

    X, y = _iris()
    for bad in (dict(momentum=5), dict(solver="newton"), dict(activation="swish")):
        with pytest.raises(SklearnError, match=f"'{next(iter(bad))}' parameter") as info:
            MLPClassifier(**bad).fit(X, y)
        assert isinstance(info.value, ConfigError)
