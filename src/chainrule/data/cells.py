"""Reading the cells of a table column as the column typing and encoding need them: as
stripped strings (numbers as written, ``3.0`` as ``'3'``), as numbers, true/false or dates,
with a :class:`~chainrule.errors.DataError` naming the row and column of a cell that is none.
pandas is imported on use."""

from __future__ import annotations

import contextlib
import math
import warnings
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

from ..errors import DataError
from .tabular import NA_MARKERS, quote, record_number

__all__ = ["FALSE", "NA", "TRUE", "all_numbers", "booleans", "canonical", "datetimes",
           "is_numeric_dtype", "names_list", "number_matrix", "numbers", "quiet", "source",
           "strings"]

TRUE = frozenset({"true", "t", "yes", "y"})
"""Cells read as true (lower-cased)."""
FALSE = frozenset({"false", "f", "no", "n"})
"""Cells read as false (lower-cased)."""
NA = frozenset(m.lower() for m in NA_MARKERS)
"""Cells read as missing (lower-cased)."""


def is_numeric_dtype(s: Any) -> bool:
    """Whether a pandas column holds integers or floats."""
    return s.dtype.kind in "iuf"


def strings(s: Any) -> np.ndarray:
    """Cells as stripped strings, None where missing (numbers as written: 3.0 -> '3')."""
    if s.dtype.kind in "iu":
        return s.to_numpy().astype(str).astype(object)
    if s.dtype.kind == "f":
        return _number_strings(s.to_numpy(dtype=np.float64, na_value=np.nan))
    values = s.astype(object).where(s.notna(), None).to_numpy()
    out = np.empty(len(values), dtype=object)
    for i, v in enumerate(values):
        if v is None:
            out[i] = None
        elif isinstance(v, (float, np.floating)):
            out[i] = None if math.isnan(v) else canonical(float(v))
        elif isinstance(v, (bool, np.bool_)):
            out[i] = "true" if v else "false"
        elif isinstance(v, (int, np.integer)):
            out[i] = str(int(v))
        else:
            text = str(v).strip()
            out[i] = None if text.lower() in NA else text
    return out


def _number_strings(v: np.ndarray) -> np.ndarray:
    """:func:`canonical` of every value, None for NaN, without a Python call per whole number
    (a numeric target of 200,000 rows: 0.5 s -> 0.05 s)."""
    out = np.empty(len(v), dtype=object)
    with np.errstate(invalid="ignore"):
        whole = np.isfinite(v) & (v == np.round(v)) & (np.abs(v) < 2**53)
    out[whole] = v[whole].astype(np.int64).astype(str).astype(object)
    other = ~whole & ~np.isnan(v)
    out[other] = np.array([repr(x) for x in v[other].tolist()] or [], dtype=object)
    return out


def canonical(v: float) -> str:
    """A number as a label: whole numbers without ``.0`` (``3.0`` -> ``'3'``)."""
    return str(int(v)) if v.is_integer() and abs(v) < 2**53 else repr(v)


def numbers(frame: Any, column: str, what: str = "features must be numbers") -> np.ndarray:
    """A column as float64 with NaN where missing; a cell that is not a number is an error."""
    pd = __import__("pandas")
    s = frame[column]
    if s.dtype.kind == "b":
        return s.to_numpy(dtype=np.float64)
    if is_numeric_dtype(s):
        return s.to_numpy(dtype=np.float64, na_value=np.nan)
    text = strings(s)
    out = pd.to_numeric(pd.Series(text, dtype=object).str.replace("_", "x"), errors="coerce")
    out = out.to_numpy(dtype=np.float64, na_value=np.nan)
    bad = np.flatnonzero(np.isnan(out) & np.array([t is not None for t in text]))
    bad = [i for i in bad if text[i].lower() not in ("nan", "-nan", "+nan")]
    if bad:
        i = bad[0]
        raise DataError(f"{source(frame)}non-numeric value {quote(text[i])} at row "
                        f"{record_number(frame, i)}, column {quote(column)}; {what}")
    return out


def number_matrix(frame: Any, columns: Sequence[str], what: str = "features must be numbers"
                  ) -> np.ndarray:
    """The columns as one float64 matrix (rows x columns), NaN where missing; a cell that is
    not a number is an error (see :func:`numbers`).

    Numeric columns are copied in groups of columns rather than one by one: one pandas
    column access costs about 50 us, so a file with 20,000 columns took 1 s here, and a
    group holds at most about 4 MB, so the copy adds little to the table's memory.
    """
    out = np.empty((len(frame), len(columns)), dtype=np.float64)
    position = {c: j for j, c in enumerate(frame.columns)}
    kinds = list(frame.dtypes)  # a Series lookup per column costs as much as the copy
    numeric = [k for k, c in enumerate(columns) if kinds[position[c]].kind in "iufb"]
    group = max(1, (4 << 20) // max(1, 8 * len(frame)))
    for start in range(0, len(numeric), group):
        ks = numeric[start:start + group]
        part = frame.iloc[:, [position[columns[k]] for k in ks]]
        out[:, ks] = part.to_numpy(dtype=np.float64, na_value=np.nan)
    for k in sorted(set(range(len(columns))) - set(numeric)):
        out[:, k] = numbers(frame, columns[k], what)
    return out


def source(frame: Any) -> str:
    """``"file.csv: "`` for messages about a table read from a file, else empty."""
    name = frame.attrs.get("chainrule_source") if hasattr(frame, "attrs") else None
    return f"{name}: " if name else ""


def booleans(frame: Any, column: str) -> np.ndarray:
    """A true/false column as 1.0/0.0 with NaN where missing; other text is an error."""
    s = frame[column]
    if s.dtype.kind == "b":
        return s.to_numpy(dtype=np.float64)
    text = strings(s)
    out = np.full(len(text), np.nan)
    for i, t in enumerate(text):
        if t is None:
            continue
        low = t.lower()
        if low in TRUE or low == "1":
            out[i] = 1.0
        elif low in FALSE or low == "0":
            out[i] = 0.0
        else:
            raise DataError(f"{source(frame)}value {quote(t)} at row {record_number(frame, i)}, "
                            f"column {quote(column)} is not true/false (the column was "
                            "boolean in training)")
    return out


def datetimes(frame: Any, column: str) -> Any:
    """A column as a pandas DatetimeIndex (NaT where missing or not a date)."""
    pd = __import__("pandas")
    s = frame[column]
    if s.dtype.kind == "M":
        return pd.DatetimeIndex(s)
    text = strings(s)
    with quiet():
        return pd.DatetimeIndex(pd.to_datetime(pd.Series(text, dtype=object), errors="coerce",
                                               format="mixed"))


@contextlib.contextmanager
def quiet() -> Iterator[None]:
    """Silence pandas' date-format guessing warnings (the fallback it warns about is wanted)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


def all_numbers(values: Sequence[str]) -> bool:
    """Whether every string reads as a float."""
    for v in values:
        try:
            float(v)
        except ValueError:
            return False
    return True


def names_list(names: Sequence[str], limit: int = 20) -> str:
    """Column names for a message: escaped, comma-separated, at most ``limit``."""
    shown = ", ".join(quote(n, 30)[1:-1] for n in names[:limit])
    return shown + (f", ... ({len(names)} in all)" if len(names) > limit else "")
