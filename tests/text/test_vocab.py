"""Reading words and the vocabulary: the boundary token, the round trip, bad files."""

from __future__ import annotations

import pytest

from chainrule.errors import DataError
from chainrule.text import BOUNDARY, Vocabulary, read_words


def test_the_boundary_is_token_zero_and_words_round_trip(names: list[str]) -> None:
    words = names
    vocab = Vocabulary.from_words(words)
    assert vocab.chars[0] == BOUNDARY == "." and vocab.size == 27  # a-z and the boundary
    assert vocab.chars[1:] == "abcdefghijklmnopqrstuvwxyz"
    for word in words[:200]:
        assert vocab.decode(vocab.encode(word)) == word
    assert Vocabulary.from_dict(vocab.to_dict()) == vocab


def test_an_unknown_character_is_named() -> None:
    vocab = Vocabulary.from_words(["ab"])
    with pytest.raises(DataError, match="the character 'z' of 'az' is not in"):
        vocab.encode("az")


def test_read_words_skips_blank_lines_and_strips(tmp_path) -> None:
    path = tmp_path / "w.txt"
    path.write_text("emma\n\n  ava \r\nólafur\n", encoding="utf-8")
    assert read_words(path) == ["emma", "ava", "ólafur"]


@pytest.mark.parametrize("content, message", [
    (b"", "holds no words"),
    (b"\n  \n", "holds no words"),
    (b"emma\nab\x00cd\n", r"line 2: binary data"),
    (b"emma\ncaf\xe9\n", r"is not UTF-8 text \(an undecodable byte on line 2\)"),
    (b"emma\nst.john\n", r"line 2: 'st.john' contains '.'"),
])
def test_bad_text_files_are_named(tmp_path, content: bytes, message: str) -> None:
    path = tmp_path / "bad.txt"
    path.write_bytes(content)
    with pytest.raises(DataError, match=message) as err:
        read_words(path)
    assert "bad.txt" in str(err.value)


def test_names_file_reads_back(names_file, few_names: list[str]) -> None:
    assert read_words(names_file) == few_names
