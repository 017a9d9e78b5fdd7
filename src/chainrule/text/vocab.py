"""The words a character-level language model learns from, and its vocabulary.

A text file holds one word (a name, say) per line; blank lines are skipped and each line's
surrounding whitespace is dropped.  The vocabulary is every character of the training words
plus the boundary token ``'.'`` (:data:`BOUNDARY`), which stands for both the start and the
end of a word, as in Karpathy's makemore: the model reads ``.emma`` and learns to predict
``emma.``.  The boundary is token 0, the other characters follow in sorted order.

>>> vocab = Vocabulary.from_words(["emma", "ava"])
>>> vocab.chars, vocab.size
('.aemv', 5)
>>> vocab.encode("ava"), vocab.decode([1, 4, 1])
([1, 4, 1], 'ava')
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ..data.diagnosis import quote
from ..errors import DataError

__all__ = ["BOUNDARY", "Vocabulary", "read_words"]

BOUNDARY = "."
"""The token that starts and ends every word."""


@dataclass(frozen=True)
class Vocabulary:
    """The characters a model knows, ``chars[0]`` being the boundary token; ``encode`` turns a
    word into token numbers and ``decode`` turns them back."""

    chars: str

    def __post_init__(self) -> None:
        if not self.chars or self.chars[0] != BOUNDARY or len(set(self.chars)) != len(
                self.chars):
            raise DataError(f"a vocabulary is the boundary token {BOUNDARY!r} followed by "
                            f"distinct characters, got {quote(self.chars)}")

    @classmethod
    def from_words(cls, words: Iterable[str]) -> Vocabulary:
        """The vocabulary of ``words``: the boundary token, then their characters sorted."""
        seen = set().union(*map(set, words))
        return cls(BOUNDARY + "".join(sorted(seen - {BOUNDARY})))

    @property
    def size(self) -> int:
        """How many tokens (characters and the boundary)."""
        return len(self.chars)

    def encode(self, word: str) -> list[int]:
        """The token numbers of ``word``'s characters; DataError for a character the
        vocabulary lacks."""
        index = self._index
        try:
            return [index[c] for c in word]
        except KeyError as err:
            raise DataError(f"the character {quote(err.args[0])} of {quote(word)} is not in "
                            f"the model's vocabulary {quote(self.chars)}") from None

    def decode(self, tokens: Iterable[int]) -> str:
        """The characters of ``tokens`` (the boundary shown as ``'.'``)."""
        return "".join(self.chars[int(t)] for t in tokens)

    @property
    def _index(self) -> dict[str, int]:
        return {c: i for i, c in enumerate(self.chars)}

    def to_dict(self) -> dict[str, Any]:
        return {"chars": self.chars}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Vocabulary:
        chars = data.get("chars") if isinstance(data, Mapping) else None
        if not isinstance(chars, str):
            raise DataError(f"a vocabulary is stored as {{'chars': '.abc...'}}, got "
                            f"{quote(data)}")
        return cls(chars)


def read_words(path: str | os.PathLike[str]) -> list[str]:
    """The words of a UTF-8 text file, one per line (blank lines skipped, whitespace around
    each word dropped); DataError naming the file (and the line) for a file that is not UTF-8
    text, holds binary data, has no words, or has a word containing the boundary token."""
    name = os.fspath(path)
    with open(name, "rb") as f:
        raw = f.read()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        line = raw[:err.start].count(b"\n") + 1
        raise DataError(f"{_file(name)} is not UTF-8 text (an undecodable byte on line "
                        f"{line}); save it as UTF-8, one word per line") from None
    return words_of(text.splitlines(), name)


def words_of(lines: Sequence[str], name: str = "the text") -> list[str]:
    """The words of ``lines`` (see :func:`read_words`); ``name`` says where they came from.

    >>> words_of(["emma", "", "  olivia "])
    ['emma', 'olivia']
    """
    words = []
    for number, line in enumerate(lines, start=1):
        word = line.strip()
        if not word:
            continue
        bad = next((c for c in word if not c.isprintable()), None)
        if bad is not None:
            what = "binary data" if bad in "\x00\ufffd" or ord(bad) < 32 else "a control character"
            raise DataError(f"{_file(name)}, line {number}: {what} ({bad!r}) where a word "
                            "was expected; give a text file with one word per line")
        if BOUNDARY in word:
            raise DataError(f"{_file(name)}, line {number}: {quote(word)} contains "
                            f"{BOUNDARY!r}, the token that marks where words start and end; "
                            f"remove it from the text")
        words.append(word)
    if not words:
        raise DataError(f"{_file(name)} holds no words; give a text file with one word "
                        "(a name, say) per line")
    return words


def _file(name: str) -> str:
    """A file name for a message: quoted and escaped, whole (its end is what names it)."""
    return quote(name, limit=1000)
