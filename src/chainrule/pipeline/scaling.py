"""The feature scaler ``chainrule train`` fits on a table's training rows.

Every column is standardised (:class:`chainrule.data.scaler.StandardScaler`) except those
whose training values are all 0 or 1 (one-hot categories, true/false columns, missing-value
indicators), which are kept as they are, as scikit-learn's ``ColumnTransformer`` pipelines
keep one-hot columns.  Standardised, an indicator of a rare category becomes a large number
(one row in a hundred: about 10 in that row) that a network fits too eagerly: on ISLP's Wage
table, standardising the one-hot columns costs scikit-learn's own MLP 0.03 R^2.  The fitted
scaler is an ordinary one (mean 0 and scale 1 on the kept columns), so a model file, its
loading and its ONNX export are unchanged.

>>> X = np.array([[0.0, 10.0], [1.0, 30.0], [1.0, 20.0]])
>>> s = fit_scaler(X)
>>> s.mean_.tolist(), np.round(s.scale_, 3).tolist()
([0.0, 20.0], [1.0, 8.165])
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..data.scaler import StandardScaler

__all__ = ["binary_columns", "fit_scaler"]


def binary_columns(X: np.ndarray, comm: Any = None) -> np.ndarray:
    """Whether each column of ``X`` holds only 0 and 1 (with ``comm``: on every rank)."""
    X = np.asarray(X)
    other = np.sum((X != 0) & (X != 1), axis=0).astype(np.float64)
    if comm is not None:
        other = comm.sum(other)
    return other == 0


def fit_scaler(X: np.ndarray, comm: Any = None, *, keep_binary: bool = True
               ) -> StandardScaler:
    """The :class:`~chainrule.data.scaler.StandardScaler` of ``X`` (the training rows; with
    ``comm``, this rank's share of them) that keeps the 0/1 columns as they are (with
    ``keep_binary``; see the module docstring)."""
    scaler = StandardScaler().fit(X, comm)
    if not keep_binary:
        return scaler
    binary = binary_columns(X, comm)
    if not binary.any():
        return scaler
    stats = scaler.to_dict()
    return StandardScaler.from_dict({
        "mean": np.where(binary, 0.0, stats["mean"]).tolist(),
        "scale": np.where(binary, 1.0, stats["scale"]).tolist()})
