"""A classifier's report beyond accuracy: the majority-class baseline, balanced accuracy,
per-class precision / recall / F1 with support, ROC AUC for two classes and the confusion
matrix, computed with NumPy on host arrays of class codes (0 .. C-1).

Accuracy alone hides a lazy model: on a table where 96.9% of the rows are "No", 97.5% is
barely better than always answering "No".  :func:`class_report` puts the numbers that show
it side by side.  Each function agrees with the scikit-learn function of the same name
(``confusion_matrix``, ``precision_recall_fscore_support`` with ``zero_division=0``,
``balanced_accuracy_score``, ``roc_auc_score``), including its edge cases: a class never
predicted has precision 0, a class absent from the rows has no recall in the balanced mean,
tied scores count half in the AUC.

>>> confusion_matrix([0, 0, 1, 1], [0, 1, 1, 1]).tolist()        # rows: true, columns: predicted
[[1, 1], [0, 2]]
>>> balanced_accuracy([0, 0, 0, 1], [0, 0, 0, 0])                # recall 1 and 0
0.5
>>> roc_auc([0, 0, 1, 1], [0.1, 0.4, 0.4, 0.8])                  # (1 + 1 + 0.5 + 1) / 4
0.875
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import DataError, ShapeError

__all__ = ["ClassReport", "balanced_accuracy", "class_report", "confusion_matrix",
           "majority_class", "precision_recall_f1", "roc_auc"]

Array = np.ndarray


def _codes(a: Any, name: str) -> Array:
    """``a`` as a vector of class codes (whole numbers >= 0)."""
    c = np.asarray(a)
    if c.ndim == 2 and c.shape[1] == 1:
        c = c[:, 0]
    if c.ndim != 1:
        raise ShapeError(f"{name} must hold one class code per example, got shape {c.shape}")
    if c.size and ((c.dtype.kind not in "iub" and not np.all(c == np.round(c)))
                   or c.min() < 0):
        raise DataError(f"{name} must hold class codes 0, 1, 2...; got {c[:5].tolist()}...")
    return c.astype(np.int64)


def _pair(y_true: Any, y_pred: Any) -> tuple[Array, Array]:
    t, p = _codes(y_true, "y_true"), _codes(y_pred, "y_pred")
    if t.shape != p.shape:
        raise ShapeError(f"y_true has {len(t)} labels but y_pred has {len(p)}; give one "
                         "predicted class per example")
    return t, p


def confusion_matrix(y_true: Any, y_pred: Any, n_classes: int | None = None) -> Array:
    """Counts of (true class, predicted class): row i, column j counts the rows of class i
    predicted as j.  ``n_classes`` fixes the size (classes absent from both give zero rows
    and columns); by default it is one more than the largest code seen."""
    t, p = _pair(y_true, y_pred)
    k = n_classes if n_classes is not None else int(max(t.max(initial=-1),
                                                        p.max(initial=-1)) + 1)
    if t.size and max(t.max(), p.max()) >= k:
        raise DataError(f"a class code is {max(t.max(), p.max())} but there are {k} classes")
    return np.bincount(t * k + p, minlength=k * k).reshape(k, k)


def precision_recall_f1(y_true: Any, y_pred: Any, n_classes: int | None = None
                        ) -> tuple[Array, Array, Array, Array]:
    """Per class: precision (of the rows predicted as it, the share that are it), recall (of
    its rows, the share found), F1 (their harmonic mean) and support (its rows).  A ratio
    with nothing to divide is 0, as scikit-learn's ``zero_division=0``.

    >>> [v.tolist() for v in precision_recall_f1([0, 0, 1], [0, 0, 0])]
    [[0.6666666666666666, 0.0], [1.0, 0.0], [0.8, 0.0], [2, 1]]
    """
    cm = confusion_matrix(y_true, y_pred, n_classes)
    hits = np.diag(cm).astype(np.float64)
    predicted, support = cm.sum(axis=0), cm.sum(axis=1)
    precision = np.divide(hits, predicted, out=np.zeros_like(hits), where=predicted > 0)
    recall = np.divide(hits, support, out=np.zeros_like(hits), where=support > 0)
    both = precision + recall
    f1 = np.divide(2 * precision * recall, both, out=np.zeros_like(hits), where=both > 0)
    return precision, recall, f1, support


def balanced_accuracy(y_true: Any, y_pred: Any) -> float:
    """The mean recall over the classes present in ``y_true``: 1/C for always answering one
    class, whatever the class sizes (NaN for no rows)."""
    cm = confusion_matrix(y_true, y_pred)
    support = cm.sum(axis=1)
    present = support > 0
    if not present.any():
        return float("nan")
    return float(np.mean(np.diag(cm)[present] / support[present]))


def roc_auc(y_true: Any, score: Any) -> float:
    """The area under the ROC curve of two classes (codes 0 and 1) from the scores of class
    1: the chance that a random row of class 1 scores above a random row of class 0, ties
    counting half (the Mann-Whitney U statistic from mid-ranks).  NaN when the rows hold only
    one class, where it is undefined (scikit-learn warns and gives NaN too)."""
    t = _codes(y_true, "y_true")
    s = np.asarray(score, dtype=np.float64).reshape(-1)
    if s.shape != t.shape:
        raise ShapeError(f"y_true has {len(t)} labels but score has {len(s)} values")
    if t.size and t.max() > 1:
        raise DataError("roc_auc is for two classes (codes 0 and 1)")
    n_pos = int(t.sum())
    n_neg = len(t) - n_pos
    if not n_pos or not n_neg:
        return float("nan")
    order = np.argsort(s, kind="mergesort")
    sorted_s = s[order]
    # mid-ranks: every run of tied scores shares the mean of the ranks it spans
    starts = np.flatnonzero(np.r_[True, sorted_s[1:] != sorted_s[:-1]])
    ends = np.r_[starts[1:], len(s)]
    mid = (starts + ends + 1) / 2.0  # ranks are 1-based: mean of starts+1 .. ends
    ranks = np.empty(len(s))
    ranks[order] = np.repeat(mid, ends - starts)
    u = ranks[t == 1].sum() - n_pos * (n_pos + 1) / 2.0
    return float(u / (n_pos * n_neg))


def majority_class(y: Any, n_classes: int | None = None) -> int:
    """The most frequent class code of ``y`` (the lowest code on a tie), the answer of a
    model that always says the same thing (scikit-learn's ``DummyClassifier``)."""
    t = _codes(y, "y")
    if not t.size:
        raise DataError("no rows: the majority class is undefined")
    return int(np.argmax(np.bincount(t, minlength=n_classes or 0)))


@dataclass
class ClassReport:
    """What :func:`class_report` measured on some rows.

    ``baseline_class`` is the class a constant model answers (the training rows' majority
    where known) and ``baseline_accuracy`` its accuracy on these rows; ``roc_auc`` is None
    unless there are two classes and both occur.  ``confusion_matrix[i][j]`` counts rows of
    class i predicted as j."""

    class_names: list[str]
    accuracy: float
    baseline_class: int
    baseline_accuracy: float
    balanced_accuracy: float
    precision: list[float]
    recall: list[float]
    f1: list[float]
    support: list[int]
    confusion_matrix: list[list[int]]
    roc_auc: float | None = None

    @property
    def f1_macro(self) -> float:
        """The mean F1 over the classes that occur in the rows or in the predictions
        (scikit-learn's ``f1_score(average='macro')``)."""
        cm = np.asarray(self.confusion_matrix)
        seen = (cm.sum(axis=0) + cm.sum(axis=1)) > 0
        return float(np.mean(np.asarray(self.f1)[seen])) if seen.any() else float("nan")

    def scores(self) -> dict[str, float]:
        """The report's single numbers, flat (JSON-ready; ``roc_auc`` only where defined)."""
        out = {"baseline_accuracy": self.baseline_accuracy,
               "balanced_accuracy": self.balanced_accuracy, "f1_macro": self.f1_macro}
        if self.roc_auc is not None:
            out["roc_auc"] = self.roc_auc
        return out

    def per_class(self) -> dict[str, Any]:
        """The per-class numbers and the confusion matrix, JSON-ready."""
        return {"classes": list(self.class_names),
                "baseline_class": self.class_names[self.baseline_class],
                "precision": self.precision, "recall": self.recall, "f1": self.f1,
                "support": self.support, "confusion_matrix": self.confusion_matrix}


def class_report(y_true: Any, proba: Any, class_names: list[str] | None = None,
                 baseline_class: int | None = None) -> ClassReport:
    """The report of class probabilities ``proba`` (one row per example, one column per
    class; or, for two classes, the probability of class 1) against true codes ``y_true``.
    The predicted class is the most probable one.  ``baseline_class`` is the class a constant
    model answers (pass the training rows' majority class); by default the majority class of
    these rows.

    >>> r = class_report([0, 0, 0, 1], [[.9, .1], [.8, .2], [.4, .6], [.3, .7]], ["No", "Yes"])
    >>> r.accuracy, r.baseline_accuracy, r.roc_auc, r.recall
    (0.75, 0.75, 1.0, [0.6666666666666666, 1.0])
    """
    p = np.asarray(proba, dtype=np.float64)
    if p.ndim == 1:
        p = np.stack([1.0 - p, p], axis=1)
    t = _codes(y_true, "y_true")
    if p.ndim != 2 or len(p) != len(t):
        raise ShapeError(f"class_report needs one row of class probabilities per example; "
                         f"got shape {np.shape(proba)} for {len(t)} labels")
    k = p.shape[1] if p.shape[1] > 1 else 2
    names = list(class_names) if class_names is not None else [str(i) for i in range(k)]
    if len(names) != k:
        raise ShapeError(f"{len(names)} class names for {k} columns of probabilities")
    pred = p.argmax(axis=1) if p.shape[1] > 1 else (p[:, 0] > 0.5).astype(np.int64)
    cm = confusion_matrix(t, pred, k)
    precision, recall, f1, support = precision_recall_f1(t, pred, k)
    base = majority_class(t, k) if baseline_class is None else int(baseline_class)
    n = len(t)
    auc = roc_auc(t, p[:, 1]) if k == 2 else float("nan")
    return ClassReport(
        names, float(np.trace(cm) / n) if n else float("nan"), base,
        float(support[base] / n) if n else float("nan"), balanced_accuracy(t, pred),
        precision.tolist(), recall.tolist(), f1.tolist(), support.tolist(), cm.tolist(),
        None if np.isnan(auc) else auc)
