"""Standardising features to mean 0 and standard deviation 1 (:class:`StandardScaler`), a
pipeline step that a model file stores as plain JSON-ready numbers.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from ..errors import DataError
from .checks import check_features
from .combine import Gatherer, agreed_mean_std, mean_std

__all__ = ["StandardScaler"]


class StandardScaler:
    """Shift and scale each feature to mean 0 and standard deviation 1, fitted on training data.

    Constant features keep a scale of 1 (they become 0, never NaN).  It is a step of a
    :class:`chainrule.pipeline.Pipeline` (stored in a model file as ``scaler``).

    >>> s = StandardScaler().fit(np.array([[0.0, 5.0], [2.0, 5.0]]))
    >>> s.transform(np.array([[1.0, 5.0], [3.0, 6.0]]))
    array([[0., 0.],
           [2., 1.]])
    """

    kind: ClassVar[str] = "scaler"
    """The step's name in a model file."""
    reads_table: ClassVar[bool] = False
    """Whether the step reads table rows (it takes numbers)."""

    def __init__(self) -> None:
        self.mean_: np.ndarray | None = None
        self.scale_: np.ndarray | None = None

    def fit(self, X: np.ndarray, comm: Gatherer | None = None) -> StandardScaler:
        """Learn each column's mean and standard deviation; returns self.

        With ``comm`` (a communicator whose ``gather`` returns every rank's value), ``X`` is
        this rank's share of the training rows and every rank gets the statistics of all
        the shares together."""
        X = check_features(X)
        # exactly X.mean/X.std for float64 columns; near 1e200 or 1e-200 (whose squares
        # overflow or vanish) measured after an exact power of two
        mean, std, _ = mean_std(X) if comm is None else agreed_mean_std(X, comm)
        self.mean_ = mean.astype(X.dtype, copy=False)
        std = std.astype(X.dtype, copy=False)
        self.scale_ = np.where(std > 0, std, 1.0)
        return self

    def _check(self, X: np.ndarray) -> np.ndarray:
        if self.mean_ is None or self.scale_ is None:
            raise DataError("StandardScaler is not fitted yet; call fit(X_train) first")
        return check_features(X, n_features=len(self.mean_))

    def transform(self, X: np.ndarray) -> np.ndarray:
        """Standardise ``X`` with the fitted statistics.  A value whose distance from the
        mean passes the float range (a column near +-1e308) is standardised as
        ``x / scale - mean / scale``; one that stays beyond it raises a DataError naming its
        column."""
        X = self._check(X)
        assert self.mean_ is not None and self.scale_ is not None
        with np.errstate(over="ignore", invalid="ignore"):
            Z = (X - self.mean_) / self.scale_
            bad = ~np.isfinite(Z)
            if bad.any():
                rows, cols = np.nonzero(bad)
                Z[rows, cols] = X[rows, cols] / self.scale_[cols] - \
                    self.mean_[cols] / self.scale_[cols]
                bad = ~np.isfinite(Z) & np.isfinite(X)
        if bad.any():
            r, c = (int(v) for v in np.argwhere(bad)[0])
            raise DataError(f"standardising column {c} gives a value beyond the float range "
                            f"(row {r}: {float(X[r, c])!r}, column mean "
                            f"{float(self.mean_[c])!r}, standard deviation "
                            f"{float(self.scale_[c])!r}); rescale that column (divide it by "
                            "a power of ten) or leave standardisation off")
        return Z

    def fit_transform(self, X: np.ndarray, comm: Gatherer | None = None) -> np.ndarray:
        """``fit(X, comm)`` then ``transform(X)``: under MPI (``comm``) this rank's share
        standardised with the statistics of all the shares."""
        return self.fit(X, comm).transform(X)

    def inverse_transform(self, X: np.ndarray) -> np.ndarray:
        """Undo :meth:`transform`."""
        X = self._check(X)
        return X * self.scale_ + self.mean_

    inverse = inverse_transform

    def to_dict(self) -> dict[str, list[float]]:
        """The fitted statistics as lists of floats (JSON-ready)."""
        if self.mean_ is None or self.scale_ is None:
            raise DataError("StandardScaler is not fitted yet")
        return {"mean": [float(v) for v in self.mean_], "scale": [float(v) for v in self.scale_]}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> StandardScaler:
        """Rebuild a fitted scaler from :meth:`to_dict`'s output, checking it."""
        if not isinstance(d, dict):
            raise DataError(f"invalid scaler description: expected a dict with 'mean' and "
                            f"'scale', got {type(d).__name__}")
        try:
            mean = np.asarray(d["mean"], dtype=np.float64)
            scale = np.asarray(d["scale"], dtype=np.float64)
        except (KeyError, TypeError, ValueError) as err:
            raise DataError(f"invalid scaler description: {err}") from None
        if mean.ndim != 1 or mean.shape != scale.shape or not np.all(np.isfinite(mean)) or not (
                np.all(np.isfinite(scale)) and np.all(scale > 0)):
            raise DataError("invalid scaler description: mean and scale must be equally long "
                            "lists of finite numbers, scale positive")
        s = cls()
        s.mean_, s.scale_ = mean, scale
        return s
