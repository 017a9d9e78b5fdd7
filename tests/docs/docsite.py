"""Building the documentation site, for the tests that need it."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

from markdown_blocks import ROOT

HAS_MKDOCS = all(importlib.util.find_spec(name) is not None
                 for name in ("mkdocs", "material", "mkdocstrings_handlers"))


def build(out: Path) -> subprocess.CompletedProcess:
    """``mkdocs build --strict`` into ``out`` (a broken link, page or reference fails it)."""
    return subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir",
                           str(out)], cwd=ROOT, capture_output=True, text=True, timeout=600,
                          env={**os.environ, "NO_MKDOCS_2_WARNING": "1"})
