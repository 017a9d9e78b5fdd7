"""Take the README's screenshot of the playground (not a test): the course's 2-4-1 network
after a few thousand steps on the flower set, with one weight explained.

    python tests/playground/screenshot.py docs/img/playground.png [init] [dataset]
"""

from __future__ import annotations

import sys
import threading
import time

from playwright.sync_api import sync_playwright

from chainrule.playground.server import make_server

ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]


def main(path: str, init: str = "normal", dataset: str = "flower") -> None:
    server = make_server(port=0)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=ARGS)
        page = browser.new_page(viewport={"width": 1440, "height": 1000})
        page.goto(f"http://127.0.0.1:{server.port}/")
        page.get_by_test_id("weight").first.wait_for()
        if dataset != "flower":
            page.get_by_test_id("dataset").select_option(dataset)
            page.wait_for_function(f"() => window.__playground.desc.config.dataset === "
                                   f"'{dataset}'")
        if init != "normal":
            page.get_by_test_id("init").select_option(init)
            page.wait_for_function(f"() => window.__playground.desc.config.init === '{init}'")
        page.locator("#speed").select_option("50")
        page.get_by_test_id("train").click()
        page.wait_for_function("() => window.__playground.state.step >= 3000", timeout=120_000)
        page.get_by_test_id("train").click()
        page.wait_for_function("() => !window.__playground.busy")
        page.locator('[data-testid=weight][data-layer="2"]').nth(1).click()
        page.get_by_test_id("weight-detail").wait_for(state="visible")
        time.sleep(0.5)
        page.screenshot(path=path, full_page=True)
        browser.close()
    server.shutdown()


if __name__ == "__main__":
    main(*sys.argv[1:])
