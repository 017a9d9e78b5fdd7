"""Reading a large CSV file in pieces of whole records, to bound the parser's memory.

pyarrow's CSV reader keeps every parsed block of the file until it has typed each column (it
may have to convert a column again), so reading a 200 MB file at once held about 360 MB
besides the 76 MB of numbers.  :func:`read_in_pieces` cuts the file at record boundaries
(a line break outside quotes) into pieces of :data:`PIECE_BYTES`, lets pandas read each one
with the header in front, and joins the frames.  Each piece is typed on its own, so where
the pieces disagree about a column beyond whole numbers against decimals (text in one piece,
numbers in another), it returns None and the caller reads the file whole: the result is
always what one read of the whole file gives.

Under MPI, :func:`record_range` gives each rank its contiguous byte range of whole records,
found with one pass over the bytes shared between the ranks.
"""

from __future__ import annotations

import io
import os
from collections.abc import Iterator
from typing import Any, NamedTuple

import numpy as np

__all__ = ["PIECE_BYTES", "RecordRange", "last_record_end", "read_in_pieces", "record_range",
           "records_in", "scan_bytes"]

PIECE_BYTES = 16 << 20
"""Bytes read per piece (a piece ends at the last whole record in it)."""


def last_record_end(data: bytes) -> int | None:
    """The offset of the last line feed of ``data`` outside quotes (``data`` starts at a
    record's start), or None when there is none.

    >>> last_record_end(b'1,"a\\nb"\\n2,c\\n3'), last_record_end(b'1,"a\\nb')
    (11, None)
    """
    if b'"' not in data:
        end = data.rfind(b"\n")
        return end if end >= 0 else None
    a = np.frombuffer(data, dtype=np.uint8)
    quotes = np.flatnonzero(a == ord('"'))
    breaks = np.flatnonzero(a == ord("\n"))
    outside = breaks[np.searchsorted(quotes, breaks) % 2 == 0]  # an even count of quotes before
    return int(outside[-1]) if len(outside) else None


def _pieces(name: str, header_end: int, span: tuple[int, int] | None = None
            ) -> Iterator[tuple[bytes, bytes]]:
    """(header bytes, piece bytes) for each piece of whole records after the header (in
    bytes ``span``, which begins at a record, when given)."""
    with open(name, "rb") as f:
        header = f.read(header_end)
        start, stop = span if span is not None else (header_end, os.path.getsize(name))
        f.seek(start)
        left = stop - start
        carry = b""
        while True:
            chunk = f.read(min(PIECE_BYTES, left))
            left -= len(chunk)
            data = carry + chunk
            if not chunk:
                if data.strip():
                    yield header, data
                return
            end = last_record_end(data)
            if end is None:
                carry = data
                continue
            carry = data[end + 1:]
            yield header, data[:end + 1]


def _compatible(frames: list[Any]) -> bool:
    """Whether every column has one type in every piece, or numbers (whole or not) in each."""
    for j in range(frames[0].shape[1]):
        kinds = {f.dtypes.iloc[j] for f in frames}
        if len(kinds) > 1 and not all(k.kind in "iuf" for k in kinds):
            return False
    return True


def read_in_pieces(pd: Any, name: str, header_end: int, options: dict[str, Any],
                   span: tuple[int, int] | None = None) -> Any:
    """The frame ``pd.read_csv(name, **options)`` gives (of the records in bytes ``span``
    only, when given), read piece by piece; None where the pieces' column types disagree
    (read it whole then).  Parser errors propagate."""
    import pyarrow

    # pyarrow's allocator keeps the memory a piece's parse freed; hand it back after each
    # piece (200 MB file: about 95 MB fewer resident at the end of the read).
    pool = pyarrow.default_memory_pool()
    frames = []
    for header, piece in _pieces(name, header_end, span):
        frames.append(pd.read_csv(io.BytesIO(header + piece), **options))
        del piece
        pool.release_unused()
    if not frames or not _compatible(frames):
        return None
    if any(f.shape[1] != frames[0].shape[1] for f in frames):
        return None
    frame = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]
    frames.clear()
    pool.release_unused()
    return frame


# -- a rank's share of the records (MPI) ------------------------------------------------------
def scan_bytes(name: str, start: int = 0, stop: int | None = None) -> tuple[int, int | None]:
    """The double quotes in bytes ``[start, stop)`` of the file (an odd count in the whole
    file means one is never closed) and the offset of the first NUL byte there (None when
    there is none).

    The pyarrow engine reads an unterminated quote as a cell holding the rest of the file,
    and a NUL byte as part of a cell (a number column becomes text); counting bytes is cheap
    (about 0.1 s per 200 MB) and catches both.
    """
    quotes, nul, offset = 0, None, start
    with open(name, "rb") as f:
        f.seek(start)
        left = (os.path.getsize(name) if stop is None else stop) - start
        while left > 0:
            chunk = f.read(min(left, 1 << 20))
            if not chunk:
                break
            quotes += chunk.count(b'"')
            if nul is None and b"\x00" in chunk:
                nul = offset + chunk.index(b"\x00")
            offset += len(chunk)
            left -= len(chunk)
    return quotes, nul


def _next_record_start(name: str, at: int, inside: bool, size: int) -> int:
    """The first record start at or after byte ``at`` (``inside``: whether ``at`` is inside
    quotes), or ``size`` when no record starts there."""
    with open(name, "rb") as f:
        if at > 0:
            f.seek(at - 1)
            if f.read(1) == b"\n" and not inside:
                return at
        pos = at
        while True:
            chunk = f.read(1 << 16)
            if not chunk:
                return size
            a = np.frombuffer(chunk, dtype=np.uint8)
            quotes = np.flatnonzero(a == ord('"'))
            breaks = np.flatnonzero(a == ord("\n"))
            outside = breaks[(np.searchsorted(quotes, breaks) + inside) % 2 == 0]
            if len(outside):
                return pos + int(outside[0]) + 1
            inside = (inside + len(quotes)) % 2 == 1
            pos += len(chunk)


class RecordRange(NamedTuple):
    """A rank's bytes ``[start, stop)`` of whole records, whether the file's double quotes
    balance (an odd count means a quote is never closed), and the offset of the file's first
    NUL byte (None when there is none)."""

    start: int
    stop: int
    balanced: bool
    nul: int | None = None


def record_range(name: str, header_end: int, rank: int, size: int,
                 gather: Any) -> RecordRange:
    """Bytes ``[start, stop)`` of the data records that ``rank`` of ``size`` reads: the ranks'
    ranges are contiguous, cover every record after the header once, and begin and end at
    record boundaries (a line feed inside quotes is not one).

    Each rank counts the quotes in its equal share of the bytes and looks for NUL bytes (one
    pass over the file, split between the ranks); ``gather`` (a communicator's, every rank's
    value in rank order) tells each rank the quote parity where its share and the next begin,
    and a short scan from each finds the first record start.  The quoting rule is the one a
    CSV parser follows when every quote opens, closes or doubles inside a quoted field.
    """
    total = os.path.getsize(name)
    cuts = [header_end + (total - header_end) * r // size for r in range(size + 1)]
    scans = gather(scan_bytes(name, cuts[rank], cuts[rank + 1]))
    counts = [quotes for quotes, _ in scans]
    before = [sum(counts[:r]) % 2 == 1 for r in range(size + 1)]

    def boundary(r: int) -> int:
        if r == 0:
            return header_end
        if r == size:
            return total
        return _next_record_start(name, cuts[r], before[r], total)

    start = boundary(rank)
    nul = next((at for _, at in scans if at is not None), None)
    return RecordRange(start, max(start, boundary(rank + 1)), sum(counts) % 2 == 0, nul)


def records_in(name: str, start: int, stop: int) -> int:
    """The line feeds outside quotes in bytes ``[start, stop)`` (which begin at a record):
    the number of records that end there."""
    n, inside = 0, False
    with open(name, "rb") as f:
        f.seek(start)
        left = stop - start
        while left > 0:
            chunk = f.read(min(left, 1 << 20))
            if not chunk:
                break
            left -= len(chunk)
            if b'"' not in chunk and not inside:
                n += chunk.count(b"\n")
                continue
            a = np.frombuffer(chunk, dtype=np.uint8)
            quotes = np.flatnonzero(a == ord('"'))
            breaks = np.flatnonzero(a == ord("\n"))
            n += int(np.count_nonzero((np.searchsorted(quotes, breaks) + inside) % 2 == 0))
            inside = (inside + len(quotes)) % 2 == 1
    return n
