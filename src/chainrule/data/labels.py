"""Class labels as numbers: their fixed order (:func:`sorted_labels`), codes 0..k-1 and back
(:class:`LabelEncoder`), and one-hot rows (:func:`one_hot`).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

import numpy as np

from ..errors import DataError

__all__ = ["LabelEncoder", "one_hot", "sorted_labels"]


_NUMBER = re.compile(r"[+-]?(([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?|inf|infinity)",
                     re.IGNORECASE)


def sorted_labels(labels: Any) -> list[str]:
    """Distinct labels in a fixed order: numbers as numbers (``'2'`` before ``'10'``),
    exactly (float64 would tie 2**53 with 2**53 + 1), labels equal as numbers (``'1'``,
    ``'1.0'``) as strings; any label not a number: all as strings.  The order never depends
    on the order ``labels`` come in (a set's order differs between processes).

    >>> sorted_labels({"10", "2", "1.0", "1"}), sorted_labels({"b", "10", "a"})
    (['1', '1.0', '2', '10'], ['10', 'a', 'b'])
    """
    distinct = sorted(set(labels))
    if all(_NUMBER.fullmatch(v.strip()) for v in distinct):
        return sorted(distinct, key=lambda v: Decimal(v.strip()))
    return distinct


class LabelEncoder:
    """Map class labels (strings or numbers) to 0..k-1 and back; ``classes_`` are sorted.

    >>> enc = LabelEncoder().fit(["cat", "dog", "cat", "emu"])
    >>> enc.classes_, enc.transform(["emu", "cat"]).tolist()
    (['cat', 'dog', 'emu'], [2, 0])
    """

    def __init__(self, classes: Sequence[str] | None = None) -> None:
        self.classes_: list[str] | None = None if classes is None else [str(c) for c in classes]

    def fit(self, labels: Sequence[Any]) -> LabelEncoder:
        """Learn the sorted distinct labels (as strings); returns self."""
        values = [str(v) for v in np.asarray(labels).ravel().tolist()]
        if not values:
            raise DataError("cannot fit a LabelEncoder on no labels")
        self.classes_ = sorted_labels(set(values))
        return self

    def transform(self, labels: Sequence[Any]) -> np.ndarray:
        """Integer codes of ``labels``; an unseen label raises DataError naming it."""
        if self.classes_ is None:
            raise DataError("LabelEncoder is not fitted yet")
        index = {c: i for i, c in enumerate(self.classes_)}
        out = np.empty(len(labels), dtype=np.int64)
        for i, v in enumerate(np.asarray(labels).ravel().tolist()):
            try:
                out[i] = index[str(v)]
            except KeyError:
                known = ", ".join(repr(c[:30]) for c in self.classes_[:20]) + (
                    f", ... ({len(self.classes_):,} in all)" if len(self.classes_) > 20 else "")
                raise DataError(f"label {str(v)[:60]!r} at row {i} was not seen in training; "
                                f"known labels: {known}") from None
        return out

    def inverse_transform(self, codes: Sequence[int]) -> list[str]:
        """Labels of integer codes."""
        if self.classes_ is None:
            raise DataError("LabelEncoder is not fitted yet")
        a = np.asarray(codes).ravel()
        n = len(self.classes_)
        if a.size and (a.dtype.kind not in "iub" and not (
                a.dtype.kind == "f" and np.all(np.isfinite(a)) and np.all(a == np.round(a)))):
            raise DataError(f"inverse_transform takes integer codes 0..{n - 1}, got "
                            f"{a[:5].tolist()} (dtype {a.dtype})")
        bad = (a < 0) | (a >= n)
        if bad.any():
            i = int(np.argmax(bad))
            raise DataError(f"code {a[i].item()!r} at position {i} is not a class: the codes are "
                            f"0..{n - 1} for the {n} classes")
        return [self.classes_[int(c)] for c in a]


def one_hot(labels: Any, n_classes: int | None = None, dtype: Any = np.float64) -> np.ndarray:
    """One-hot rows for integer labels 0..n_classes-1.

    >>> one_hot([0, 2, 1])
    array([[1., 0., 0.],
           [0., 0., 1.],
           [0., 1., 0.]])
    """
    y = np.asarray(labels)
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.ndim != 1 or y.dtype.kind not in "iub":
        raise DataError(f"one_hot needs a 1-D array of integer labels, got dtype {y.dtype} and "
                        f"shape {y.shape}")
    k = int(y.max()) + 1 if n_classes is None and y.size else (n_classes or 0)
    if y.size and (y.min() < 0 or y.max() >= k):
        raise DataError(f"labels must be in 0..{k - 1}, got values from {y.min()} to {y.max()}")
    out = np.zeros((len(y), k), dtype=dtype)
    out[np.arange(len(y)), y] = 1
    return out
