"""Reading CSV files as tables (with pandas).

:func:`read_frame` reads a CSV file into a pandas DataFrame with pandas' C engine: quoting,
embedded newlines, a byte-order mark
and the missing-value markers of :data:`NA_MARKERS` are handled by the parser, the delimiter is
sniffed from the first lines unless given.  pandas is imported here, on use, so
``import chainrule`` needs only NumPy.

Every malformed file is refused with a :class:`~chainrule.errors.DataError` naming the record
(counted as in a spreadsheet: the header is row 1, a blank line is a row) and the column:
:mod:`chainrule.data.diagnosis` finds the exact place when the parser fails or a row number
is needed (:func:`record_number`, re-exported here).
"""

from __future__ import annotations

import io
import os
from collections import Counter
from typing import Any

import numpy as np

from ..errors import DataError
from ..io import check_file_name
from .diagnosis import (
    check_delimiter,
    check_short_rows,
    diagnose,
    has_blank_lines,
    nul_error,
    prescan,
    quote,
    record_number,
)
from .encoding import readable
from .pieces import scan_bytes
from .records import has_blank_cr_line, without_blank_cr_lines

# quote and record_number live in chainrule.data.diagnosis; they stay importable from here,
# where callers outside chainrule.data and the tests import them.
__all__ = ["NA_MARKERS", "quote", "read_frame", "record_number", "require_pandas"]

NA_MARKERS = ("", "NA", "N/A", "n/a", "na", "NaN", "nan", "NAN", "-nan", "NULL", "null",
              "Null", "None", "none", "?", "#N/A")
"""Cell values read as missing (exactly as written, surrounding spaces ignored)."""

_WIDE = 2000  # columns beyond which a frame is copied into one block per type


def require_pandas(what: str = "reading CSV files") -> Any:
    """The pandas module, or a DataError that says how to install it."""
    try:
        import pandas as pd
    except ImportError:
        raise DataError(f"{what} needs pandas, which is not installed; pip install pandas "
                        "(or pip install 'chainrule[csv]')") from None
    return pd


# -- reading -------------------------------------------------------------------------------------
def read_frame(source: Any, *, delimiter: str | None = None, raw: bool = False) -> Any:
    """Read a CSV file (or take a DataFrame) as a pandas DataFrame with string column names.

    - ``delimiter``: one character; default: sniffed from the first lines (``,`` ``;`` tab
      ``|``).
    - ``raw=True`` keeps every cell as the exact string written (for echoing input rows);
      otherwise pandas types the columns and reads :data:`NA_MARKERS` as missing.

    >>> import pandas as pd
    >>> read_frame(pd.DataFrame({"a": [1, 2]})).columns.tolist()
    ['a']
    """
    pd = require_pandas()
    check_delimiter(delimiter)
    if isinstance(source, pd.DataFrame):
        return in_memory(source)
    f = open_table(source, delimiter)
    scan = scan_bytes(f.name, f.delimiter, f.header_end)
    if scan.nul is not None:
        raise nul_error(f.name, f.delimiter, f.header, scan.nul)
    if any(state.inside for state in scan.after.values()):  # a quoted value never closed
        raise diagnose(f.name, f.delimiter, f.header)
    options = f.options(raw)
    span = (f.header_end, os.path.getsize(readable(f.name)))
    try:
        frame = pd.read_csv(readable(f.name), **options) if not scan.blank_cr else \
            f.parse_bytes(pd, span, options)
    except Exception as err:
        raise f.parse_error(err) from None
    if frame.empty:
        raise DataError(f"{f.name}: the file has a header but no data rows")
    return f.finish(frame, span, first_record=2, first_row=0, raw=raw)


def in_memory(frame: Any) -> Any:
    """A shallow copy of a DataFrame built in memory, with string column names (refused when
    two columns have one name)."""
    frame = frame.copy(deep=False)
    frame.columns = [str(c) for c in frame.columns]
    dupes = sorted(h for h, n in Counter(frame.columns).items() if n > 1)
    if dupes:
        shown = ", ".join(quote(d, 30) for d in dupes[:10])
        raise DataError(f"duplicate column names: {shown}"
                        + (f" (and {len(dupes) - 10:,} more)" if len(dupes) > 10 else ""))
    return frame


class TableFile:
    """A CSV file whose header was read and checked: what parsing its rows needs (the
    delimiter, the column names, where the data rows start) and what the frames read from it
    carry (their source and each row's place in the file, for :func:`record_number`)."""

    def __init__(self, name: str, delimiter: str, header: list[str], header_end: int) -> None:
        self.name, self.delimiter, self.header, self.header_end = (name, delimiter, header,
                                                                   header_end)

    def options(self, raw: bool = False) -> dict[str, Any]:
        """pandas.read_csv's options for this file."""
        # The C engine, not pyarrow's: pyarrow's reader threads can abort the interpreter at
        # exit (status 134 after complete output, about 1 run in 100 on a loaded machine),
        # and pandas does not let it read a quoted line break beyond its first block (1 MB).
        # The C engine reads a numeric file as fast here, with less memory (a 9 MB file of
        # 22 MiB of numbers: peak 60 MiB above the start, pyarrow 90), and reads 0x10 as
        # text (pyarrow: 16).  low_memory=False types each column over all its rows.
        options: dict[str, Any] = {"sep": self.delimiter, "engine": "c", "low_memory": False,
                                   "encoding": "utf-8-sig"}
        if raw:
            options.update(dtype=str, keep_default_na=False, na_values=[])
        else:
            options.update(keep_default_na=False, na_values=list(NA_MARKERS))
        return options

    def parse_bytes(self, pd: Any, span: tuple[int, int], options: dict[str, Any]) -> Any:
        """``pd.read_csv`` of the header and the records in bytes ``span`` of the file, with
        the blank lines made of a lone carriage return left out (the C engine shifts the
        values of a record that follows one and begins with a delimiter)."""
        with open(readable(self.name), "rb") as file:
            header = file.read(self.header_end)
            file.seek(span[0])
            data = file.read(span[1] - span[0])
        if has_blank_cr_line(header[-1:] + data):
            data = without_blank_cr_lines(data, self.delimiter.encode())
        return pd.read_csv(io.BytesIO(header + data), **options)

    def parse_error(self, err: Exception) -> Exception:
        """The DataError naming the malformed record behind a parser's error (``err`` itself
        when it is no parser's error)."""
        if is_parser_error(err):
            return diagnose(self.name, self.delimiter, self.header, fallback=str(err))
        return err

    def finish(self, frame: Any, span: tuple[int, int], *, first_record: int,
               first_row: int, raw: bool = False) -> Any:
        """Check and label a frame parsed from bytes ``span`` of the file: its first record
        is record ``first_record`` and ``first_row`` data rows come before it."""
        if len(frame.columns) != len(self.header):
            raise diagnose(self.name, self.delimiter, self.header,
                           fallback="the header and the rows disagree")
        frame.columns = self.header
        if raw:
            frame = frame.fillna("")
        elif len(self.header) > _WIDE:
            # The C engine gives a wide file one block per column, and every later access to
            # many columns at once walks them all (20,000 columns: 0.6 s per access); a copy
            # joins them into one block per type.
            frame = frame.copy()
        frame.index = range(first_row, first_row + len(frame))
        frame.attrs.update(chainrule_source=self.name, chainrule_delimiter=self.delimiter,
                           chainrule_span=span, chainrule_first_record=first_record,
                           chainrule_first_row=first_row,
                           chainrule_blank_lines=has_blank_lines(self.name, span))
        check_short_rows(frame, self.name, self.delimiter, self.header, span, first_record)
        return frame


def is_parser_error(err: BaseException) -> bool:
    """Whether ``err`` is the CSV parser's complaint about the file."""
    pd = require_pandas()
    return isinstance(err, (ValueError, UnicodeDecodeError, pd.errors.ParserError))


def file_path(source: Any, what: str = "the path of a CSV file (a str or pathlib.Path) or "
                                      "a pandas DataFrame", action: str = "read") -> str:
    """``source`` as a file path (a str or an ``os.PathLike`` of one), or a DataError from
    :func:`chainrule.io.check_file_name` (naming the type that came, or the NUL character),
    which for another type adds that ``what`` was expected."""
    try:
        return check_file_name(source, action, DataError)
    except DataError as err:
        if isinstance(source, (str, os.PathLike)):
            raise
        raise DataError(f"{err}; expected {what}") from None


def open_table(source: Any, delimiter: str | None = None) -> TableFile:
    """Check the start of a CSV file and read its header (DataError naming the problem)."""
    check_delimiter(delimiter)
    name = file_path(source)
    delimiter, header, header_end = prescan(name, delimiter)
    return TableFile(name, delimiter, header, header_end)


def cells_as_written(frame: Any, column: str) -> list[str] | None:
    """The cells of ``column`` of a frame read from a file (:func:`read_frame`, or a rank's
    share of one) exactly as the file writes them, for the frame's rows (also after rows
    were filtered out); None for a frame built in memory."""
    attrs = frame.attrs if hasattr(frame, "attrs") else {}
    name = attrs.get("chainrule_source")
    if name is None or column not in frame.columns:
        return None
    pd = require_pandas()
    f = open_table(name, attrs["chainrule_delimiter"])
    j = list(frame.columns).index(column)
    options = {**f.options(raw=True), "usecols": [j]}
    try:
        cells = f.parse_bytes(pd, attrs["chainrule_span"], options).iloc[:, 0]
    except Exception as err:  # the file changed since it was read
        raise f.parse_error(err) from None
    rows = np.asarray(frame.index, dtype=np.int64) - attrs["chainrule_first_row"]
    if len(cells) < (rows.max() + 1 if len(rows) else 0):
        raise DataError(f"{name}: the file changed while it was read; read it again")
    return cells.fillna("").to_numpy(dtype=object)[rows].tolist()


def column_values(frame: Any, column: str) -> np.ndarray:
    """A column as a NumPy object array with None for missing cells (for checks)."""
    s = frame[column]
    return np.asarray(s.astype(object).where(s.notna(), None))
