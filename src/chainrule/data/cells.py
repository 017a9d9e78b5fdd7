"""Reading the cells of a table column as the column typing and encoding need them: as
stripped strings (numbers as written, ``3.0`` as ``'3'``), as numbers, true/false or dates,
with a :class:`~chainrule.errors.DataError` naming the row and column of a cell that is none.
pandas is imported on use."""

from __future__ import annotations

import contextlib
import math
import re
import warnings
from collections.abc import Iterator, Sequence
from decimal import Decimal
from typing import Any

import numpy as np

from ..errors import DataError
from .diagnosis import quote, record_number
from .tabular import NA_MARKERS, cells_as_written

__all__ = ["FALSE", "NA", "TRUE", "all_numbers", "booleans", "canonical", "column_strings",
           "datetimes", "is_numeric_dtype", "names_list", "number_labels", "number_matrix",
           "numbers", "quiet", "source", "strings", "to_floats"]

TRUE = frozenset({"true", "t", "yes", "y"})
"""Cells read as true (lower-cased)."""
FALSE = frozenset({"false", "f", "no", "n"})
"""Cells read as false (lower-cased)."""
NA = frozenset(m.lower() for m in NA_MARKERS)
"""Cells read as missing (lower-cased)."""
_NAN_WORDS = frozenset({"nan", "-nan", "+nan"})
_DECIMAL = re.compile(r"[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?")  # ASCII digits


def _series(values: Sequence[Any]) -> Any:
    """``values`` as a pandas Series of objects."""
    return __import__("pandas").Series(list(values), dtype=object)


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


def to_floats(text: Sequence[str | None]) -> np.ndarray:
    """Stripped cells (None where missing) as float64, NaN where missing or not a number.

    A number is what pandas reads as one: ``0x10``, ``1_000`` and digits of other scripts
    are text, as ``pandas.read_csv`` leaves them (Python's ``float`` reads them as 16, 1000
    and 12); a whole number beyond the float range is infinite (pandas gives up on one of
    many thousand digits).  Every reader of numbers from text uses this one rule.

    >>> to_floats(["1.5", "0x10", None, "1_000", "1" * 400]).tolist()
    [1.5, nan, nan, nan, inf]
    """
    pd = __import__("pandas")
    out = pd.to_numeric(pd.Series(list(text), dtype=object), errors="coerce")
    out = np.array(out.to_numpy(dtype=np.float64, na_value=np.nan))  # writable
    # pandas' to_numeric reads "1_000" as 1000; it is text to read_csv
    out[[i for i, t in enumerate(text) if t is not None and "_" in t]] = np.nan
    for i in np.flatnonzero(np.isnan(out)):
        t = text[i]
        if t is not None and len(t) > 300 and _DECIMAL.fullmatch(t):
            out[i] = float(t)  # beyond the float range (Python's float gives infinity)
    return out


def all_numbers(values: Sequence[str]) -> bool:
    """Whether every string (stripped, present) reads as a number (:func:`to_floats`; the
    words for not-a-number count as numbers).

    >>> all_numbers(["1", "2.5", "nan"]), all_numbers(["1", "0x10"])
    (True, False)
    """
    out = to_floats(values)
    return all(not math.isnan(x) or v.lower() in _NAN_WORDS for x, v in zip(out, values))


def number_labels(text: Sequence[str], values: np.ndarray | None = None) -> list[str]:
    """Number cells (stripped, present; ``values``: their :func:`to_floats`, when known) as
    class labels:
    whole numbers exact and without ``.0`` (``'3.0'`` -> ``'3'``; ``'9007199254740993'``
    stays, where float64 would make it ``...992``), other numbers as :func:`canonical`
    writes them.

    >>> number_labels(["3.0", "+9007199254740993", "0.5"])
    ['3', '9007199254740993', '0.5']
    """
    values = to_floats(text) if values is None else values  # what to_floats gives
    out = _number_strings(values)
    with np.errstate(invalid="ignore"):
        big = np.isfinite(values) & (np.abs(values) >= 2**53) & (values == np.round(values))
    for i in np.flatnonzero(big):
        if _DECIMAL.fullmatch(text[i]):
            exact = Decimal(text[i])
            if exact == exact.to_integral_value():
                out[i] = str(int(exact))
    return out.tolist()


def numbers(frame: Any, column: str, what: str = "features must be numbers") -> np.ndarray:
    """A column as float64 with NaN where missing; a cell that is not a number is an error."""
    s = frame[column]
    if s.dtype.kind == "b":
        return s.to_numpy(dtype=np.float64)
    if is_numeric_dtype(s):
        return s.to_numpy(dtype=np.float64, na_value=np.nan)
    text = strings(s)
    out = to_floats(text)
    bad = np.flatnonzero(np.isnan(out) & np.array([t is not None for t in text]))
    bad = [i for i in bad if text[i].lower() not in _NAN_WORDS]
    if bad:
        i = bad[0]
        raise DataError(f"{source(frame)}non-numeric value {quote(text[i])} at row "
                        f"{record_number(frame, i)}, column {quote(column)}; {what}")
    return out


def column_strings(frame: Any, column: str) -> np.ndarray:
    """:func:`strings` of a column, with whole numbers exact: where the parser made a column
    of float64 (whole numbers with a missing cell) that holds whole numbers of 2**53 or
    more, float64 may have merged neighbours (2**53 + 1 reads as 2**53), so the cells are
    read again as written from the frame's file."""
    s = frame[column]
    if s.dtype.kind == "f":
        v = s.to_numpy(dtype=np.float64, na_value=np.nan)
        with np.errstate(invalid="ignore"):
            big = np.isfinite(v) & (np.abs(v) >= 2**53) & (v == np.round(v))
        if big.any():
            written = cells_as_written(frame, column)
            if written is not None:
                return strings(_series(written))
    return strings(s)


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


def names_list(names: Sequence[str], limit: int = 20) -> str:
    """Column names for a message: escaped, comma-separated, at most ``limit``."""
    shown = ", ".join(quote(n, 30)[1:-1] for n in names[:limit])
    return shown + (f", ... ({len(names)} in all)" if len(names) > limit else "")
