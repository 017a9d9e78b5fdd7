"""Reading CSV files as tables (with pandas) and checking them cell by cell.

:func:`read_frame` reads a CSV file into a pandas DataFrame with pandas' C engine: quoting,
embedded newlines, a byte-order mark
and the missing-value markers of :data:`NA_MARKERS` are handled by the parser, the delimiter is
sniffed from the first lines unless given.  pandas is imported here, on use, so
``import chainrule`` needs only NumPy.

Every malformed file is refused with a :class:`~chainrule.errors.DataError` naming the record
(counted as in a spreadsheet: the header is row 1, a blank line is a row) and the column.  The
parser is fast but terse, so when it fails, or when a later check needs a row number, one
plain pass with the standard library's ``csv`` module finds the exact place; well-formed files
never pay for that pass.
"""

from __future__ import annotations

import codecs
import csv
import io
import os
from collections import Counter
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

from ..errors import DataError
from ..io import check_file_name, escape_controls
from .encoding import readable
from .pieces import has_short_record, scan_bytes
from .records import QuoteScan, has_blank_cr_line, without_blank_cr_lines

__all__ = ["NA_MARKERS", "quote", "read_frame", "record_number", "require_pandas"]

NA_MARKERS = ("", "NA", "N/A", "n/a", "na", "NaN", "nan", "NAN", "-nan", "NULL", "null",
              "Null", "None", "none", "?", "#N/A")
"""Cell values read as missing (exactly as written, surrounding spaces ignored)."""

_MAX_QUOTED = 60
_SNIFF_BYTES = 64 * 1024
_DELIMITERS = ",;\t|"
_WIDE = 2000  # columns beyond which a frame is copied into one block per type
_FIELD_LIMIT = (1 << 31) - 1  # characters in one value (the csv module's own maximum)


def quote(value: Any, limit: int = _MAX_QUOTED) -> str:
    """``repr`` of a value read from a file, safe to print: control characters escaped, long
    values cut (an error message must not be as long as the file, nor retitle the terminal).

    >>> quote("ok")
    "'ok'"
    >>> quote("\\x1b]0;evil\\x07")
    "'\\\\x1b]0;evil\\\\x07'"
    >>> len(quote("x" * 1000)) < 80
    True
    """
    text = str(value)
    cut = len(text) > limit
    text = text[:limit]
    shown = repr(text)
    # repr keeps printable non-ASCII letters but escapes controls; also escape format/bidi
    # characters, which repr leaves as they are.
    return escape_controls(shown) + ("..." if cut else "")


def require_pandas(what: str = "reading CSV files") -> Any:
    """The pandas module, or a DataError that says how to install it."""
    try:
        import pandas as pd
    except ImportError:
        raise DataError(f"{what} needs pandas, which is not installed; pip install pandas "
                        "(or pip install 'chainrule[csv]')") from None
    return pd


# -- the pre-scan: cheap checks the parser does not make -----------------------------------------
def _check_delimiter(delimiter: str | None) -> None:
    if delimiter is not None and (not isinstance(delimiter, str) or len(delimiter) != 1
                                  or delimiter in "\r\n\""):
        raise DataError(f"delimiter must be one character (not a quote or newline), got "
                        f"{quote(delimiter)}")


def _prescan(name: str, delimiter: str | None) -> tuple[str, list[str], int]:
    """Check the start of the file, choose the delimiter and read the header row; also
    returns the byte offset where the data rows start."""
    with open(readable(name), "rb") as f:
        head = f.read(_SNIFF_BYTES)
        # The header row may be longer than the sample (a 20,000-column file): read on to its
        # end, so that every column is named and the sample holds a data line to sniff.
        while head and _record_end(head) is None:
            more = f.read(len(head))
            if not more:
                break
            head += more
        if _record_end(head) is not None and head.count(b"\n") < 2:
            head += f.read(_SNIFF_BYTES)
        if head.endswith(b"\r"):  # the sample may end between the CR and LF of a line end
            head += f.read(1)
    nul = head.find(b"\x00")
    if nul == 0 or (nul > 0 and _record_end(head[:nul]) is None):
        raise DataError(f"{name}: a NUL byte (0x00) in the header (row 1): this is not a "
                        "text CSV file; save it as CSV text")
    if nul > 0:
        head = head[:nul]  # sniff on the text before it, to name its row and column
    text = codecs.getincrementaldecoder("utf-8-sig")("replace").decode(head)
    if not text.strip():
        raise DataError(f"{name}: the file is empty; expected a header row and data rows")
    if delimiter is None:
        delimiter = _sniff(text)
    try:  # newline="": a lone carriage return ends a line, as in the files themselves
        first = next(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter), [])
    except csv.Error as err:
        raise DataError(f"{name}: the header row (row 1) cannot be read as CSV ({err}); check "
                        "the delimiter (--delimiter) and quoting") from None
    header = [h.strip() for h in first]
    for i, h in enumerate(header):
        if not h:
            raise DataError(f"{name}: column {i + 1} of the header has no name; give every "
                            "column a name in the first row")
    dupes = sorted(h for h, n in Counter(header).items() if n > 1)  # linear, for wide files
    if dupes:
        shown = ", ".join(quote(d, 30) for d in dupes[:10])
        raise DataError(f"{name}: duplicate column names in the header: {shown}"
                        + (f" (and {len(dupes) - 10} more)" if len(dupes) > 10 else ""))
    if nul > 0:
        raise nul_error(name, delimiter, header, nul)
    end = _record_end(head, delimiter)  # the LF of a CR LF
    return delimiter, header, (len(head) if end is None else end) + 1


def _record_end(data: bytes, delimiters: str = _DELIMITERS) -> int | None:
    """The offset of the line break that ends the first record of ``data`` (a quoted line
    break does not end it; a quote inside an unquoted value, as in ``12"``, opens nothing),
    or None when ``data`` holds no whole record.  ``delimiters``: the delimiter, or the
    candidates while it is not known.

    >>> _record_end(b'a,"b\\nc"\\nd'), _record_end(b'a,"b\\n'), _record_end(b'a,12"\\nb,"')
    (7, None, 5)
    """
    ends = QuoteScan(delimiters.encode()).record_ends(data)
    return int(ends[0]) if len(ends) else None


def _sniff(text: str) -> str:
    """The delimiter of a CSV sample: the one that splits the first lines most consistently."""
    lines = [ln for ln in text.splitlines()[:50] if ln.strip()]
    if len(lines) > 1:
        lines = lines[:-1]  # the last line of a sample may be cut short
    sample = "\n".join(lines)
    try:
        return csv.Sniffer().sniff(sample, delimiters=_DELIMITERS).delimiter
    except csv.Error:
        pass
    # The sniffer gives up on files with quoted fields and varying counts; count instead.
    counts = {d: [ln.count(d) for ln in lines] for d in _DELIMITERS}
    best = max(_DELIMITERS, key=lambda d: (min(counts[d]) > 0, min(counts[d]), d == ","))
    return best if min(counts[best]) > 0 else ","


def nul_error(name: str, delimiter: str, header: list[str], offset: int) -> DataError:
    """The DataError for a NUL byte at ``offset``, naming its row and column."""
    return DataError(f"{name}: a NUL byte (0x00) at "
                     f"{_where_in_prefix(name, delimiter, header, offset)}: this is not a text "
                     "CSV file; save it as CSV text")


# -- the slow exact pass, run only to explain a problem ------------------------------------------
def _records(name: str, delimiter: str, span: tuple[int, int] | None = None,
             first: int = 1) -> Iterator[tuple[int, list[str]]]:
    """(record number, cells) for each record; the header is record 1, blank lines count.

    Without ``span`` the whole file, strictly (to name what is malformed: text after a
    closing quote, a quote never closed).  With ``span`` (bytes ``[start, stop)`` of a file
    already parsed, beginning at a record), the records there, the first numbered ``first``,
    read as the parser reads them (``"ab"x`` is the value ``abx``)."""
    if span is None:
        with open(readable(name), newline="", encoding="utf-8-sig", errors="strict") as f:
            yield from _numbered(csv.reader(f, delimiter=delimiter, strict=True), 1)
        return
    with open(readable(name), "rb") as f:
        f.seek(span[0])
        text = f.read(span[1] - span[0]).decode("utf-8", errors="replace")
    yield from _numbered(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter), first)


def _numbered(reader: Iterator[list[str]], first: int) -> Iterator[tuple[int, list[str]]]:
    """``enumerate(reader, first)`` with no limit on a value's length (the csv module's
    default is 128 KiB).  That limit is one setting for the whole process, so it is raised
    only while a record is read and put back before the record is handed on: the caller's
    own csv code, run between records or after, keeps its limit."""
    number = first
    while True:
        old = csv.field_size_limit(max(csv.field_size_limit(), _FIELD_LIMIT))
        try:
            cells = next(reader, None)
        finally:
            csv.field_size_limit(old)
        if cells is None:
            return
        yield number, cells
        number += 1


def _bad_byte(name: str) -> tuple[int, int] | None:
    """(byte offset, byte) of the first byte that is not UTF-8, or None."""
    dec = codecs.getincrementaldecoder("utf-8")("strict")
    offset = 0
    with open(readable(name), "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            try:
                dec.decode(chunk)
            except UnicodeDecodeError as err:
                pos = offset + err.start - len(dec.getstate()[0])
                return max(pos, offset + err.start - 3) if pos < 0 else pos, chunk[err.start]
            offset += len(chunk)
    pending = dec.getstate()[0]
    if pending:  # the file ends inside a multi-byte sequence
        return offset - len(pending), pending[0]
    return None


def _where_in_prefix(name: str, delimiter: str, header: list[str], offset: int) -> str:
    """'row R, column C' of the byte at ``offset`` (the file is valid UTF-8 before it)."""
    with open(readable(name), "rb") as f:
        prefix = f.read(offset).decode("utf-8-sig", errors="replace")
    rows = list(csv.reader(io.StringIO(prefix + "\x00", newline=""), delimiter=delimiter))
    row = len(rows)
    col = len(rows[-1]) if rows else 1
    return f"row {row}, column {_column_name(header, col - 1)}"


def _column_name(header: Sequence[str], j: int) -> str:
    return quote(header[j], 40) if 0 <= j < len(header) else f"{j + 1} (beyond the header)"


def diagnose(name: str, delimiter: str, header: list[str], fallback: str = "") -> DataError:
    """A DataError naming the first malformed record of the file and its column."""
    found = _bad_byte(name)
    if found is not None:
        offset, byte = found
        return DataError(f"{name}: not a UTF-8 text file: byte 0x{byte:02x} at "
                         f"{_where_in_prefix(name, delimiter, header, offset)} cannot be "
                         "decoded; save the file as CSV in UTF-8")
    opened = 0
    try:
        for number, row in _records(name, delimiter):
            opened = number
            if row and len(row) != len(header) and any(c.strip() for c in row):
                return DataError(f"{name}: row {number} has {len(row)} values but the header "
                                 f"has {len(header)} columns; check the delimiter "
                                 f"({quote(delimiter)}, or pass --delimiter) and quoting")
    except csv.Error as err:
        text = str(err)
        if "unexpected end of data" in text or "EOF" in text:
            return DataError(f"{name}: a quoted value opened in row {opened + 1} is never "
                             "closed (the file ends inside quotes); close the quote with \"")
        return DataError(f"{name}: malformed CSV in row {opened + 1}: {quote(text, 120)}")
    return DataError(f"{name}: could not read the CSV file: {quote(fallback, 200)}")


def record_number(frame: Any, position: int) -> int:
    """The record number (header = 1) of row ``position`` (0-based) of a frame from
    :func:`read_frame` or a rank's share of one (:mod:`chainrule.data.shares`), also after
    rows were filtered out; for a DataFrame built in memory, ``position + 2``.

    A frame read from a file keeps each row's position among the file's data rows as its
    index label, and in ``attrs`` where its bytes start and that start's record number.
    Blank lines are rows of a spreadsheet, so they count; the span is re-read only when it
    has blank lines (the parser skips them).
    """
    attrs = frame.attrs if hasattr(frame, "attrs") else {}
    first = attrs.get("chainrule_first_record")
    if first is None:
        return position + 2
    row = int(frame.index[position]) - attrs["chainrule_first_row"]  # data rows before it
    if not attrs.get("chainrule_blank_lines"):
        return first + row
    seen = -1
    for number, cells in _records(attrs["chainrule_source"], attrs["chainrule_delimiter"],
                                  attrs["chainrule_span"], first):
        if cells:  # the parser skips only the lines with nothing on them
            seen += 1
            if seen == row:
                return number
    return first + row


def has_blank_lines(name: str, span: tuple[int, int]) -> bool:
    """Whether bytes ``[start, stop)`` of the file hold an empty line."""
    start, stop = span
    with open(readable(name), "rb") as f:
        f.seek(max(0, start - 1))  # a blank line right at the start ends with its first byte
        left = stop - f.tell()
        data_tail = b""
        while left > 0:
            chunk = f.read(min(left, 1 << 20))
            if not chunk:
                break
            left -= len(chunk)
            data = data_tail + chunk
            if b"\n\n" in data or b"\n\r" in data or b"\r\r" in data:  # LF, CR LF, CR
                return True
            data_tail = data[-2:]
    return False


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
    _check_delimiter(delimiter)
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
        _check_short_rows(frame, self, span, first_record)
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
    _check_delimiter(delimiter)
    name = file_path(source)
    delimiter, header, header_end = _prescan(name, delimiter)
    return TableFile(name, delimiter, header, header_end)


def _check_short_rows(frame: Any, f: TableFile, span: tuple[int, int], first: int) -> None:
    """The C engine fills a short row's missing cells with NaN: find and refuse such rows.

    Only rows whose last cell is missing can be short, and a count of the delimiters
    finds whether any record is (a 46 MB file: 0.1 s, the exact pass 1.1 s), so the
    exact pass that names the row runs only then.
    """
    if len(frame) and frame.iloc[:, -1].isna().any() and \
            has_short_record(f.name, span, f.delimiter, len(f.header)):
        for number, row in _records(f.name, f.delimiter, span, first):
            if row and len(row) < len(f.header) and any(c.strip() for c in row):
                raise DataError(f"{f.name}: row {number} has {len(row)} values but the "
                                f"header has {len(f.header)} columns; check the delimiter "
                                f"({quote(f.delimiter)}, or pass --delimiter) and quoting")


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
