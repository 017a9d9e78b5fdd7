"""Loading a numeric CSV file into a :class:`~chainrule.data.Dataset`, and writing one.

:func:`load_csv` reads through :func:`chainrule.data.tabular.read_frame` (pandas' C engine)
and wants every feature to be a number: it is the strict
loader for arrays.  Tables with text, dates or missing cells go through
:mod:`chainrule.data.columns` (what ``chainrule train --data`` does).  String class labels in
the target are encoded as 0..k-1 (sorted) and remembered in ``class_names``.  Every problem is
a :class:`~chainrule.data.DataError` naming the file, the row (counted as in a spreadsheet: the
header is row 1) and the column.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Sequence
from typing import Any

import numpy as np

from ..errors import DataError
from .cells import names_list, number_matrix, strings
from .columns import prepare_target
from .datasets import Dataset
from .diagnosis import quote, record_number
from .tabular import NA_MARKERS, file_path, read_frame

__all__ = ["MISSING", "load_csv", "write_csv"]

MISSING = frozenset(m.lower() for m in NA_MARKERS)
"""Cell values (compared lower-case, stripped) that count as missing."""


def _names(value: Any, what: str) -> list[str]:
    """``value`` as a list of strings, or a DataError (it may come from a model file)."""
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence) or not all(
            isinstance(v, str) for v in value):
        raise DataError(f"{what} must be a list of strings, got {quote(value, 80)}")
    return list(value)


def load_csv(path: Any, target: str | None = None, *,
             features: Sequence[str] | None = None, task: str = "auto",
             class_names: Sequence[str] | None = None,
             delimiter: str | None = None) -> Dataset:
    """Load a CSV file (or a pandas DataFrame) of numbers into a
    :class:`~chainrule.data.Dataset`.

    - ``target``: the name of the target column (None for a file with features only, as for
      prediction).  ``features``: the feature columns to use, in this order (default: every
      other column); the target cannot be one of them.
    - ``task``: ``classification``, ``regression`` or ``auto``: a target with any non-numeric
      value is classification; a numeric target with whole numbers and at most 20 distinct
      values is classification too; otherwise regression.
    - ``class_names``: the known labels (from a saved model), so codes match training; an
      unseen label is an error.
    - ``delimiter``: default sniffed from the first lines.

    Missing values (empty, ``NA``, ``NaN``, ``?``, ...), infinities and non-numeric features
    raise a DataError naming the row and column.
    """
    if target is not None and not isinstance(target, str):
        raise DataError(f"target must be a column name (a string), got {quote(target)}")
    if task not in ("auto", "classification", "regression"):
        raise DataError(f"unknown task {quote(task)}; choose one of auto, classification, "
                        "regression")
    frame = read_frame(path, delimiter=delimiter)
    name = frame.attrs.get("chainrule_source", "the table")
    header = list(frame.columns)
    if target is not None and target not in header:
        raise DataError(f"{name}: no column named {quote(target)}; the columns are "
                        f"{names_list(header)}")
    if features is None:
        features = [h for h in header if h != target]
    else:
        features = _names(features, "features")
        absent = [f for f in features if f not in header]
        if absent:
            raise DataError(f"{name}: missing feature column(s) {names_list(absent)}; the "
                            f"columns are {names_list(header)}")
        if target is not None and target in features:
            raise DataError(f"{name}: the target {quote(target)} is also listed in features; "
                            "remove it (a model that reads its answer learns nothing)")
    if not features:
        raise DataError(f"{name}: there are no feature columns besides the target "
                        f"{quote(target)}")
    X = number_matrix(frame, features, "features must be numbers (chainrule train --data "
                                       "also reads text columns, as categories)")
    bad = ~np.isfinite(X)
    if bad.any():
        j = int(np.argmax(bad.any(axis=0)))  # the first column with a problem, its first row
        i = int(np.argmax(bad[:, j]))
        kind = "missing" if np.isnan(X[i, j]) else "infinite"
        raise DataError(f"{name}: {kind} value at row {record_number(frame, i)}, column "
                        f"{quote(features[j])}; fill or drop it (chainrule train --data fills "
                        "missing numbers with the median)")
    if target is None:
        return Dataset(X=X, y=None, feature_names=list(features), target=None, task=None,
                       name=name)
    column = frame[target]
    # a numeric column's missing cells are its NaN; text needs the NA markers checked
    absent = column.isna().to_numpy() if column.dtype.kind in "iufb" else \
        np.array([t is None for t in strings(column)], dtype=bool)
    absent_target = np.flatnonzero(absent)
    if len(absent_target):
        raise DataError(f"{name}: missing target value at row "
                        f"{record_number(frame, int(absent_target[0]))}, column {quote(target)}")
    t = prepare_target(frame, target, task,
                       None if class_names is None else _names(class_names, "class_names"))
    return Dataset(X=X, y=t.y, feature_names=list(features), target=target, task=t.task,
                   class_names=t.class_names, name=name)


def write_csv(path: str | os.PathLike[str], header: Sequence[str],
              rows: Sequence[Sequence[Any]]) -> None:
    """Write ``rows`` under ``header``; floats keep full precision."""
    name = file_path(path, "the path of the CSV file to write (a str or pathlib.Path)",
                     "write to")
    with open(name, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(list(header))
        for row in rows:
            w.writerow([repr(float(v)) if isinstance(v, (float, np.floating)) else v
                        for v in row])
