"""The bytes of a CSV file, scanned without parsing it: NUL bytes, a quoted value never
closed, and under MPI the contiguous pieces of whole records that the ranks read.

:func:`scan_bytes` makes one pass over bytes of the file; :func:`share_scan` and
:func:`record_range` give each rank its byte range of whole records, found with one pass over
the bytes shared between the ranks; :func:`records_in` counts the records of a range (for row
numbers).  Where a record ends follows :mod:`chainrule.data.records` (the quoting rule of the
parsers, ``12"`` included).
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from typing import NamedTuple

import numpy as np

from .encoding import readable
from .records import (
    CR,
    LF,
    RECORD_START,
    QuoteScan,
    QuoteState,
    has_blank_cr_line,
    states_after,
)

__all__ = ["ByteScan", "RecordRange", "record_range", "records_in", "scan_bytes", "share_scan"]

_BLOCK = 1 << 20  # bytes scanned at a time


# -- scanning the bytes: NUL bytes, quotes, a rank's share of the records (MPI) ---------------
def _blocks(name: str, start: int, stop: int) -> Iterator[tuple[int, bytes, int | None]]:
    """(offset, bytes, the byte after them or None at the end of the file) for the blocks of
    bytes ``[start, stop)`` of the file."""
    with open(readable(name), "rb") as f:
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
    (None when there is none), the quoting state after the last byte for each state the
    pass may have begun in, and whether a blank line may be a lone carriage return
    (:func:`~chainrule.data.records.without_blank_cr_lines`)."""

    nul: int | None
    after: dict[QuoteState, QuoteState]
    blank_cr: bool = False


def scan_bytes(name: str, delimiter: str, start: int, stop: int | None = None,
               states: Sequence[QuoteState] = (RECORD_START,)) -> ByteScan:
    """Look for NUL bytes in bytes ``[start, stop)`` of the file and follow the quoting from
    each of ``states`` to the end of them (one read of the bytes for all).

    A parser may read a quote never closed as a value holding the rest of the file (pyarrow
    does), and reads a NUL byte as part of a value (a number column becomes text); one pass
    over the bytes (about 0.1 s per 200 MB without quotes) catches both.
    """
    stop = os.path.getsize(readable(name)) if stop is None else stop
    scans = {s: QuoteScan(delimiter.encode(), s) for s in states}
    nul, blank_cr = None, False
    before = bytes([b]) if (b := _byte_at(name, start - 1)) is not None and start > 0 else b""
    for offset, block, _ in _blocks(name, start, stop):
        if nul is None and b"\x00" in block:
            nul = offset + block.index(b"\x00")
        blank_cr = blank_cr or (b"\r" in block and has_blank_cr_line(before + block))
        before = block[-1:]
        for scan in scans.values():
            scan.structural(block)
    return ByteScan(nul, {s: scan.state for s, scan in scans.items()}, blank_cr)


def _byte_at(name: str, offset: int) -> int | None:
    with open(readable(name), "rb") as f:
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
    total = os.path.getsize(readable(name))
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
    total = os.path.getsize(readable(name))
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


def has_short_record(name: str, span: tuple[int, int], delimiter: str, columns: int
                     ) -> bool:
    """Whether a record in bytes ``span`` (which begin at a record) may hold fewer than
    ``columns`` values, blank lines aside: one vectorised pass that counts the delimiters
    outside quotes (pandas' C engine fills the values missing from a short record with NaN
    and says nothing; the exact pass that names the row runs only when this finds one)."""
    sep = delimiter.encode()
    if columns <= 1:
        return False
    if len(sep) != 1:
        return True  # a delimiter of several bytes: leave the counting to the exact pass
    scan = QuoteScan(sep)
    carried, start, last = 0, span[0], b""  # the record running on from the blocks before
    for offset, block, following in _blocks(name, *span):
        ends, seps = scan.split(block, following, sep[0])
        if len(ends):
            counts = np.diff(np.searchsorted(seps, ends), prepend=0)
            counts[0] += carried
            starts = np.concatenate(([start - offset], ends[:-1] + 1))
            a = np.frombuffer(last + block, dtype=np.uint8)[len(last):]
            length = ends - starts
            first = np.where(starts >= 0, a[np.maximum(starts, 0)],
                             last[-1] if last else 0)
            blank = (length == 0) | ((length == 1) & (first == CR))  # CR of a CR LF
            if np.any((counts < columns - 1) & ~blank):
                return True
            carried = len(seps) - int(np.searchsorted(seps, ends[-1]))
            start = offset + int(ends[-1]) + 1
        else:
            carried += len(seps)
        last = block[-1:]
    return carried < columns - 1 and start < span[1]


def records_in(name: str, start: int, stop: int, delimiter: str = ",") -> int:
    """The bytes that end a record in ``[start, stop)`` (which begin at a record): the
    number of records that end there."""
    scan = QuoteScan(delimiter.encode())
    return sum(len(scan.record_ends(block, following))
               for _, block, following in _blocks(name, start, stop))
