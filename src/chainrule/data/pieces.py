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
from collections.abc import Iterator, Sequence
from typing import Any, NamedTuple

from .records import CR, LF, RECORD_START, QuoteScan, QuoteState, states_after

__all__ = ["PIECE_BYTES", "ByteScan", "RecordRange", "last_record_end", "read_in_pieces",
           "record_range", "records_in", "scan_bytes", "share_scan"]

PIECE_BYTES = 16 << 20
"""Bytes read per piece (a piece ends at the last whole record in it)."""
_BLOCK = 1 << 20  # bytes scanned at a time


def last_record_end(data: bytes, delimiter: str = ",") -> int | None:
    """The offset of the last byte of ``data`` that ends a record (``data`` starts at a
    record's start; quoted line breaks and plain quotes as in ``12"`` are read as a CSV
    parser reads them), or None when there is none.  A carriage return at the very end may
    be the first half of a CR LF, so it does not count.

    >>> last_record_end(b'1,"a\\nb"\\n2,c\\n3'), last_record_end(b'1,"a\\nb')
    (11, None)
    """
    ends = QuoteScan(delimiter.encode()).record_ends(data, following=LF)
    return int(ends[-1]) if len(ends) else None


def _pieces(name: str, header_end: int, delimiter: str, span: tuple[int, int] | None = None
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
            end = last_record_end(data, delimiter)
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
    for header, piece in _pieces(name, header_end, options["sep"], span):
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


# -- scanning the bytes: NUL bytes, quotes, a rank's share of the records (MPI) ---------------
def _blocks(name: str, start: int, stop: int) -> Iterator[tuple[int, bytes, int | None]]:
    """(offset, bytes, the byte after them or None at the end of the file) for the blocks of
    bytes ``[start, stop)`` of the file."""
    with open(name, "rb") as f:
        f.seek(start)
        block = f.read(min(max(stop - start, 0), _BLOCK))
        offset = start
        while block:
            left = stop - offset - len(block)
            following = f.read(min(left, _BLOCK) if left > 0 else 1)
            yield offset, block, following[0] if following else None
            offset += len(block)
            block = following if left > 0 else b""


class ByteScan(NamedTuple):
    """What one pass over bytes ``[start, stop)`` found: the offset of the first NUL byte
    (None when there is none) and the quoting state after the last byte, for each state
    the pass may have begun in."""

    nul: int | None
    after: dict[QuoteState, QuoteState]


def scan_bytes(name: str, delimiter: str, start: int, stop: int | None = None,
               states: Sequence[QuoteState] = (RECORD_START,)) -> ByteScan:
    """Look for NUL bytes in bytes ``[start, stop)`` of the file and follow the quoting from
    each of ``states`` to the end of them (one read of the bytes for all).

    The pyarrow engine reads a quote never closed as a cell holding the rest of the file,
    and a NUL byte as part of a cell (a number column becomes text); one pass over the bytes
    (about 0.1 s per 200 MB without quotes) catches both.
    """
    stop = os.path.getsize(name) if stop is None else stop
    scans = {s: QuoteScan(delimiter.encode(), s) for s in states}
    nul = None
    for offset, block, _ in _blocks(name, start, stop):
        if nul is None and b"\x00" in block:
            nul = offset + block.index(b"\x00")
        for scan in scans.values():
            scan.structural(block)
    return ByteScan(nul, {s: scan.state for s, scan in scans.items()})


def _byte_at(name: str, offset: int) -> int | None:
    with open(name, "rb") as f:
        f.seek(offset)
        b = f.read(1)
    return b[0] if b else None


def _next_record_start(name: str, at: int, state: QuoteState, delimiter: str,
                       size: int) -> int:
    """The first record start at or after byte ``at`` (in quoting ``state`` there), or
    ``size`` when no record starts there."""
    before = _byte_at(name, at - 1)
    if not state.inside and (before == LF or (before == CR and _byte_at(name, at) != LF)):
        return at
    scan = QuoteScan(delimiter.encode(), state)
    for offset, block, following in _blocks(name, at, size):
        ends = scan.record_ends(block, following)
        if len(ends):
            return offset + int(ends[0]) + 1
    return size


class RecordRange(NamedTuple):
    """A rank's bytes ``[start, stop)`` of whole records, whether the file's quotes are all
    closed (False: the file ends inside a quoted value), and the offset of the file's first
    NUL byte (None when there is none)."""

    start: int
    stop: int
    balanced: bool
    nul: int | None = None


def share_scan(name: str, header_end: int, rank: int, size: int, delimiter: str
               ) -> ByteScan:
    """What ``rank`` of ``size`` finds in its equal share of the bytes after the header: the
    first NUL byte, and the quoting state at the end of the share for each state the share
    may begin in (the byte before it tells which are possible)."""
    total = os.path.getsize(name)
    cuts = [header_end + (total - header_end) * r // size for r in range(size + 1)]
    states = [RECORD_START] if rank == 0 else \
        states_after(_byte_at(name, cuts[rank] - 1), delimiter.encode())
    return scan_bytes(name, delimiter, cuts[rank], cuts[rank + 1], states)


def record_range(name: str, header_end: int, rank: int, size: int,
                 scans: Sequence[ByteScan], delimiter: str = ",") -> RecordRange | None:
    """Bytes ``[start, stop)`` of the data records that ``rank`` of ``size`` reads: the ranks'
    ranges are contiguous, cover every record after the header once, and begin and end at
    record boundaries (a line break inside quotes is not one).

    Each rank scans its equal share of the bytes (:func:`share_scan`: one pass over the file,
    split between the ranks) from every quoting state the share may begin in; ``scans``,
    every rank's :func:`share_scan` in rank order, chain the shares from the header on,
    which gives the true state at each share's start, and a short scan from there finds the
    first record start.  Where a share's scan does not follow from the one before (not
    expected), None: read the file whole.
    """
    total = os.path.getsize(name)
    cuts = [header_end + (total - header_end) * r // size for r in range(size + 1)]
    state, begins = RECORD_START, []
    for scan in scans:
        begins.append(state)
        if state not in scan.after:
            return None
        state = scan.after[state]

    def boundary(r: int) -> int:
        if r == 0:
            return header_end
        if r == size:
            return total
        return _next_record_start(name, cuts[r], begins[r], delimiter, total)

    start = boundary(rank)
    nul = next((s.nul for s in scans if s.nul is not None), None)
    return RecordRange(start, max(start, boundary(rank + 1)), not state.inside, nul)


def records_in(name: str, start: int, stop: int, delimiter: str = ",") -> int:
    """The bytes that end a record in ``[start, stop)`` (which begin at a record): the
    number of records that end there."""
    scan = QuoteScan(delimiter.encode())
    return sum(len(scan.record_ends(block, following))
               for _, block, following in _blocks(name, start, stop))
