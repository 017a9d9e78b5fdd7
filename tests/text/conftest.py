"""First names from the census lists of the PyPI package ``names`` (installed, never
downloaded at run time): ``dist.female.first`` and ``dist.male.first`` hold lines of
``NAME freq cumfreq rank``."""

from __future__ import annotations

from pathlib import Path

import pytest

from chainrule.text import census_first_names


def first_names() -> list[str]:
    """Every distinct first name of the lists, lower case, sorted (about 5,100)."""
    pytest.importorskip("names", reason="pip install names (the census name lists)")
    return census_first_names()


def small_slice(step: int = 8) -> list[str]:
    """Every ``step``-th name: about 650 names, a run of a few epochs takes well under 1 s."""
    return first_names()[::step]


def write_words(path: Path, words: list[str]) -> Path:
    path.write_text("\n".join(words) + "\n", encoding="utf-8")
    return path


@pytest.fixture(scope="session")
def names() -> list[str]:
    return first_names()


@pytest.fixture(scope="session")
def few_names() -> list[str]:
    return small_slice()


@pytest.fixture()
def names_file(tmp_path: Path, few_names: list[str]) -> Path:
    return write_words(tmp_path / "names.txt", few_names)
