"""The target column of a table: :func:`prepare_target` reads it as class codes or numbers;
rows with a missing target are dropped and counted.

Under MPI a rank holds only its share of the rows; the task (numbers or not, how many
distinct values) and the class names are decided from every share's evidence, so every rank
reads the target as one process reading all the rows would."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import DataError
from .cells import all_numbers, column_strings, names_list, number_labels, source, to_floats
from .combine import Gatherer, gatherer, union
from .diagnosis import quote, record_number
from .labels import LabelEncoder

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
                   class_names: Sequence[str] | None = None,
                   comm: Gatherer | None = None) -> TargetColumn:
    """Read the target column: ``task`` is ``classification``, ``regression`` or ``auto`` (a
    target with text is classification, whole numbers with at most 20 distinct values too,
    other numbers regression).  With ``class_names`` (from a saved model) the codes match
    training and an unseen label is an error.

    With ``comm`` (a communicator whose ``gather`` returns every rank's value in rank order),
    ``frame`` is this rank's share of the rows: ``y`` and ``keep`` are this share's, ``task``
    and ``class_names`` those of all the shares together.  Every rank makes the same gathers
    and raises only after the last: an error about the whole column on every rank, one about
    a cell on the rank that holds it.

    >>> import pandas as pd
    >>> t = prepare_target(pd.DataFrame({"y": ["b", None, "a"]}), "y")
    >>> t.task, t.class_names, t.y.tolist(), t.dropped
    ('classification', ['a', 'b'], [1, 0], 1)
    """
    if task not in ("auto", "classification", "regression"):
        raise DataError(f"unknown task {quote(task)}; choose one of auto, classification, "
                        "regression")
    if target not in frame.columns:  # every rank has the same columns: all raise alike
        raise DataError(f"{source(frame)}no column named {quote(target)}; the columns are "
                        f"{names_list(list(frame.columns))}")
    c = gatherer(comm)
    cells = _TargetCells(frame, target)
    shares = c.gather(cells.evidence())
    present = sum(s.present for s in shares)
    numeric = all(s.numeric for s in shares)
    resolved = task
    if task == "auto":
        whole = numeric and all(s.whole for s in shares)
        few = all(s.distinct is not None for s in shares) and \
            len(union(s.distinct for s in shares)) <= MAX_CLASSES_FROM_NUMBERS
        resolved = "classification" if (not numeric or (whole and few)) else "regression"
    labels = cells.labels(numeric) if resolved == "classification" else []
    enc = LabelEncoder(list(class_names)) if class_names is not None else LabelEncoder()
    if present and resolved == "classification" and class_names is None:
        # sorted first, so ties of LabelEncoder's order by value fall the same on every rank
        enc.fit(sorted(union(c.gather(set(labels)))))
    # Every gather is done: now the errors, the same on every rank or the cell's own rank.
    if not present:
        raise DataError(f"{source(frame)}every value of the target {quote(target)} is missing")
    if numeric:
        cells.check_finite()
    if resolved == "regression":
        if not numeric:
            # the first cell float() refuses, else the first read as NaN ("nan", "1_000")
            texts = [s.first_text for s in shares if s.first_text is not None]
            _, row, value = min(texts, key=lambda t: not t[0])
            raise DataError(f"{source(frame)}regression needs a numeric target, but row "
                            f"{row}, column {quote(target)} holds {quote(value)}")
        return TargetColumn(target, "regression", cells.numbers[cells.keep], cells.keep)
    codes = {c: i for i, c in enumerate(enc.classes_ or [])}
    rows = np.flatnonzero(cells.keep)
    for pos, lab in enumerate(labels):
        if lab not in codes:
            raise DataError(f"{source(frame)}label {quote(lab)} at row "
                            f"{record_number(frame, int(rows[pos]))}, column {quote(target)} "
                            f"was not seen in training; known labels: {names_list(enc.classes_)}")
    y = np.fromiter((codes[lab] for lab in labels), dtype=np.int64, count=len(labels))
    return TargetColumn(target, "classification", y, cells.keep, list(enc.classes_ or []))


@dataclass
class _Evidence:
    """What one share says about the target: present cells, whether all are numbers (and
    whole), its distinct cells while at most the class limit (None beyond), and its first
    cell that is not a number."""

    present: int
    numeric: bool
    whole: bool
    distinct: set[str] | None
    first_text: tuple[bool, int, str] | None  # (float() refuses it, row, value)


class _TargetCells:
    """This share's target cells, as text (whole numbers exact: see
    :func:`~chainrule.data.cells.column_strings`) and as numbers."""

    def __init__(self, frame: Any, target: str) -> None:
        self.frame, self.target = frame, target
        self.text = column_strings(frame, target)
        self.keep = np.array([t is not None for t in self.text], dtype=bool)
        column = frame[target]
        self.numbers = column.to_numpy(dtype=np.float64, na_value=np.nan) \
            if column.dtype.kind in "iuf" else to_floats(self.text)
        present_nan = self.keep & np.isnan(self.numbers)
        self.numeric = not present_nan.any()
        # the first present cell that is not a number
        self.bad: int | None = int(np.argmax(present_nan)) if not self.numeric else None

    def evidence(self) -> _Evidence:
        kept = self.numbers[self.keep]
        if self.numeric:  # labels only for few numbers (a label is one float, never two)
            few = len(np.unique(kept)) <= MAX_CLASSES_FROM_NUMBERS
            distinct = set(self.labels(True)) if few else set()
        else:
            distinct = set(self.text[self.keep])
            few = len(distinct) <= MAX_CLASSES_FROM_NUMBERS
        first_text = None
        if self.bad is not None:  # what a regression on text names
            i = next((i for i, t in enumerate(self.text) if t is not None and
                      not all_numbers([t])), None)
            refused = i is not None
            i = self.bad if i is None else i
            first_text = (refused, record_number(self.frame, i), str(self.text[i]))
        with np.errstate(invalid="ignore"):
            whole = bool(np.all(kept == np.round(kept)))
        return _Evidence(int(self.keep.sum()), self.numeric, self.numeric and whole,
                         distinct if few and len(distinct) <= MAX_CLASSES_FROM_NUMBERS
                         else None, first_text)

    def check_finite(self) -> None:
        """An infinite target on this share is an error naming its row."""
        bad = self.keep & ~np.isfinite(self.numbers)
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise DataError(f"{source(self.frame)}an infinite value {quote(self.text[i])} at "
                            f"row {record_number(self.frame, i)}, column {quote(self.target)} "
                            "(the target); a target must be finite (or missing, then the row "
                            "is dropped)")

    def labels(self, numeric: bool) -> list[str]:
        """The present cells as class labels (numbers as
        :func:`~chainrule.data.cells.number_labels` writes them: whole numbers exact)."""
        if numeric:
            return number_labels(self.text[self.keep], self.numbers[self.keep])
        return list(self.text[self.keep])
