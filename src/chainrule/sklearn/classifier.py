"""scikit-learn's ``MLPClassifier`` trained by chainrule."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from sklearn.base import ClassifierMixin
from sklearn.preprocessing import LabelBinarizer
from sklearn.utils.metaestimators import available_if
from sklearn.utils.multiclass import check_classification_targets, type_of_target, unique_labels
from sklearn.utils.validation import column_or_1d, validate_data

from ..errors import DataError
from ..training import metrics, tasks
from .base import BaseMLP

__all__ = ["MLPClassifier"]

Array = np.ndarray


class MLPClassifier(ClassifierMixin, BaseMLP):
    """A multilayer perceptron classifier, scikit-learn's ``MLPClassifier`` trained by chainrule.

    Two classes use one logistic output, more use softmax, and a label-indicator matrix
    (multilabel) one logistic output per label; the loss is the matching cross-entropy, from
    logits.  Solvers ``'adam'`` (default), ``'sgd'`` (Nesterov momentum by default) and
    ``'lbfgs'`` (SciPy's L-BFGS-B, full batch).  Learned: ``classes_``, ``coefs_``,
    ``intercepts_`` (assignable), ``loss_``, ``loss_curve_``, ``best_loss_``,
    ``validation_scores_``, ``best_validation_score_``, ``n_iter_`` (this fit's epochs),
    ``t_``, ``n_layers_``, ``n_outputs_``, ``out_activation_``, ``n_features_in_``.

    >>> clf = MLPClassifier((8,), solver="lbfgs", random_state=0)
    >>> clf.fit([[0, 0], [0, 1], [1, 0], [1, 1]], ["no", "yes", "yes", "no"]).n_layers_
    3
    """

    def _output_activation(self) -> str:
        binarizer = self._label_binarizer
        return "softmax" if binarizer.y_type_ == "multiclass" else "logistic"

    def _validate_input(self, X: Any, y: Any, incremental: bool,
                        reset: bool) -> tuple[Array, Array]:
        X, y = validate_data(self, X, y, accept_sparse=["csr", "csc"], multi_output=True,
                             dtype=(np.float64, np.float32), reset=reset)
        if y.ndim == 2 and y.shape[1] == 1:
            y = column_or_1d(y, warn=True)
        check_classification_targets(y)
        if not hasattr(self, "classes_") or (not self.warm_start and not incremental):
            self._label_binarizer = LabelBinarizer().fit(y)
            self.classes_ = self._label_binarizer.classes_
        else:
            classes = unique_labels(y)
            if self.warm_start:
                if set(classes) != set(self.classes_):
                    raise DataError("warm_start can only be used where `y` has the same "
                                    "classes as in the previous call to fit. Previously got "
                                    f"{self.classes_}, `y` has {classes}; fit with "
                                    "warm_start=False to start afresh")
            elif len(np.setdiff1d(classes, self.classes_, assume_unique=True)):
                raise DataError(f"`y` has classes not in `self.classes_`. `self.classes_` has "
                                f"{self.classes_}. 'y' has {classes}; pass every class to the "
                                "first partial_fit call")
        return X, self._label_binarizer.transform(y).astype(X.dtype)

    def _score_arrays(self, X: Array, Y: Array, w: Array | None) -> float:
        z = self._raw_output(X)
        if not np.isfinite(z).all():
            return math.nan
        truth = self._label_binarizer.inverse_transform(Y)
        guess = self._classes_from(z)
        if np.ndim(truth) == 2:  # multilabel: a row counts only when every label is right
            _, codes = np.unique(np.vstack([truth, guess]), axis=0, return_inverse=True)
            codes = codes.reshape(-1)
            truth, guess = codes[:len(truth)], codes[len(truth):]
        return metrics.accuracy(truth, guess, sample_weight=w)

    def _classes_from(self, z: Array) -> Array:
        # A logit above 0 is a probability above 0.5: threshold the logits, with no rounding.
        return self._label_binarizer.inverse_transform(z, threshold=0.0)

    def partial_fit(self, X: Any, y: Any, sample_weight: Any = None,
                    classes: Any = None) -> MLPClassifier:
        """One epoch over ``(X, y)``, continuing from the current weights.  The first call
        needs ``classes`` (every label that will ever appear); ``n_iter_`` is then 1."""
        self._check_solver()
        if getattr(self, "classes_", None) is None:
            if classes is None:
                raise DataError("classes must be passed on the first call to partial_fit, "
                                "e.g. classes=np.unique(y_all)")
            self._label_binarizer = LabelBinarizer()
            self._label_binarizer.fit(y if type_of_target(y).startswith("multilabel")
                                      else classes)
            self.classes_ = self._label_binarizer.classes_
        elif classes is not None and not np.array_equal(self.classes_, unique_labels(classes)):
            raise DataError(f"classes={np.asarray(classes)!r} is not the same as on the first "
                            f"call to partial_fit, which had {self.classes_}")
        return self._fit(X, y, sample_weight, incremental=True)

    partial_fit = available_if(BaseMLP._check_solver)(partial_fit)  # type: ignore[assignment]

    def predict(self, X: Any) -> Array:
        """The predicted class of each row (a 0/1 row per example for multilabel targets)."""
        return self._classes_from(self._raw_output(self._check_input(X)))

    def predict_proba(self, X: Any) -> Array:
        """Class probabilities, one column per entry of ``classes_`` (rows sum to 1, except
        for multilabel targets, where each column is one label's probability)."""
        z = self._raw_output(self._check_input(X))
        if len(self.classes_) == 1:  # one class seen: it is certain
            return np.ones((len(z), 1), dtype=z.dtype)
        task = tasks.get("multiclass" if self.out_activation_ == "softmax" else "binary_logits")
        return task.probabilities(z).astype(z.dtype, copy=False)

    def predict_log_proba(self, X: Any) -> Array:
        """``log(predict_proba(X))`` (-inf where a probability rounds to 0)."""
        with np.errstate(divide="ignore"):
            return np.log(self.predict_proba(X))

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_label = True
        return tags
