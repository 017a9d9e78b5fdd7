"""Preparing arrays for training: checks, splits, standardisation, label and one-hot encoding.

Everything here works on plain NumPy arrays.  The fitted objects (:class:`StandardScaler`,
:class:`LabelEncoder`) turn into plain JSON-ready dictionaries with ``to_dict`` and back with
``from_dict``, so a saved model can carry its preprocessing without pickle.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from decimal import Decimal
from typing import Any, ClassVar

import numpy as np

from ..errors import DataError
from .combine import Gatherer, agreed_mean_std, mean_std

__all__ = [
    "DataError",
    "LabelEncoder",
    "StandardScaler",
    "as_array",
    "check_features",
    "check_finite",
    "check_numeric_frame",
    "frame_to_array",
    "one_hot",
    "sorted_labels",
    "train_test_split",
    "train_val_test_split",
]


def check_finite(a: np.ndarray, name: str = "X",
                 columns: Sequence[str] | None = None) -> None:
    """Raise :class:`DataError` naming the first row (and column, or position inside an
    example of more than one axis) holding NaN or infinity; ``columns`` names the columns.

    >>> check_finite(np.array([[1.0, 2.0], [3.0, np.nan]]))  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    chainrule.errors.DataError: X has a NaN at row 1, column 1; ...
    >>> images = np.zeros((2, 1, 2, 2)); images[1, 0, 1, 0] = np.inf
    >>> check_finite(images)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    chainrule.errors.DataError: X has an infinite value at row 1, position (0, 1, 0) of ...
    """
    if a.dtype.kind not in "fc":
        return
    bad = ~np.isfinite(a)
    if not bad.any():
        return
    where = np.argwhere(bad)[0]
    kind = "a NaN" if np.isnan(a[tuple(where)]) else "an infinite value"
    place = f"row {where[0]}"
    if a.ndim == 2:
        col = int(where[1])
        place += f", column {columns[col]!r} (column {col})" if columns is not None \
            else f", column {col}"
    elif a.ndim > 2:
        place += f", position {tuple(int(i) for i in where[1:])} of the example"
    raise DataError(f"{name} has {kind} at {place}; remove or fill missing values first")


# -- pandas objects, recognised without importing pandas ---------------------------------
def _is_pandas(obj: Any, kind: str) -> bool:
    """Whether ``obj`` is a pandas ``DataFrame`` or ``Series`` (``kind``): the type's module
    tells, so pandas is never imported here (it is optional)."""
    return any(c.__name__ == kind and c.__module__.partition(".")[0] == "pandas"
               for c in type(obj).__mro__)


def check_numeric_frame(X: Any, name: str = "X") -> list[str] | None:
    """The column names of a pandas DataFrame whose columns all hold numbers (or booleans);
    None when ``X`` is not a DataFrame.  A column of text, categories or dates raises
    :class:`DataError` naming the columns and where text columns are handled."""
    if not _is_pandas(X, "DataFrame"):
        return None
    columns = [str(c) for c in X.columns]
    bad = [c for c, dtype in zip(columns, X.dtypes)
           if getattr(dtype, "kind", "O") not in "biuf"]
    if bad:
        shown = ", ".join(repr(c) for c in bad[:8]) + (", ..." if len(bad) > 8 else "")
        raise DataError(
            f"{name} has {len(bad)} non-numeric column(s): {shown}; pass numeric columns only "
            "(e.g. X.select_dtypes('number')), or read the table with "
            "chainrule.data.load_csv / train it with `chainrule train --data file.csv "
            "--target y`, which encode text and categorical columns")
    return columns


def frame_to_array(X: Any, name: str = "X") -> tuple[np.ndarray, list[str]] | None:
    """A numeric pandas DataFrame as a float64 array and its column names (None when ``X``
    is not a DataFrame).  Boolean and integer columns become floats, missing values (``NA``,
    ``None``) NaN; text, category or date columns are refused (:func:`check_numeric_frame`)."""
    columns = check_numeric_frame(X, name)
    if columns is None:
        return None
    return X.to_numpy(dtype=np.float64, na_value=np.nan), columns


def as_array(obj: Any, name: str = "y") -> np.ndarray:
    """``obj`` as a NumPy array; a pandas Series or DataFrame of numbers (nullable integer
    and boolean columns included, missing values as NaN) gives its values."""
    if _is_pandas(obj, "Series"):
        if getattr(obj.dtype, "kind", "O") in "biuf" and not obj.hasnans:
            return obj.to_numpy(dtype=obj.dtype.numpy_dtype if hasattr(
                obj.dtype, "numpy_dtype") else None)
        if getattr(obj.dtype, "kind", "O") in "biuf":
            return obj.to_numpy(dtype=np.float64, na_value=np.nan)
        return obj.to_numpy()
    converted = frame_to_array(obj, name)
    return _asarray(obj, name) if converted is None else converted[0]


def _asarray(obj: Any, name: str) -> np.ndarray:
    """``np.asarray(obj)``, with a DataError for nested lists of uneven lengths."""
    try:
        return np.asarray(obj)
    except ValueError:
        raise DataError(f"{name} is ragged: its rows (or inner lists) have different lengths; "
                        "give every example the same number of values") from None


def check_features(X: Any, name: str = "X", n_features: int | None = None, *,
                   nd: bool = False) -> np.ndarray:
    """Return ``X`` as a floating array with examples on axis 0 or raise a clear DataError.

    By default ``X`` must be 2-D (examples as rows); ``nd=True`` also takes examples of more
    than one axis, shape (n, ...), such as images (n, channels, height, width).  A 1-D input
    is rejected (ambiguous: one feature or one example?) with a hint to reshape.  A numeric
    pandas DataFrame is taken as its values; one with text columns is refused naming them.
    """
    converted = frame_to_array(X, name)
    columns = None if converted is None else converted[1]
    a = _asarray(X, name) if converted is None else converted[0]
    if a.dtype.kind == "b" or a.dtype.kind in "iu":
        a = a.astype(np.float64)
    if a.dtype.kind not in "f":
        raise DataError(f"{name} must hold numbers, got dtype {a.dtype}")
    if a.ndim < 2 or (a.ndim != 2 and not nd):
        hint = " (use X.reshape(-1, 1) for one feature)" if a.ndim == 1 else ""
        wanted = "2-D with examples as rows" if not nd else \
            "2-D with examples as rows, or (n, ...) with examples on axis 0"
        raise DataError(f"{name} must be {wanted}, got shape {a.shape}{hint}")
    if a.shape[0] == 0:
        raise DataError(f"{name} is empty: it has shape {a.shape}")
    if n_features is not None and a.shape[1] != n_features:
        raise DataError(f"{name} has {a.shape[1]} features but {n_features} were expected")
    check_finite(a, name, columns)
    return a


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

    def fit_transform(self, X: np.ndarray) -> np.ndarray:
        """``fit(X)`` then ``transform(X)``."""
        return self.fit(X).transform(X)

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
