"""Where the records of CSV bytes end: the quoting rule the CSV parsers follow, applied to
bytes with NumPy.

A double quote opens a quoted value only at the start of a value (after a delimiter, a line
break or the start of a record); there a line break does not end the record, and ``""`` is
one quote.  A quote anywhere else is a plain character: ``12"`` (inches) is the text
``12"``, and its quote opens nothing.  pandas (both engines), pyarrow and Python's ``csv``
module all read this way, so counting quotes (an odd count before a line feed means it is
inside quotes) goes wrong after the first such plain quote: it would cut records in two.

:class:`QuoteScan` follows the rule over a stream of byte blocks and finds the quotes that
open or close a value; the line breaks outside them end records.  Only the quotes are
looked at one run at a time (a run of plain quotes, then a quoted value), so a block without
quotes costs one ``bytes.count``.

>>> scan = QuoteScan(b",")
>>> scan.record_ends(b'a,12",x\\nb,"p\\nq",y\\n').tolist()
[7, 17]
>>> scan.state.inside
False
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

__all__ = ["AFTER_CLOSER", "AFTER_LITERAL", "AFTER_OTHER", "AFTER_START", "QuoteScan",
           "QuoteState", "states_after"]

QUOTE, LF, CR = ord('"'), ord("\n"), ord("\r")

AFTER_START = 0
"""The byte before is a delimiter or a line break (or nothing): a quote here opens a value."""
AFTER_CLOSER = 1
"""The byte before is the quote that closed a value: a quote here is the second of ``""``."""
AFTER_LITERAL = 2
"""The byte before is a plain quote inside an unquoted value: a quote here is plain too."""
AFTER_OTHER = 3
"""The byte before is any other character of an unquoted value."""


class QuoteState(NamedTuple):
    """Where a byte stream stands between two bytes: inside a quoted value or not, and (only
    outside quotes) what the byte before was (one of the ``AFTER_*`` constants)."""

    inside: bool
    after: int = AFTER_START


RECORD_START = QuoteState(False, AFTER_START)
INSIDE = QuoteState(True, AFTER_OTHER)


def states_after(byte: int | None, delimiters: bytes) -> list[QuoteState]:
    """The states a stream can be in just after ``byte`` (None: the start of a record):
    inside quotes, or outside with what ``byte`` says (a quote may have closed a value or
    been a plain one)."""
    if byte is None:
        return [RECORD_START]
    if byte == QUOTE:
        return [INSIDE, QuoteState(False, AFTER_CLOSER), QuoteState(False, AFTER_LITERAL)]
    after = AFTER_START if byte in (LF, CR) or byte in delimiters else AFTER_OTHER
    return [INSIDE, QuoteState(False, after)]


class QuoteScan:
    """Follows the quoting rule over consecutive blocks of bytes, from ``state`` (default:
    the start of a record).  ``delimiters``: the bytes that separate values (more than one
    while the delimiter is not known yet)."""

    def __init__(self, delimiters: bytes, state: QuoteState = RECORD_START) -> None:
        self.delimiters = np.frombuffer(bytes(delimiters), dtype=np.uint8)
        self.state = state

    def _after(self, last: int) -> int:
        if last in (LF, CR) or last in self.delimiters:
            return AFTER_START
        return AFTER_OTHER

    def structural(self, block: bytes | np.ndarray) -> np.ndarray:
        """The offsets in ``block`` of the quotes that open or close a quoted value (in
        order; plain quotes left out), moving the state past ``block``.  Inside quotes
        before offset ``x`` ⇔ an odd number of them before ``x``, plus one if the block
        began inside quotes (see :meth:`outside`)."""
        state = self.state
        if not len(block):
            return np.empty(0, dtype=np.int64)
        a = np.frombuffer(block, dtype=np.uint8) if isinstance(block, bytes) else block
        q = np.flatnonzero(a == QUOTE) if not isinstance(block, bytes) or b'"' in block else \
            np.empty(0, dtype=np.int64)
        if not len(q):
            if not state.inside:
                self.state = QuoteState(False, self._after(int(a[-1])))
            return q
        prev = np.empty(len(q), dtype=np.int64)
        prev[1:] = a[q[1:] - 1]
        prev[0] = a[q[0] - 1] if q[0] > 0 else -1
        start = np.isin(prev, self.delimiters) | (prev == LF) | (prev == CR)
        next_to_quote = prev == QUOTE
        if q[0] == 0:  # the first byte: what came before is in the state
            start[0] = state.after == AFTER_START
            next_to_quote[0] = state.after in (AFTER_CLOSER, AFTER_LITERAL)
        plain = self._plain(q, start, next_to_quote, state)
        quotes = q[~plain]
        inside = (state.inside + len(quotes)) % 2 == 1
        last = int(a[-1])
        if inside:
            self.state = INSIDE
        elif last == QUOTE:
            self.state = QuoteState(False, AFTER_LITERAL if plain[-1] else AFTER_CLOSER)
        else:
            self.state = QuoteState(False, self._after(last))
        return quotes

    @staticmethod
    def _plain(q: np.ndarray, start: np.ndarray, next_to_quote: np.ndarray,
               state: QuoteState) -> np.ndarray:
        """Which quotes are plain characters.  Outside quotes, a quote opens a value after a
        delimiter or line break, is the second of ``""`` right after a closing quote, and is
        plain anywhere else; then every quote up to the next one after a delimiter or line
        break is plain too (it is still the same unquoted value).  Inside quotes, a quote
        closes the value."""
        n = len(q)
        plain = np.zeros(n, dtype=bool)
        idx = np.arange(n)
        loose = ~start & ~next_to_quote  # plain wherever the stream is outside quotes
        # quote i is met outside quotes when (i + flips) is even, flips counting the quotes
        # before it that changed the state: one candidate list per parity
        candidates = (np.flatnonzero(loose & (idx % 2 == 0)),
                      np.flatnonzero(loose & (idx % 2 == 1)))
        starts = np.flatnonzero(start)
        flips = int(state.inside)
        i = 0
        # j: the first quote of a plain run (-1: look for one); the block may begin inside
        # the plain run of the block before
        j = 0 if q[0] == 0 and not state.inside and state.after == AFTER_LITERAL else -1
        while i < n:
            if j < 0:
                c = candidates[flips % 2]
                k = int(np.searchsorted(c, i))
                if k == len(c):
                    break
                j = int(c[k])
            # every quote from j to the next one after a delimiter or line break is plain
            k = int(np.searchsorted(starts, j + 1))
            end = int(starts[k]) if k < len(starts) else n
            plain[j:end] = True
            flips += end - j
            i, j = end, -1
        return plain

    def outside(self, quotes: np.ndarray, inside: bool, offsets: np.ndarray) -> np.ndarray:
        """Which ``offsets`` of a block are outside quotes, given the block's
        :meth:`structural` quotes and whether it began inside quotes."""
        return (np.searchsorted(quotes, offsets) + inside) % 2 == 0

    def record_ends(self, block: bytes, following: int | None = None) -> np.ndarray:
        """The offsets in ``block`` of the bytes that end a record: a line feed, or a
        carriage return not followed by a line feed, outside quotes (``following``: the byte
        after the block, None at the end of the file).  Moves the state past ``block``."""
        return self.split(block, following)[0]

    def split(self, block: bytes, following: int | None = None, delimiter: int | None = None
              ) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`record_ends`, and the offsets of the bytes ``delimiter`` outside quotes
        (those that separate values; empty without ``delimiter``).  Moves the state past
        ``block``."""
        a = np.frombuffer(block, dtype=np.uint8)
        inside = self.state.inside
        quotes = self.structural(block)
        breaks = np.flatnonzero(a == LF)
        if CR in a:
            cr = np.flatnonzero(a == CR)
            after = np.append(a[1:], np.uint8(following if following is not None else 0))
            lone = cr[after[cr] != LF]
            breaks = np.union1d(breaks, lone) if len(lone) else breaks
        seps = np.flatnonzero(a == delimiter) if delimiter is not None else breaks[:0]
        if not len(quotes) and not inside:
            return breaks, seps
        return (breaks[self.outside(quotes, inside, breaks)],
                seps[self.outside(quotes, inside, seps)])


def has_blank_cr_line(data: bytes) -> bool:
    """Whether ``data`` may hold a blank line made of a lone carriage return (a quick test:
    a carriage return right after a line break); see :func:`without_blank_cr_lines`."""
    return b"\n\r" in data or b"\r\r" in data or data.startswith(b"\r")


def without_blank_cr_lines(data: bytes, delimiters: bytes) -> bytes:
    """``data`` (which begins at a record) without its blank lines made of a lone carriage
    return outside quotes.

    pandas' C engine loses the first value of a record that begins with a delimiter right
    after such a line (``x,y`` then ``\\r,a`` reads as ``a`` and an empty value, the values
    shifted one column left; a record of empty values vanishes).  The parser skips blank
    lines anyway, so the rows are those of the file.

    >>> without_blank_cr_lines(b'1,2\\n\\r,3\\r\\r"\\r",4\\r', b",")
    b'1,2\\n,3\\r"\\r",4\\r'
    """
    a = np.frombuffer(data, dtype=np.uint8)
    ends = QuoteScan(delimiters).record_ends(data)
    before = np.empty_like(ends)
    before[1:] = ends[:-1]
    if len(ends):
        before[0] = -1
    blank = ends[(a[ends] == CR) & (before == ends - 1)]
    return np.delete(a, blank).tobytes() if len(blank) else data
