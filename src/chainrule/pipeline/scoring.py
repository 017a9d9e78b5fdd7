"""A fitted pipeline measured on the splits of a table, over every rank's rows.

Each split's numbers come beside a baseline a user can beat by doing nothing: a regression's
beside predicting the training mean, a classifier's beside always answering the training
rows' majority class (:func:`chainrule.training.class_metrics.class_report`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..training.class_metrics import ClassReport, class_report, majority_class
from .head import regression_scores
from .pipeline import Pipeline

__all__ = ["Scores", "gathered_outputs", "score_splits"]


@dataclass
class Scores:
    """Each split's numbers (``metrics``), a regression's baseline numbers (``baseline``), a
    classifier's full reports (``reports``) and each split's targets and raw outputs
    (``outputs``), keyed by the split's name."""

    metrics: dict[str, dict[str, float]] = field(default_factory=dict)
    baseline: dict[str, dict[str, float]] = field(default_factory=dict)
    reports: dict[str, ClassReport] = field(default_factory=dict)
    outputs: dict[str, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)


def score_splits(pipeline: Pipeline, X: np.ndarray, y: np.ndarray,
                 splits: Sequence[tuple[str, np.ndarray, int]], comm: Any) -> Scores:
    """Measure ``pipeline`` on each ``(name, rows, n_rows)`` of ``splits`` (``rows``: this
    rank's positions in ``X`` (encoded) and ``y``; ``n_rows``: the split's rows on every
    rank; a split with none is left out).  The first split scored, the training rows, gives
    the classifier's majority class."""
    scores = Scores()
    head = pipeline.head
    majority = None
    for part, rows, n_rows in splits:
        if not n_rows:
            continue
        y_all, out = gathered_outputs(pipeline, X, y, rows, comm)
        scores.outputs[part] = y_all, out
        scores.metrics[part] = pipeline.metrics(y_all, out)
        if head.is_classifier:
            proba = head.probabilities(out)
            names = head.names(proba.shape[1])
            if majority is None:
                majority = majority_class(y_all, len(names))
            report = class_report(y_all, proba, names, baseline_class=majority)
            scores.reports[part] = report
            scores.metrics[part].update(report.scores())
        if head.scaler is not None:
            scores.baseline[part] = regression_scores(
                y_all, np.full(len(y_all), head.scaler.mean))
    return scores


def gathered_outputs(pipeline: Pipeline, X: np.ndarray, y: np.ndarray, rows: np.ndarray,
                     comm: Any) -> tuple[np.ndarray, np.ndarray]:
    """The targets and raw outputs of ``rows`` of every rank (this rank's ``X[rows]``)."""
    mine = pipeline.outputs(X[rows], encoded=True) if len(rows) else None  # may hold none
    parts = [p for p in comm.gather((y[rows], mine)) if p[1] is not None]
    return (np.concatenate([t for t, _ in parts]),
            np.concatenate([o for _, o in parts]))
