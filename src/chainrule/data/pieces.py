"""Reading a large CSV file in pieces of whole records, to bound the parser's memory.

pyarrow's CSV reader keeps every parsed block of the file until it has typed each column (it
may have to convert a column again), so reading a 200 MB file at once held about 360 MB
besides the 76 MB of numbers.  :func:`read_in_pieces` cuts the file at record boundaries
(a line break outside quotes) into pieces of :data:`PIECE_BYTES`, lets pandas read each one
with the header in front, and joins the frames.  Each piece is typed on its own, so where
the pieces disagree about a column beyond whole numbers against decimals (text in one piece,
numbers in another), it returns None and the caller reads the file whole: the result is
always what one read of the whole file gives.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import Any

import numpy as np

__all__ = ["PIECE_BYTES", "last_record_end", "read_in_pieces"]

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


def _pieces(name: str, header_end: int) -> Iterator[tuple[bytes, bytes]]:
    """(header bytes, piece bytes) for each piece of whole records after the header."""
    with open(name, "rb") as f:
        header = f.read(header_end)
        carry = b""
        while True:
            chunk = f.read(PIECE_BYTES)
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


def read_in_pieces(pd: Any, name: str, header_end: int, options: dict[str, Any]) -> Any:
    """The frame ``pd.read_csv(name, **options)`` gives, read piece by piece; None where the
    pieces' column types disagree (read the file whole then).  Parser errors propagate."""
    import pyarrow

    # pyarrow's allocator keeps the memory a piece's parse freed; hand it back after each
    # piece (200 MB file: about 95 MB fewer resident at the end of the read).
    pool = pyarrow.default_memory_pool()
    frames = []
    for header, piece in _pieces(name, header_end):
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
