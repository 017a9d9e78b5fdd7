"""The API reference's griffe extension (docs/_griffe/doctest_fences.py) does what it says."""

from __future__ import annotations

import doctest
import importlib.util
from types import ModuleType

import pytest
from markdown_blocks import ROOT


def _extension() -> ModuleType:
    path = ROOT / "docs" / "_griffe" / "doctest_fences.py"
    spec = importlib.util.spec_from_file_location("doctest_fences", path)
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    except ModuleNotFoundError as error:  # griffe comes with the docs extra
        pytest.skip(f"{error.name} is not installed (pip install -e '.[docs]')")
    return module


def test_the_extension_doctests_pass():
    result = doctest.testmod(_extension())
    assert result.attempted >= 2 and not result.failed


def test_roles_become_code_and_doctests_are_fenced_once():
    ext = _extension()
    text = "Uses :class:`~chainrule.nn.Linear`.\n\n>>> [1, 2]\n[1, 2]\n\n```python\n>>> x\n```"
    out = ext.fence_doctests(ext.plain_roles(text))
    assert out.count("```pycon") == 1 and "`Linear`" in out
