"""Text from a file, made safe to print: control characters escaped, length capped."""

from __future__ import annotations

from typing import Any

__all__ = ["MAX_QUOTE", "escape_controls", "printable"]

MAX_QUOTE = 200
"""The most characters of file content any error message quotes."""


def printable(value: Any, limit: int = MAX_QUOTE) -> str:
    """``repr`` of ``value`` (which escapes non-printable characters) cut to about ``limit``
    characters, saying how long it was: a name read from a file can neither flood a terminal
    nor send it control sequences.

    >>> print(printable("w\\x1b]0;x\\x07"))
    'w\\x1b]0;x\\x07'
    >>> print(printable("x" * 500, limit=10))
    'xxxxxxxxxx'... (500 characters)
    """
    if isinstance(value, str) and len(value) > limit:
        return repr(value[:limit]) + f"... ({len(value)} characters)"
    out = repr(value)
    return out if len(out) <= limit else out[:limit] + f"... ({len(out)} characters)"


def escape_controls(text: str) -> str:
    """``text`` with every non-printable character (terminal control sequences, format and
    bidi characters) written as its escape, printable ones kept as they are.

    >>> print(escape_controls("a\\x1b[2Jb c"))
    a\\x1b[2Jb c
    """
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii")
                   for c in text)
