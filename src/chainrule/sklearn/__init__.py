"""scikit-learn estimators backed by chainrule: :class:`MLPClassifier` and :class:`MLPRegressor`.

They keep ``sklearn.neural_network``'s contract: the same parameters and defaults, the same
learned attributes (``coefs_``, ``intercepts_``, ``loss_curve_``, ``n_iter_``,
``validation_scores_``, ...), the same stopping rules and errors, so they drop into
``Pipeline``, ``GridSearchCV`` and ``cross_val_score`` and pass scikit-learn's own MLP tests.
The forward and backward passes run on chainrule tensors, the stochastic solvers are
:class:`chainrule.optim.SGD` and :class:`chainrule.optim.Adam`, and the losses are
chainrule's (from logits, with sample weights).  Importing this module imports scikit-learn
(``pip install chainrule[sklearn]``); nothing else in chainrule imports it.

>>> from sklearn.datasets import load_iris
>>> from sklearn.pipeline import make_pipeline
>>> from sklearn.preprocessing import StandardScaler
>>> X, y = load_iris(return_X_y=True)
>>> clf = make_pipeline(StandardScaler(), MLPClassifier((16,), learning_rate_init=0.01,
...                                                   max_iter=300, random_state=0))
>>> bool(clf.fit(X, y).score(X, y) > 0.9)
True

With the same ``random_state`` they take scikit-learn's steps (same initial weights, same
shuffles, same SGD, Nesterov, Adam and learning-rate schedules, to rounding).  Where the
arithmetic differs, it follows chainrule's definitions:

* The classification losses are computed from logits, so no probability is clipped.
* With several regression outputs the reported loss is the squared error summed over outputs
  (halved), the quantity whose gradient both implementations follow.
* "Did it improve" is chainrule's one rule (:mod:`chainrule.optim.monitor`): a value improves
  when it beats the best by more than ``tol``; a tie, or NaN, does not improve.
"""

from .classifier import MLPClassifier
from .params import InvalidParameterError
from .regressor import MLPRegressor

__all__ = ["InvalidParameterError", "MLPClassifier", "MLPRegressor"]
