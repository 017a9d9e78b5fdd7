"""Where a CSV file is malformed, found with the standard library's ``csv`` module, and how a
value read from a file is shown in a message.

:func:`prescan` makes the cheap checks the parser does not make (the start of the file, the
header's names) and chooses the delimiter; :func:`diagnose` names the first malformed record
of a file the parser refused, and :func:`check_short_rows` the first record with too few
values.  The parser is fast but terse, so these exact passes run only when it failed or
when a row number is needed (:func:`record_number`): well-formed files never pay for them.
Records are counted as in a spreadsheet: the header is row 1, a blank line is a row.
Nothing here needs pandas (:mod:`chainrule.data.tabular` reads the frames).
"""

from __future__ import annotations

import codecs
import csv
import io
from collections import Counter
from collections.abc import Iterator, Sequence
from typing import Any

from ..errors import DataError
from ..io import escape_controls
from .encoding import readable
from .pieces import has_short_record
from .records import QuoteScan

__all__ = ["check_delimiter", "check_short_rows", "diagnose", "exact_records", "has_blank_lines",
           "nul_error", "prescan", "quote", "record_number"]

_MAX_QUOTED = 60
_SNIFF_BYTES = 64 * 1024
_DELIMITERS = ",;\t|"
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



# -- the pre-scan: cheap checks the parser does not make -----------------------------------------
def check_delimiter(delimiter: str | None) -> None:
    """Refuse a delimiter that is not one character, or is a quote or a line break."""
    if delimiter is not None and (not isinstance(delimiter, str) or len(delimiter) != 1
                                  or delimiter in "\r\n\""):
        raise DataError(f"delimiter must be one character (not a quote or newline), got "
                        f"{quote(delimiter)}")


def prescan(name: str, delimiter: str | None) -> tuple[str, list[str], int]:
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
def exact_records(name: str, delimiter: str, span: tuple[int, int] | None = None,
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
        for number, row in exact_records(name, delimiter):
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
    :func:`~chainrule.data.tabular.read_frame` or a rank's share of one
    (:mod:`chainrule.data.shares`), also after rows were filtered out; for a DataFrame built
    in memory, ``position + 2``.

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
    for number, cells in exact_records(attrs["chainrule_source"], attrs["chainrule_delimiter"],
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


def check_short_rows(frame: Any, name: str, delimiter: str, header: Sequence[str],
                     span: tuple[int, int], first: int) -> None:
    """The C engine fills a short row's missing cells with NaN: find and refuse such rows.

    Only rows whose last cell is missing can be short, and a count of the delimiters
    finds whether any record is (a 46 MB file: 0.1 s, the exact pass 1.1 s), so the
    exact pass that names the row runs only then.
    """
    if len(frame) and frame.iloc[:, -1].isna().any() and \
            has_short_record(name, span, delimiter, len(header)):
        for number, row in exact_records(name, delimiter, span, first):
            if row and len(row) < len(header) and any(c.strip() for c in row):
                raise DataError(f"{name}: row {number} has {len(row)} values but the "
                                f"header has {len(header)} columns; check the delimiter "
                                f"({quote(delimiter)}, or pass --delimiter) and quoting")
