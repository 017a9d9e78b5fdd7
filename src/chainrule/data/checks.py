"""Checking the inputs of training and prediction: an array (or a numeric pandas DataFrame)
of finite numbers with examples on axis 0.

:func:`check_features` is the one check for a feature matrix; :func:`check_finite` names the
first row and column holding NaN or infinity.  pandas objects are recognised by their type's
module, so pandas (optional) is never imported here.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from ..errors import DataError

__all__ = ["as_array", "check_features", "check_finite", "check_numeric_frame",
           "frame_to_array"]


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
    # A sum in the array's own dtype is one pass with no temporary the size of the table (a
    # NaN or infinity carries through it; float32 rows are not converted, 3.7x faster on
    # 12,800 x 784); only when it is not finite (that, or large values overflowed it) look
    # value by value.
    if a.dtype.kind == "f":
        with np.errstate(over="ignore", invalid="ignore"):
            if math.isfinite(np.sum(a)):
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
