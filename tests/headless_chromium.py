"""Where the browser tests find Chromium and how they start it (the playground's and the
documentation site's): Debian's ``chromium`` or the path in ``CHAINRULE_CHROMIUM``, driven by
Playwright for Python (which cannot download its own browsers on these machines)."""

from __future__ import annotations

import os
import shutil

import pytest


def find_chromium() -> str | None:
    """The first Chromium binary found, or None."""
    for candidate in (os.environ.get("CHAINRULE_CHROMIUM"), shutil.which("chromium"),
                      shutil.which("chromium-headless-shell"), shutil.which("chromium-browser"),
                      "/usr/bin/chromium"):
        if candidate and os.path.exists(candidate):
            return candidate
    return None


CHROMIUM = find_chromium()
needs_chromium = pytest.mark.skipif(CHROMIUM is None, reason="no Chromium installed "
                                    "(apt-get install chromium, or set CHAINRULE_CHROMIUM)")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]
TIMEOUT_MS = 60_000  # generous: CI machines are slow; nothing here measures speed
