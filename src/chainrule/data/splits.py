"""Splitting examples into training, validation and test parts by fractions, stratified by
class when asked.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..errors import DataError

__all__ = ["train_test_split", "train_val_test_split"]


def _split_indices(n: int, sizes: Sequence[float], labels: np.ndarray | None,
                   rng: np.random.Generator) -> list[np.ndarray]:
    """Shuffle 0..n-1 into len(sizes)+1 parts; the first part gets the rest.

    With ``labels`` each class is split in the same proportions (stratified).
    """
    for s in sizes:
        if isinstance(s, bool) or not isinstance(s, (int, float, np.integer, np.floating)) \
                or not 0 <= s < 1:
            raise DataError(f"split fractions must be numbers in [0, 1), got {s!r}")
    if sum(sizes) >= 1:
        raise DataError(f"split fractions add up to {sum(sizes)}; they must leave some "
                        "examples for training")
    groups = [np.arange(n)] if labels is None else [
        np.flatnonzero(labels == c) for c in np.unique(labels)]
    parts: list[list[np.ndarray]] = [[] for _ in range(len(sizes) + 1)]
    for idx in groups:
        idx = rng.permutation(idx)
        start = 0
        counts = [round(s * len(idx)) for s in sizes]
        if labels is None:  # unstratified: every requested part gets at least one example
            counts = [max(c, 1) if s > 0 else 0 for c, s in zip(counts, sizes)]
        for k, c in enumerate(counts):
            parts[k + 1].append(idx[start:start + c])
            start += c
        parts[0].append(idx[start:])
    out = [np.sort(np.concatenate(p)) if p else np.zeros(0, np.intp) for p in parts]
    if labels is not None and any(s > 0 and len(p) == 0 for s, p in zip(sizes, out[1:])):
        # Too few examples per class to give every part one of each: split without strata.
        return _split_indices(n, sizes, None, rng)
    if len(out[0]) == 0:
        raise DataError(f"splitting {n} examples left none for training")
    for s, part in zip(sizes, out[1:]):
        if s > 0 and len(part) == 0:
            raise DataError(f"a split fraction of {s} of {n} examples gives no examples; "
                            "use more data or a larger fraction")
    return [rng.permutation(p) for p in out]


def _stratify_labels(y: np.ndarray, stratify: bool | np.ndarray | None) -> np.ndarray | None:
    if stratify is None or stratify is False:
        return None
    labels = np.asarray(y if stratify is True else stratify)
    if labels.ndim == 2 and labels.shape[1] == 1:
        labels = labels[:, 0]
    elif labels.ndim == 2:
        labels = labels.argmax(axis=1)  # one-hot rows
    return labels


def train_test_split(X: np.ndarray, y: np.ndarray, test_size: float = 0.2,
                     stratify: bool | np.ndarray | None = None,
                     seed: int | np.random.Generator | None = 0
                     ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Split into ``X_train, X_test, y_train, y_test``; stratify by ``y`` with stratify=True.

    >>> X, y = np.arange(20.0).reshape(10, 2), np.array([0, 1] * 5)
    >>> Xtr, Xte, ytr, yte = train_test_split(X, y, test_size=0.2, stratify=True)
    >>> len(Xtr), len(Xte), sorted(yte.tolist())
    (8, 2, [0, 1])
    """
    X, y = np.asarray(X), np.asarray(y)
    if len(X) != len(y):
        raise DataError(f"X has {len(X)} examples but y has {len(y)}")
    rng = np.random.default_rng(seed) if not isinstance(seed, np.random.Generator) else seed
    tr, te = _split_indices(len(X), [test_size], _stratify_labels(y, stratify), rng)
    return X[tr], X[te], y[tr], y[te]


def train_val_test_split(X: np.ndarray, y: np.ndarray, val_size: float = 0.2,
                         test_size: float = 0.0, stratify: bool | np.ndarray | None = None,
                         seed: int | np.random.Generator | None = 0
                         ) -> tuple[tuple[np.ndarray, np.ndarray], ...]:
    """Split into ``(X_train, y_train), (X_val, y_val), (X_test, y_test)`` by fractions."""
    X, y = np.asarray(X), np.asarray(y)
    if len(X) != len(y):
        raise DataError(f"X has {len(X)} examples but y has {len(y)}")
    rng = np.random.default_rng(seed) if not isinstance(seed, np.random.Generator) else seed
    tr, va, te = _split_indices(len(X), [val_size, test_size], _stratify_labels(y, stratify),
                                rng)
    return (X[tr], y[tr]), (X[va], y[va]), (X[te], y[te])
