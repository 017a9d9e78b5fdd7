"""A headless Chromium opens the built site's landing page, a tutorial and an API page, and
finds no console error, no script error and no request that leaves the machine.

Needs Playwright for Python and a Chromium binary (Debian's ``chromium``, or the path in
``CHAINRULE_CHROMIUM``), as the playground's browser test does; skips cleanly without them.
"""

from __future__ import annotations

import functools
import http.server
import threading
from collections.abc import Iterator

import pytest
from docsite import built_site

from headless_chromium import ARGS, CHROMIUM, TIMEOUT_MS, needs_chromium

sync_api = pytest.importorskip("playwright.sync_api")


pytestmark = needs_chromium
PAGES = ["index.html", "tutorials/computation-graph.html", "api/chainrule.html"]


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def served() -> Iterator[str]:
    handler = functools.partial(_Quiet, directory=str(built_site()))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        b.close()


@pytest.mark.parametrize("path", PAGES)
def test_page_opens_without_errors(browser, served, path):
    page = browser.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    problems: list[str] = []
    page.on("console", lambda m: problems.append(f"console {m.type}: {m.text}")
            if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
    page.on("request", lambda r: problems.append(f"left the machine: {r.url}")
            if not r.url.startswith((served, "data:", "blob:")) else None)
    try:
        response = page.goto(f"{served}/{path}", wait_until="networkidle")
        assert response is not None and response.ok, path
        assert page.locator("h1").first.inner_text().strip()
        page.locator("nav").first.wait_for()
    finally:
        page.close()
    assert not problems, problems
