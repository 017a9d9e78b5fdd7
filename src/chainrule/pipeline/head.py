"""The output head of a pipeline: a network's raw outputs read as probabilities, classes and
class names, or values in the target's own units (a standardised target's inverse applied).

How outputs become probabilities and classes is :mod:`chainrule.training.tasks`'s rule;
:attr:`Head.readout` states it as data, the task's own fields (which function turns outputs
into probabilities, whether a column is one yes/no decision, where it is cut), for an
exporter that rebuilds it.

>>> from chainrule.training import tasks
>>> head = Head(tasks.get("binary_logits"), ["no", "yes"])
>>> head.predict(np.array([[-2.0], [3.0]])).tolist(), head.readout
(['no', 'yes'], Readout(squash='sigmoid', binary=True, cut=0.0))
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..data.combine import Gatherer, square_safe_unit
from ..training import tasks
from ..training.metrics import classification_metrics, regression_metrics
from .steps import TargetStep

__all__ = ["Head", "Readout", "regression_scores"]


def regression_scores(y_true: Any, y_pred: Any) -> dict[str, float]:
    """``mse``, ``rmse``, ``mae``, ``r2`` and ``n`` of
    :func:`chainrule.training.metrics.regression_metrics`, right at any finite magnitude:
    values whose squares would overflow (targets near 1e300) or vanish (near 1e-300) are
    scored after multiplying by a power of two, which is exact, so RMSE, MAE and R^2 keep
    their digits; MSE, RMSE squared, is then the nearest float64 (inf or 0 where it lies
    beyond float64's range).

    >>> s = regression_scores([1e300, 3e300], [2e300, 3e300])
    >>> s["rmse"] / 1e300, s["r2"], s["mse"]
    (0.7071067811865476, 0.5, inf)
    """
    y = np.asarray(y_true, dtype=np.float64)
    p = np.asarray(y_pred, dtype=np.float64)
    both = np.concatenate([y.ravel(), p.ravel()])
    unit = float(square_safe_unit(both[np.isfinite(both)].reshape(-1, 1))[0])
    if unit == 1.0:
        return regression_metrics(y, p)
    with np.errstate(all="ignore"):
        m = regression_metrics(y * unit, p * unit)
        rmse = np.float64(m["rmse"]) / unit
        return {**m, "mse": float(rmse * rmse), "rmse": float(rmse),
                "mae": float(np.float64(m["mae"]) / unit)}


@dataclass(frozen=True)
class Readout:
    """How a classifier's raw outputs become probabilities and classes: ``squash`` is the
    function applied to them (``"sigmoid"``, ``"softmax"``, or None where the network's last
    layer already gives probabilities); with ``binary`` each column is one yes/no decision,
    decided by output > ``cut`` (0 for a logit, 0.5 for a probability), and one column gives
    the two probabilities [1 - p, p]; otherwise the class is the largest column."""

    squash: str | None
    binary: bool
    cut: float


class Head:
    """A pipeline's output head: the task (how outputs read), the class names of a
    classifier, the target column's name and, for a regression trained on standardised
    targets, the :class:`~chainrule.pipeline.steps.TargetStep` whose inverse gives values in
    the target's units."""

    def __init__(self, task: tasks.Task, class_names: Sequence[str] | None = None,
                 target: str | None = None, scaler: TargetStep | None = None,
                 kind: str | None = None) -> None:
        self.task = task
        self.kind = kind or task.kind
        """What the target column holds, ``classification`` or ``regression`` (as the model
        file says; a file without preprocessing says regression)."""
        self.class_names = list(class_names) if class_names is not None else None
        self.target = target
        self.scaler = scaler

    @property
    def is_classifier(self) -> bool:
        return self.task.is_classifier

    @property
    def readout(self) -> Readout:
        """The task's rule for probabilities and classes, as data (see :class:`Readout`): the
        task's own fields."""
        return Readout(self.task.squash, self.task.binary, self.task.cut)

    # -- fitting: the targets the loss takes ---------------------------------------------------
    def fit(self, y: np.ndarray, comm: Gatherer | None = None) -> Head:
        """Learn what the head needs from the training targets: a regression's mean and
        standard deviation (all the ranks' rows together with ``comm``)."""
        if not self.is_classifier:
            self.scaler = TargetStep().fit(y, comm)
        return self

    def transform(self, y: np.ndarray) -> np.ndarray:
        """Targets as the loss takes them: a regression's standardised, a column of floats
        for one sigmoid decision, class codes otherwise."""
        if self.scaler is not None:
            y = self.scaler.transform(y)
        if self.readout.binary:
            return y.reshape(-1, 1).astype(np.float64)
        return y

    # -- reading outputs ------------------------------------------------------------------------
    def probabilities(self, out: np.ndarray) -> np.ndarray:
        """Class probabilities, one column per class."""
        return self.task.probabilities(out)

    def classes(self, out: np.ndarray) -> np.ndarray:
        """Class codes."""
        return self.task.classes(out)

    def names(self, width: int) -> list[str]:
        """The class names (``"0"``, ``"1"``... for a model saved without them)."""
        return self.class_names or [str(i) for i in range(max(2, width))]

    def values(self, out: np.ndarray) -> np.ndarray:
        """A regression's outputs in the target's units."""
        values = out[:, 0] if out.shape[1] == 1 else out
        return self.scaler.inverse(values) if self.scaler is not None else values

    def predict(self, out: np.ndarray) -> np.ndarray:
        """Class names (an object array) or values, from the raw outputs."""
        if self.is_classifier:
            names = self.names(out.shape[1])
            return np.array([names[int(c)] for c in self.classes(out)], dtype=object)
        return self.values(out)

    def metrics(self, y: np.ndarray, out: np.ndarray) -> dict[str, float]:
        """``accuracy`` and ``log_loss``, or ``mse``, ``rmse``, ``mae``, ``r2`` in the
        target's units, and ``n``, from targets ``y`` and raw outputs ``out``."""
        if self.is_classifier:
            return classification_metrics(y, self.probabilities(out))
        return regression_scores(y, self.values(out))
