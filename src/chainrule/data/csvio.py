"""Reading and writing CSV files with the standard library's ``csv`` module (no pandas).

A training file has a header row, numeric feature columns and one named target column.  String
class labels in the target are encoded as 0..k-1 (sorted) and remembered in ``class_names``.
Every problem is reported as a :class:`~chainrule.data.DataError` naming the file, the row
(counted as in a spreadsheet: the header is row 1) and the column.
"""

from __future__ import annotations

import csv
import math
import os
from collections.abc import Sequence
from typing import Any

import numpy as np

from .datasets import Dataset
from .preprocessing import DataError, LabelEncoder

__all__ = ["MISSING", "load_csv", "write_csv"]

MISSING = frozenset({"", "na", "n/a", "nan", "null", "none", "?"})
"""Cell values (compared lower-case, stripped) that count as missing."""

_MAX_CLASSES_FROM_NUMBERS = 20


def _read_rows(path: str | os.PathLike[str], delimiter: str) -> tuple[list[str], list[list[str]]]:
    name = os.fspath(path)
    try:
        with open(name, newline="", encoding="utf-8-sig") as f:
            sample = f.read(4096)
            if "\x00" in sample:
                raise DataError(f"{name}: this is not a text CSV file (it contains NUL bytes)")
            f.seek(0)
            rows = list(csv.reader(f, delimiter=delimiter))
    except UnicodeDecodeError as err:
        raise DataError(f"{name}: not a UTF-8 text file (byte {err.start} cannot be decoded); "
                        "save it as CSV in UTF-8") from None
    except csv.Error as err:
        raise DataError(f"{name}: malformed CSV: {err}") from None
    rows = [r for r in rows if any(cell.strip() for cell in r)]  # skip blank lines
    if not rows:
        raise DataError(f"{name}: the file is empty; expected a header row and data rows")
    header = [h.strip() for h in rows[0]]
    if len(rows) == 1:
        raise DataError(f"{name}: the file has a header but no data rows")
    for i, h in enumerate(header):
        if not h:
            raise DataError(f"{name}: column {i + 1} of the header has no name")
    dupes = sorted({h for h in header if header.count(h) > 1})
    if dupes:
        raise DataError(f"{name}: duplicate column names in the header: {', '.join(dupes)}")
    return header, rows[1:]


def _number(cell: str) -> float | None:
    if "_" in cell:  # Python's float() reads "1_000" as 1000; a spreadsheet reads it as text
        return None
    try:
        v = float(cell)
    except ValueError:
        return None
    return v


def _names(value: Any, what: str) -> list[str]:
    """``value`` as a list of strings, or a DataError (it may come from a model file)."""
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence) or not all(
            isinstance(v, str) for v in value):
        raise DataError(f"{what} must be a list of strings, got {value!r:.80}")
    return list(value)


def load_csv(path: str | os.PathLike[str], target: str | None = None, *,
             features: Sequence[str] | None = None, task: str = "auto",
             class_names: Sequence[str] | None = None, delimiter: str = ",") -> Dataset:
    """Load a CSV file with a header row into a :class:`~chainrule.data.Dataset`.

    - ``target``: the name of the target column (None for a file with features only, as for
      prediction).  ``features``: the feature columns to use, in this order (default: every
      other column).
    - ``task``: ``classification``, ``regression`` or ``auto``: a target with any non-numeric
      value is classification; a numeric target with whole numbers and at most 20 distinct
      values is classification too; otherwise regression.
    - ``class_names``: the known labels (from a saved model), so codes match training; an
      unseen label is an error.

    Missing values (empty, ``NA``, ``NaN``, ``?``, ...) and non-numeric features raise a
    DataError naming the row and column.
    """
    name = os.fspath(path)
    if not isinstance(delimiter, str) or len(delimiter) != 1 or delimiter in "\r\n\"":
        raise DataError(f"delimiter must be one character (not a quote or newline), got "
                        f"{delimiter!r}")
    if target is not None and not isinstance(target, str):
        raise DataError(f"target must be a column name (a string), got {target!r}")
    if task not in ("auto", "classification", "regression"):
        raise DataError(f"unknown task {task!r}; choose one of auto, classification, regression")
    header, rows = _read_rows(path, delimiter)
    index = {h: i for i, h in enumerate(header)}
    if target is not None and target not in index:
        raise DataError(f"{name}: no column named {target!r}; the columns are "
                        f"{', '.join(header)}")
    if features is None:
        features = [h for h in header if h != target]
    else:
        features = _names(features, "features")
        absent = [f for f in features if f not in index]
        if absent:
            raise DataError(f"{name}: missing feature column(s) {', '.join(absent)}; the "
                            f"columns are {', '.join(header)}")
    if not features:
        raise DataError(f"{name}: there are no feature columns besides the target {target!r}")
    X = np.empty((len(rows), len(features)), dtype=np.float64)
    cols = [index[f] for f in features]
    raw_target: list[str] = []
    t = index.get(target) if target is not None else None
    for r, row in enumerate(rows):
        line = r + 2  # the header is line 1
        if len(row) != len(header):
            raise DataError(f"{name}: row {line} has {len(row)} values but the header has "
                            f"{len(header)} columns")
        for j, c in enumerate(cols):
            cell = row[c].strip()
            if cell.lower() in MISSING:
                raise DataError(f"{name}: missing value at row {line}, column "
                                f"{features[j]!r}; fill or drop it before training")
            v = _number(cell)
            if v is None:
                raise DataError(f"{name}: non-numeric value {cell!r} at row {line}, column "
                                f"{features[j]!r}; features must be numbers")
            if not math.isfinite(v):
                kind = "NaN (missing)" if math.isnan(v) else "infinite"
                raise DataError(f"{name}: {kind} value at row {line}, column {features[j]!r}")
            X[r, j] = v
        if t is not None:
            cell = row[t].strip()
            if cell.lower() in MISSING:
                raise DataError(f"{name}: missing target value at row {line}, column "
                                f"{target!r}")
            raw_target.append(cell)
    y: np.ndarray | None = None
    names: list[str] | None = None
    resolved = task
    if target is not None:
        numbers = [_number(c) for c in raw_target]
        numeric = all(v is not None and math.isfinite(v) for v in numbers)
        if task == "auto":
            whole = numeric and all(float(v).is_integer() for v in numbers)  # type: ignore[arg-type]
            few = len(set(raw_target)) <= _MAX_CLASSES_FROM_NUMBERS
            resolved = "classification" if (not numeric or (whole and few)) else "regression"
        if resolved == "regression":
            if not numeric:
                bad = next(i for i, v in enumerate(numbers) if v is None or not math.isfinite(v))
                raise DataError(f"{name}: regression needs a numeric target, but row {bad + 2}, "
                                f"column {target!r} holds {raw_target[bad]!r}")
            y = np.array(numbers, dtype=np.float64)
        else:
            if numeric:  # "1.0" and "1" are the same class
                raw_target = [_canonical(v) for v in numbers]  # type: ignore[arg-type]
            if class_names is not None:
                enc = LabelEncoder(_names(class_names, "class_names"))
            else:
                enc = LabelEncoder().fit(raw_target)
            codes = {c: i for i, c in enumerate(enc.classes_ or [])}
            unseen = next((i for i, c in enumerate(raw_target) if c not in codes), None)
            if unseen is not None:
                raise DataError(f"{name}: label {raw_target[unseen]!r} at row {unseen + 2}, "
                                f"column {target!r} was not seen in training; known labels: "
                                f"{', '.join(enc.classes_ or [])}")
            y = enc.transform(raw_target)
            names = enc.classes_
    return Dataset(X=X, y=y, feature_names=list(features), target=target,
                   task=None if target is None else resolved, class_names=names, name=name)


def _canonical(v: float) -> str:
    return str(int(v)) if float(v).is_integer() else repr(float(v))


def write_csv(path: str | os.PathLike[str], header: Sequence[str],
              rows: Sequence[Sequence[Any]]) -> None:
    """Write ``rows`` under ``header``; floats keep full precision."""
    with open(os.fspath(path), "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(list(header))
        for row in rows:
            w.writerow([repr(float(v)) if isinstance(v, (float, np.floating)) else v
                        for v in row])
