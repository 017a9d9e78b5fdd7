"""Building the documentation site once per test run, for the tests that need it.

A function rather than a fixture in a conftest.py: tests elsewhere import helpers with
``from conftest import ...``, which a second conftest module would shadow.
"""

from __future__ import annotations

import atexit
import functools
import importlib.util
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from markdown_blocks import ROOT

HAS_MKDOCS = all(importlib.util.find_spec(name) is not None
                 for name in ("mkdocs", "material", "mkdocstrings_handlers"))


def build(out: Path) -> subprocess.CompletedProcess:
    """``mkdocs build --strict`` into ``out`` (a broken link, page or reference fails it)."""
    return subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir",
                           str(out)], cwd=ROOT, capture_output=True, text=True, timeout=600,
                          env={**os.environ, "NO_MKDOCS_2_WARNING": "1"})


@functools.cache
def _built() -> tuple[Path, str, int]:
    folder = Path(tempfile.mkdtemp(prefix="chainrule-docs-"))
    result = build(folder / "site")
    return folder / "site", result.stdout + result.stderr, result.returncode


def built_site() -> Path:
    """The site, built once per test run (strict mode); skips without the docs extra."""
    if not HAS_MKDOCS:
        pytest.skip("mkdocs, mkdocs-material or mkdocstrings is not installed "
                    "(pip install -e '.[docs]')")
    site, log, returncode = _built()
    assert returncode == 0, log
    return site


@atexit.register
def _remove() -> None:
    if _built.cache_info().currsize:
        shutil.rmtree(_built()[0].parent, ignore_errors=True)
