"""The figures of a training run (:mod:`chainrule.plots`), drawn from its fitted pipeline:
the training curves; for a classifier the confusion matrix of the held-out rows and, for two
input features, the decision boundary over the rows.  Nothing is drawn without matplotlib.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from .. import plots
from ..io import writes_to
from .pipeline import Pipeline

__all__ = ["draw"]


def draw(pipeline: Pipeline, history: Any, paths: Mapping[str, str], name: str,
         class_names: Sequence[str] | None, scored: tuple[np.ndarray, np.ndarray],
         points: Sequence[tuple[np.ndarray, np.ndarray]]) -> list[str]:
    """Write the run's figures to ``paths`` (keys ``loss``, ``decision boundary``,
    ``confusion matrix``); returns what was written.  ``scored``: the targets and outputs of
    the rows the confusion matrix counts; ``points``: each rank's encoded rows and targets
    for the decision boundary (empty: none is drawn); ``name`` starts the titles."""
    if not plots.have_matplotlib():
        return []
    path = paths["loss"]
    with writes_to(path):
        written = [plots.plot_history(history, path, title=f"{name}: training curves")]
    if not pipeline.head.is_classifier:
        return written

    def classes(X: np.ndarray) -> np.ndarray:
        return pipeline.class_codes(X, encoded=True)

    if points:
        path = paths["decision boundary"]
        with writes_to(path):
            written.append(plots.plot_decision_boundary(
                classes, np.concatenate([p for p, _ in points]),
                np.concatenate([t for _, t in points]), path, class_names=class_names,
                title=f"{name}: decision boundary (all data)"))
    y_true, out = scored
    path = paths["confusion matrix"]
    with writes_to(path):
        written.append(plots.plot_confusion_matrix(
            y_true, pipeline.classes_of(out), path, class_names=class_names))
    return written
