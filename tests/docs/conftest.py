"""The built site, shared by the build test and the browser test."""

from __future__ import annotations

from pathlib import Path

import pytest
from docsite import HAS_MKDOCS, build


@pytest.fixture(scope="session")
def built_site(tmp_path_factory) -> Path:
    if not HAS_MKDOCS:
        pytest.skip("mkdocs, mkdocs-material or mkdocstrings is not installed "
                    "(pip install -e '.[docs]')")
    out = tmp_path_factory.mktemp("docs") / "site"
    result = build(out)
    assert result.returncode == 0, result.stdout + result.stderr
    return out
