"""A model and its preprocessing as one object: :class:`Pipeline` (steps, network, head).

Rows go through the steps (the table encoder, the feature scaler), the network and the head
(probabilities, classes, or values in the target's units), so predicting, scoring, saving and
exporting see one object.  Its preprocessing is the value of one metadata key of the model
file, ``preprocessing`` (:meth:`Pipeline.to_dict`, read back by :meth:`Pipeline.from_dict`,
see :mod:`chainrule.pipeline.layout`).

>>> from chainrule import nn
>>> from chainrule.data import StandardScaler
>>> from chainrule.training import tasks
>>> X = np.array([[0.0, 1.0], [2.0, 3.0]])
>>> net = nn.Sequential(nn.Linear(2, 1, rng=0), nn.Sigmoid())
>>> pipe = Pipeline([StandardScaler().fit(X)], net, Head(tasks.get("binary"), ["no", "yes"]))
>>> pipe.predict(X).shape, pipe.predict_proba(X).shape
((2,), (2, 2))
>>> Pipeline.from_dict(pipe.to_dict(), net).to_dict() == pipe.to_dict()
True
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import numpy as np

from ..data.checks import check_features
from ..data.csvio import load_csv
from ..data.tabular import read_frame
from ..engine import Tensor, no_grad
from ..engine.backend import dtype_name
from ..errors import ConfigError, DataError
from ..nn import Module
from . import layout
from .head import Head
from .steps import Step

__all__ = ["Pipeline"]

_CHUNK = 8192  # rows through the network at a time


class Pipeline:
    """Preprocessing steps, a network and its output head, used as one.

    ``steps`` run in order: a step that reads table rows (the table encoder) first, then
    those that take the feature matrix (the scaler).  ``feature_names`` names the network's
    inputs (the encoder's columns when there is one).  Rows are a pandas DataFrame or CSV
    path (for a pipeline with a table step: the columns it reads, by name; otherwise the
    columns ``feature_names`` names) or a float array of the network's inputs before the
    scaler.
    """

    def __init__(self, steps: Sequence[Step], network: Module, head: Head,
                 feature_names: Sequence[str] | None = None, where: str = "the model") -> None:
        self.steps = list(steps)
        self.network = network
        self.head = head
        table = self.table
        self.feature_names = list(feature_names) if feature_names is not None else (
            table.feature_names if table is not None else None)
        self.where = where
        network.eval()

    # -- parts ----------------------------------------------------------------------------------
    @property
    def table(self) -> Any:
        """The step that reads table rows (None for a pipeline on arrays)."""
        return next((s for s in self.steps if s.reads_table), None)

    def step(self, kind: str) -> Any:
        """The step of ``kind`` (see :data:`chainrule.pipeline.STEPS`), or None."""
        return next((s for s in self.steps if s.kind == kind), None)

    @property
    def unknown(self) -> dict[str, list[str]]:
        """The categories the last encoded rows held that training had not, by column."""
        table = self.table
        return dict(table.unknown) if table is not None else {}

    @property
    def target_encoded(self) -> list[str]:
        """The table columns target encoded rather than one-hot (their unseen values read
        the rare categories' level, not all zeros)."""
        table = self.table
        return list(table.target_encoded) if table is not None else []

    @property
    def n_inputs(self) -> int:
        """Features the network takes."""
        return int(self.network.parameters()[0].data.shape[1])

    # -- rows in --------------------------------------------------------------------------------
    def encode(self, rows: Any, unknown: str | None = None, *,
               delimiter: str | None = None) -> np.ndarray:
        """The numeric features of ``rows`` (before the steps that take numbers): a table
        step encodes a DataFrame or CSV file by its columns; a pipeline on arrays reads the
        ``feature_names`` columns of one as numbers, or takes an array.  ``unknown``
        overrides the table step's policy for categories not seen in training;
        ``delimiter`` is a CSV file's field separator (default: sniffed)."""
        table = self.table
        if table is not None:
            if isinstance(rows, np.ndarray):
                raise DataError("this model was trained on a table; pass a DataFrame or a "
                                "CSV file with the columns "
                                f"{', '.join(table.input_columns)}")
            return table.transform(read_frame(rows, delimiter=delimiter), unknown)
        if isinstance(rows, (str, os.PathLike)) or (
                not isinstance(rows, np.ndarray) and hasattr(rows, "columns")):
            rows = load_csv(rows, None, features=self.feature_names, delimiter=delimiter).X
        return check_features(rows)

    def read_rows(self, source: Any, unknown: str | None = None, *,
                  delimiter: str | None = None) -> tuple[Any, np.ndarray]:
        """The rows of a CSV file (or DataFrame) as written, every cell the text it holds
        (to write beside the predictions), and their encoded features (:meth:`encode`): a
        table step encodes the rows as read; a pipeline on arrays reads the file's numbers
        as training read them (pandas' parser)."""
        frame = read_frame(source, delimiter=delimiter, raw=True)
        X = self.encode(frame if self.table is not None else source, unknown,
                        delimiter=delimiter)
        return frame, X

    def features(self, X: np.ndarray) -> np.ndarray:
        """The network's input from encoded features: the steps that take numbers, in
        order."""
        X = np.asarray(X, dtype=np.float64)
        if X.ndim != 2 or X.shape[1] != self.n_inputs:
            raise DataError(f"the data has {X.shape[1] if X.ndim == 2 else '?'} feature "
                            f"columns but the model takes {self.n_inputs}; use the same "
                            "feature columns as in training")
        for s in self.steps:
            if not s.reads_table:
                X = s.transform(X)
        return X

    # -- outputs --------------------------------------------------------------------------------
    def outputs(self, rows: Any, *, encoded: bool = False) -> np.ndarray:
        """The network's raw outputs (float64) for ``rows`` (``encoded``: already through
        :meth:`encode`)."""
        X = self.features(rows if encoded else self.encode(rows))
        Z = X.astype(dtype_name(self.network.parameters()[0].data.dtype))
        where = self.network.device  # a network trained on a GPU predicts there
        chunks = []
        with no_grad(), np.errstate(all="ignore"):
            for start in range(0, len(Z), _CHUNK):
                out = self.network(Tensor(Z[start:start + _CHUNK], device=where))
                chunks.append(np.asarray(out.numpy(), dtype=np.float64))
        out = np.vstack(chunks) if chunks else np.empty((0, 0))
        return out.reshape(len(out), -1)

    def classes_of(self, out: np.ndarray) -> np.ndarray:
        """Class codes from raw outputs."""
        return self.head.classes(out)

    def class_codes(self, rows: Any, *, encoded: bool = False) -> np.ndarray:
        """Predicted class codes (0 .. classes - 1, in ``class_names`` order) of ``rows``."""
        return self.head.classes(self.outputs(rows, encoded=encoded))

    def predict_proba(self, rows: Any, *, encoded: bool = False) -> np.ndarray:
        """Class probabilities, one column per class in ``class_names`` order."""
        if not self.head.is_classifier:
            raise ConfigError("a regression model has no class probabilities")
        return self.head.probabilities(self.outputs(rows, encoded=encoded))

    def predict(self, rows: Any, *, encoded: bool = False) -> np.ndarray:
        """Class labels (strings, for classifiers) or values in the target's units."""
        return self.head.predict(self.outputs(rows, encoded=encoded))

    def score(self, rows: Any, y: Any, *, encoded: bool = False) -> dict[str, float]:
        """``accuracy``, ``log_loss`` (classification) or ``mse``, ``rmse``, ``mae``, ``r2``
        (regression, in the target's units), and ``n``.  A classifier's ``y`` holds the class
        labels as :meth:`predict` gives them (or their codes, 0 .. classes - 1)."""
        if self.head.is_classifier:
            y = self._codes(y)
        return self.metrics(y, self.outputs(rows, encoded=encoded))

    def _codes(self, y: Any) -> np.ndarray:
        names = self.head.class_names
        values = np.asarray(y)
        labels = set(map(str, values.ravel()))
        if names is None or (values.dtype.kind in "iu" and not labels <= set(names)):
            return values  # codes already
        where = {name: i for i, name in enumerate(names)}
        codes = np.empty(values.shape, dtype=np.int64)
        for i, v in enumerate(values.ravel()):
            code = where.get(str(v))
            if code is None:
                raise DataError(f"score: the label {v!r} (row {i}) is not one of the model's "
                                f"classes: {', '.join(names)}")
            codes.flat[i] = code
        return codes

    def metrics(self, y: np.ndarray, out: np.ndarray) -> dict[str, float]:
        """:meth:`score`'s numbers from the targets ``y`` and the raw outputs ``out`` of the
        same rows."""
        return self.head.metrics(y, out)

    # -- the model file's preprocessing ---------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """The steps and the head as the model file's ``preprocessing`` value."""
        return layout.write(self.steps, self.head, self.feature_names)

    @classmethod
    def from_dict(cls, d: Any, network: Module, where: str = "the model") -> Pipeline:
        """The pipeline of ``network`` and the ``preprocessing`` value ``d`` of a model file
        (any chainrule's: see :mod:`chainrule.pipeline.layout`); ModelFileError naming
        ``where`` when it is damaged or does not fit the network."""
        steps, head, names = layout.read(d, network, where)
        return cls(steps, network, head, names, where)
