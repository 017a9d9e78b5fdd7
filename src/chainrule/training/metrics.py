"""Metrics: accuracy, log loss, MSE, RMSE, MAE and R^2, with sample weights, in one place.

:func:`chainrule.fit`, :func:`chainrule.evaluate`, the command line and the scikit-learn face
all report these numbers from here, so they agree with each other and with scikit-learn's
``accuracy_score``, ``log_loss``, ``mean_squared_error``, ``root_mean_squared_error``,
``mean_absolute_error`` and ``r2_score`` (for several outputs: the plain mean over outputs,
scikit-learn's ``multioutput='uniform_average'``).

Each metric is a :class:`Metric` that turns a batch into a short vector of *sums*
(:meth:`Metric.stats`) and those sums into the number (:meth:`Metric.result`).  Sums add:
over the batches of an epoch and over the ranks of an MPI job, so a metric computed batch by
batch, or on every rank's shard, equals the metric of all the rows at once.  The functions
:func:`accuracy`, :func:`log_loss`, :func:`mse`, :func:`rmse`, :func:`mae` and :func:`r2` are
``result(stats(...))`` on one batch.

Sample weights follow one definition everywhere in chainrule: the weighted mean
``sum(w_i * l_i) / sum(w_i)``, so integer weights give what duplicated rows give.

>>> import numpy as np
>>> accuracy([0, 1, 1, 0], [0, 1, 0, 0])
0.75
>>> accuracy([0, 1, 1, 0], [0, 1, 0, 0], sample_weight=[1, 1, 2, 0])   # (1 + 1) / 4
0.5
>>> round(r2([1.0, 2.0, 3.0], [1.0, 2.0, 4.0]), 6)                      # 1 - 1 / 2
0.5
>>> get("rmse").name, get("r2").greater_is_better
('rmse', True)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import ConfigError, DataError, ShapeError

__all__ = [
    "METRICS",
    "Metric",
    "accuracy",
    "check_sample_weight",
    "classification_metrics",
    "get",
    "log_loss",
    "mae",
    "mse",
    "r2",
    "regression_metrics",
    "rmse",
]

Array = np.ndarray


def check_sample_weight(sample_weight: Any, n: int, name: str = "sample_weight") -> Array:
    """``sample_weight`` as a float64 vector of ``n`` finite weights >= 0 with a positive sum
    (None gives ones); DataError naming the first bad entry otherwise.

    >>> check_sample_weight(None, 3)
    array([1., 1., 1.])
    >>> check_sample_weight([1, -1], 2)
    Traceback (most recent call last):
    ...
    chainrule.errors.DataError: sample_weight[1] is -1.0; weights must be finite and >= 0
    """
    if sample_weight is None:
        return np.ones(n)
    try:
        w = np.asarray(sample_weight, dtype=np.float64)
    except (TypeError, ValueError):
        raise DataError(f"{name} must be a sequence of numbers, got "
                        f"{type(sample_weight).__name__}") from None
    if w.ndim == 2 and w.shape[1] == 1:
        w = w[:, 0]
    if w.shape != (n,):
        raise DataError(f"{name} has shape {w.shape} but there are {n} examples; give one "
                        "weight per example")
    bad = ~np.isfinite(w) | (w < 0)
    if bad.any():
        i = int(np.argmax(bad))
        raise DataError(f"{name}[{i}] is {w[i]}; weights must be finite and >= 0")
    if n and not w.max() > 0:  # not the sum: 1e308 + 1e308 overflows
        raise DataError(f"{name}: every weight is zero; at least one must be positive")
    return w


def _columns(a: Any, name: str) -> Array:
    a = np.asarray(a, dtype=np.float64)
    if a.ndim == 0:
        raise ShapeError(f"{name} must hold one value per example, got a scalar")
    return a if a.ndim == 2 else a.reshape(a.shape[0], int(np.prod(a.shape[1:])))


def _pair(y_true: Any, y_pred: Any) -> tuple[Array, Array]:
    t, p = _columns(y_true, "y_true"), _columns(y_pred, "y_pred")
    if t.shape != p.shape:
        raise ShapeError(f"y_true has shape {np.shape(y_true)} but y_pred has "
                         f"{np.shape(y_pred)}; give one prediction per target value")
    return t, p


def _labels(a: Any, name: str) -> Array:
    a = np.asarray(a)
    if a.ndim == 2 and a.shape[1] == 1:
        a = a[:, 0]
    if a.ndim == 0:
        raise ShapeError(f"{name} must hold one label per example, got a scalar")
    return a


def _weights(w: Array | None, n: int) -> Array:
    return np.ones(n) if w is None else w


@dataclass(frozen=True)
class Metric:
    """A metric as additive sums: ``stats(y_true, y_pred, w)`` for a batch, ``result(sums)``
    for the number.  ``needs`` says what ``y_pred`` is: ``"classes"`` (predicted labels),
    ``"probabilities"`` (one row of class probabilities per example) or ``"values"``
    (regression outputs)."""

    name: str
    needs: str
    greater_is_better: bool
    stats: Callable[[Any, Any, Array | None], Array]
    result: Callable[[Array], float]

    def __call__(self, y_true: Any, y_pred: Any, sample_weight: Any = None) -> float:
        n = len(np.asarray(y_true)) if np.ndim(y_true) else 0
        w = None if sample_weight is None else check_sample_weight(sample_weight, n)
        return self.result(self.stats(y_true, y_pred, w))


# -- classification ------------------------------------------------------------------------------
def _accuracy_stats(y_true: Any, y_pred: Any, w: Array | None) -> Array:
    t, p = _labels(y_true, "y_true"), _labels(y_pred, "y_pred")
    if t.shape != p.shape:
        raise ShapeError(f"y_true has shape {t.shape} but y_pred has {p.shape}; give one "
                         "predicted class per example")
    if w is None and t.ndim == 1:
        # one class per example, unweighted: the count of hits is the same sum of ones and
        # zeros as below, exactly (whole numbers below 2**53), at a fifth of the cost
        return np.array([float(np.count_nonzero(t == p)), float(len(t))])
    # Several columns (one 0/1 decision each): an example counts by the share it got right.
    correct = (t == p).reshape(len(t), -1).mean(axis=1) if t.size else np.zeros(len(t))
    w = _weights(w, len(t))
    return np.array([float(w @ correct), float(w.sum())])


def _log_loss_stats(y_true: Any, y_pred: Any, w: Array | None) -> Array:
    t = _labels(y_true, "y_true")
    proba = np.asarray(y_pred, dtype=np.float64)
    if proba.ndim == 1:  # the probability of class 1, as scikit-learn accepts
        proba = np.stack([1.0 - proba, proba], axis=1)
    if proba.ndim != 2 or len(proba) != len(t):
        raise ShapeError(f"log loss needs one row of class probabilities per example; got "
                         f"shape {np.shape(y_pred)} for {len(t)} labels")
    if t.dtype.kind == "f":
        if not np.all(t == np.round(t)):
            raise DataError("log loss needs integer class labels 0..C-1 in y_true")
        t = t.astype(np.int64)
    if t.dtype.kind not in "iub" or (t.size and (t.min() < 0 or t.max() >= proba.shape[1])):
        raise DataError(f"log loss needs class labels 0..{proba.shape[1] - 1} in y_true")
    eps = np.finfo(np.float64).eps  # scikit-learn's clipping, so log(0) never appears
    p = np.clip(proba[np.arange(len(t)), t.astype(np.intp)], eps, 1 - eps)
    w = _weights(w, len(t))
    return np.array([float(w @ -np.log(p)), float(w.sum())])


def _mean_result(s: Array) -> float:
    return float(s[0] / s[1]) if s[1] > 0 else float("nan")


# -- regression --------------------------------------------------------------------------------
def _error_stats(power: int) -> Callable[[Any, Any, Array | None], Array]:
    def stats(y_true: Any, y_pred: Any, w: Array | None) -> Array:
        t, p = _pair(y_true, y_pred)
        err = np.abs(p - t) if power == 1 else (p - t) ** 2
        w = _weights(w, len(t))
        return np.concatenate([w @ err, [w.sum()]])  # per output, then the total weight

    return stats


def _per_output_mean(s: Array) -> Array:
    return s[:-1] / s[-1] if s[-1] > 0 else np.full(len(s) - 1, np.nan)


def _r2_stats(y_true: Any, y_pred: Any, w: Array | None) -> Array:
    t, p = _pair(y_true, y_pred)
    w = _weights(w, len(t))
    return np.concatenate([w @ (p - t) ** 2, w @ t, w @ t**2, [w.sum()]])


def _r2_result(s: Array) -> float:
    k = (len(s) - 1) // 3
    ss_res, sy, syy, total = s[:k], s[k:2 * k], s[2 * k:3 * k], s[-1]
    if not total > 0:
        return float("nan")
    ss_tot = np.maximum(syy - sy**2 / total, 0.0)
    # scikit-learn's rule for a constant target: 1 for a perfect fit, 0 otherwise.
    with np.errstate(divide="ignore", invalid="ignore"):
        score = np.where(ss_tot > 0, 1.0 - ss_res / np.where(ss_tot > 0, ss_tot, 1.0),
                         np.where(ss_res == 0, 1.0, 0.0))
    return float(score.mean())


METRICS: dict[str, Metric] = {
    "accuracy": Metric("accuracy", "classes", True, _accuracy_stats, _mean_result),
    "log_loss": Metric("log_loss", "probabilities", False, _log_loss_stats, _mean_result),
    "mse": Metric("mse", "values", False, _error_stats(2),
                  lambda s: float(_per_output_mean(s).mean())),
    "rmse": Metric("rmse", "values", False, _error_stats(2),
                   lambda s: float(np.sqrt(_per_output_mean(s)).mean())),
    "mae": Metric("mae", "values", False, _error_stats(1),
                  lambda s: float(_per_output_mean(s).mean())),
    "r2": Metric("r2", "values", True, _r2_stats, _r2_result),
}
_ALIASES = {"acc": "accuracy", "mean_squared_error": "mse", "mean_absolute_error": "mae",
            "root_mean_squared_error": "rmse", "r2_score": "r2", "cross_entropy": "log_loss"}


def get(name: str) -> Metric:
    """The :class:`Metric` called ``name`` (see :data:`METRICS`).

    >>> get("f1")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    chainrule.errors.ConfigError: unknown metric 'f1'; choose one of accuracy, log_loss, ...
    """
    key = _ALIASES.get(name, name) if isinstance(name, str) else name
    try:
        return METRICS[key]
    except (KeyError, TypeError):
        raise ConfigError(f"unknown metric {name!r}; choose one of "
                          f"{', '.join(sorted(METRICS))}") from None


def accuracy(y_true: Any, y_pred: Any, sample_weight: Any = None) -> float:
    """The (weighted) share of examples whose predicted class equals the true one."""
    return METRICS["accuracy"](y_true, y_pred, sample_weight)


def log_loss(y_true: Any, proba: Any, sample_weight: Any = None) -> float:
    """Mean negative log-probability of the true class; ``proba`` holds one row of class
    probabilities per example (or, for two classes, the probability of class 1)."""
    return METRICS["log_loss"](y_true, proba, sample_weight)


def mse(y_true: Any, y_pred: Any, sample_weight: Any = None) -> float:
    """Mean squared error (averaged over outputs)."""
    return METRICS["mse"](y_true, y_pred, sample_weight)


def rmse(y_true: Any, y_pred: Any, sample_weight: Any = None) -> float:
    """Root mean squared error (the root per output, then averaged, as scikit-learn does)."""
    return METRICS["rmse"](y_true, y_pred, sample_weight)


def mae(y_true: Any, y_pred: Any, sample_weight: Any = None) -> float:
    """Mean absolute error (averaged over outputs)."""
    return METRICS["mae"](y_true, y_pred, sample_weight)


def r2(y_true: Any, y_pred: Any, sample_weight: Any = None) -> float:
    """Coefficient of determination, 1 - SS_res / SS_tot (averaged over outputs); a constant
    target scores 1 for a perfect fit and 0 otherwise, as in scikit-learn."""
    return METRICS["r2"](y_true, y_pred, sample_weight)


def classification_metrics(y_true: Any, proba: Any, sample_weight: Any = None) -> dict[str,
                                                                                        float]:
    """``accuracy`` and ``log_loss`` of class probabilities ``proba`` (one row per example),
    plus ``n``, the number of examples: what ``chainrule evaluate`` reports.

    >>> classification_metrics([0, 1], [[0.9, 0.1], [0.2, 0.8]])["accuracy"]
    1.0
    """
    proba = np.asarray(proba, dtype=np.float64)
    classes = proba.argmax(axis=1) if proba.ndim == 2 else (proba > 0.5).astype(np.int64)
    return {"accuracy": accuracy(y_true, classes, sample_weight),
            "log_loss": log_loss(y_true, proba, sample_weight), "n": len(proba)}


def regression_metrics(y_true: Any, y_pred: Any, sample_weight: Any = None) -> dict[str, float]:
    """``mse``, ``rmse``, ``mae`` and ``r2``, plus ``n``: what ``chainrule evaluate`` reports
    for regression.

    >>> regression_metrics([1.0, 3.0], [2.0, 3.0])
    {'mse': 0.5, 'rmse': 0.7071067811865476, 'mae': 0.5, 'r2': 0.5, 'n': 2}
    """
    return {**{k: METRICS[k](y_true, y_pred, sample_weight) for k in ("mse", "rmse", "mae",
                                                                       "r2")},
            "n": len(np.asarray(y_true))}
