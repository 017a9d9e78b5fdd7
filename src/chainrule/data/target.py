"""The target column of a table: :func:`prepare_target` reads it as class codes or numbers;
rows with a missing target are dropped and counted."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import DataError
from .cells import all_numbers, canonical, names_list, source, strings
from .preprocessing import LabelEncoder
from .tabular import quote, record_number

__all__ = ["MAX_CLASSES_FROM_NUMBERS", "TargetColumn", "prepare_target"]

MAX_CLASSES_FROM_NUMBERS = 20
"""A whole-number target with at most this many values is read as classes (``task='auto'``)."""


@dataclass
class TargetColumn:
    """The target of a table: ``y`` (class codes or floats) for the rows kept.

    ``keep`` marks the rows of the table with a target (rows with a missing target are
    dropped: ``dropped`` counts them); ``class_names[k]`` is the label of code k.
    """

    name: str
    task: str
    y: np.ndarray
    keep: np.ndarray
    class_names: list[str] | None = None

    @property
    def dropped(self) -> int:
        """Rows left out because their target is missing."""
        return int((~self.keep).sum())


def prepare_target(frame: Any, target: str, task: str = "auto",
                   class_names: Sequence[str] | None = None) -> TargetColumn:
    """Read the target column: ``task`` is ``classification``, ``regression`` or ``auto`` (a
    target with text is classification, whole numbers with at most 20 distinct values too,
    other numbers regression).  With ``class_names`` (from a saved model) the codes match
    training and an unseen label is an error."""
    if task not in ("auto", "classification", "regression"):
        raise DataError(f"unknown task {quote(task)}; choose one of auto, classification, "
                        "regression")
    if target not in frame.columns:
        raise DataError(f"{source(frame)}no column named {quote(target)}; the columns are "
                        f"{names_list(list(frame.columns))}")
    text = strings(frame[target])
    keep = np.array([t is not None for t in text])
    if not keep.any():
        raise DataError(f"{source(frame)}every value of the target {quote(target)} is missing")
    numbers = np.full(len(text), np.nan)
    numeric = True
    for i, t in enumerate(text):
        if t is None:
            continue
        try:
            numbers[i] = float(t) if "_" not in t else math.nan
        except ValueError:
            numeric = False
            break
        if math.isnan(numbers[i]):
            numeric = False
            break
    if numeric and not np.all(np.isfinite(numbers[keep])):
        i = int(np.flatnonzero(keep & ~np.isfinite(numbers))[0])
        raise DataError(f"{source(frame)}an infinite value {quote(text[i])} at row "
                        f"{record_number(frame, i)}, column {quote(target)} (the target); "
                        "a target must be finite (or missing, then the row is dropped)")
    kept = numbers[keep]
    resolved = task
    if task == "auto":
        whole = numeric and bool(np.all(kept == np.round(kept)))
        few = len(set(text[keep])) <= MAX_CLASSES_FROM_NUMBERS
        resolved = "classification" if (not numeric or (whole and few)) else "regression"
    if resolved == "regression":
        if not numeric:
            i = next(i for i, t in enumerate(text) if t is not None and not all_numbers([t]))
            raise DataError(f"{source(frame)}regression needs a numeric target, but row "
                            f"{record_number(frame, i)}, column {quote(target)} holds "
                            f"{quote(text[i])}")
        return TargetColumn(target, "regression", kept.astype(np.float64), keep)
    labels = [canonical(float(v)) for v in kept] if numeric else list(text[keep])
    enc = LabelEncoder(list(class_names)) if class_names is not None else \
        LabelEncoder().fit(labels)
    codes = {c: i for i, c in enumerate(enc.classes_ or [])}
    rows = np.flatnonzero(keep)
    for pos, lab in enumerate(labels):
        if lab not in codes:
            raise DataError(f"{source(frame)}label {quote(lab)} at row "
                            f"{record_number(frame, int(rows[pos]))}, column {quote(target)} "
                            f"was not seen in training; known labels: {names_list(enc.classes_)}")
    y = np.fromiter((codes[lab] for lab in labels), dtype=np.int64, count=len(labels))
    return TargetColumn(target, "classification", y, keep, list(enc.classes_ or []))
