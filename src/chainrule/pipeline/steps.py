"""The fitted steps of a pipeline, and the table of them by the name a model file gives them.

A step learns something from the training rows (:meth:`Step.fit`), applies it to any rows
(:meth:`Step.transform`), may undo it (``inverse``) and turns into JSON-ready data and back
(``to_dict`` / ``from_dict``), so a model file carries it without pickle.  ``fit`` takes an
optional communicator (``comm``, whose ``gather`` returns every rank's value in rank order):
under MPI each rank fits on its share of the rows and all ranks end with the statistics of
all the rows together.

================  ========================================  ===================================
kind              step                                      learns
================  ========================================  ===================================
``columns``       :class:`TableStep`                        column kinds, medians, categories
``scaler``        :class:`chainrule.data.StandardScaler`    each feature's mean and std
``target_scaler`` :class:`TargetStep`                       a numeric target's mean and std
================  ========================================  ===================================

>>> sorted(STEPS)
['columns', 'scaler', 'target_scaler']
>>> get("scaler").__name__
'StandardScaler'
>>> get("onehot")  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
chainrule.errors.ConfigError: unknown pipeline step 'onehot'; the steps are columns, scaler, ...
"""

from __future__ import annotations

import math
from typing import Any, ClassVar, Protocol

import numpy as np

from ..data.columns import TableEncoder
from ..data.combine import Gatherer, gatherer
from ..data.diagnosis import quote
from ..data.scaler import StandardScaler
from ..errors import ConfigError, DataError
from ..training.targets import TargetScaler

__all__ = ["STEPS", "Step", "TableStep", "TargetStep", "get"]


class Step(Protocol):
    """What a pipeline step does (scikit-learn's transformer, with a communicator)."""

    kind: ClassVar[str]
    """The step's name in a model file (its key in :data:`STEPS`)."""
    reads_table: ClassVar[bool]
    """Whether it reads table rows (a DataFrame); otherwise it takes a float matrix."""

    def fit(self, x: Any, comm: Gatherer | None = None) -> Step:
        """Learn from the training rows ``x`` (this rank's share under MPI); returns self."""
        ...

    def transform(self, x: Any) -> np.ndarray:
        """``x`` with what was learnt applied."""
        ...

    def to_dict(self) -> dict[str, Any]:
        """The fitted step as JSON-ready data."""
        ...


class TableStep(TableEncoder):
    """The table encoder as a step: table rows in, the float feature matrix out
    (:class:`chainrule.data.columns.TableEncoder`, whose ``fit(frame, comm)``, policy for
    categories not seen in training (``unknown``: ``"zeros"`` or ``"error"``) and
    ``to_dict``/``from_dict`` it keeps).

    >>> import pandas as pd
    >>> from chainrule.data.columns import infer_columns
    >>> rows = pd.DataFrame({"x": [1.0, None, 3.0], "c": ["a", "b", "a"]})
    >>> step = TableStep(infer_columns(rows)).fit(rows)
    >>> step.feature_names, step.transform(rows.head(1)).tolist()
    (['x', 'x (missing)', 'c=a', 'c=b'], [[1.0, 0.0, 1.0, 0.0]])
    >>> TableStep.from_dict(step.to_dict()).feature_names == step.feature_names
    True
    """

    kind: ClassVar[str] = "columns"
    reads_table: ClassVar[bool] = True


class TargetStep:
    """Standardisation of a numeric target (one column): the network trains on
    ``(y - mean) / scale`` and :meth:`inverse` gives its outputs in the target's units.
    The statistics are :class:`chainrule.training.targets.TargetScaler`'s.

    >>> t = TargetStep().fit(np.array([1.0, 3.0]))
    >>> t.to_dict(), t.transform(np.array([3.0])).tolist(), t.inverse(np.array([-1.0])).tolist()
    ({'mean': 2.0, 'scale': 1.0}, [1.0], [1.0])
    """

    kind: ClassVar[str] = "target_scaler"
    reads_table: ClassVar[bool] = False

    def __init__(self, mean: float = 0.0, scale: float = 1.0) -> None:
        self.scaler = TargetScaler(np.array([float(mean)]), np.array([float(scale)]))

    @property
    def mean(self) -> float:
        return float(self.scaler.mean[0])

    @property
    def scale(self) -> float:
        return float(self.scaler.scale[0])

    def fit(self, x: Any, comm: Gatherer | None = None) -> TargetStep:
        """Learn the mean and standard deviation of the training targets ``x`` (all the
        ranks' rows together with ``comm``)."""
        c = gatherer(comm)
        y = np.asarray(x, dtype=np.float64).reshape(len(x), -1)
        if y.shape[1] != 1:
            raise DataError(f"TargetStep standardises one target column, got {y.shape[1]}")
        self.scaler = TargetScaler.fit(y, lambda a: np.sum(c.gather(a), axis=0))
        return self

    def transform(self, x: Any) -> np.ndarray:
        """Targets in standard units."""
        return self.scaler.transform(np.asarray(x, dtype=np.float64))

    def inverse(self, x: Any) -> np.ndarray:
        """Outputs in the target's units."""
        return self.scaler.inverse(np.asarray(x, dtype=np.float64))

    def to_dict(self) -> dict[str, float]:
        return {"mean": self.mean, "scale": self.scale}

    @classmethod
    def from_dict(cls, d: Any) -> TargetStep:
        """Rebuild from :meth:`to_dict` (a model file's ``target_scaler``), checking it."""
        def number(key: str) -> float | None:
            v = d.get(key) if isinstance(d, dict) else None
            ok = isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
            return float(v) if ok else None

        mean, scale = number("mean"), number("scale")
        if mean is None or scale is None or scale <= 0:
            raise DataError("target_scaler needs a finite mean and a positive finite scale")
        return cls(mean, scale)


STEPS: dict[str, Any] = {step.kind: step for step in (TableStep, StandardScaler, TargetStep)}
"""Every step class by its ``kind``, the name a model file gives it."""


def get(kind: str) -> Any:
    """The step class called ``kind`` in a model file (see :data:`STEPS`)."""
    try:
        return STEPS[kind]
    except (KeyError, TypeError):
        raise ConfigError(f"unknown pipeline step {quote(kind)}; the steps are "
                          f"{', '.join(sorted(STEPS))}") from None
