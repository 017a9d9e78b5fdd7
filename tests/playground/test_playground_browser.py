"""End to end in headless Chromium: load the page, train, watch the numbers, click a weight.

Needs Playwright for Python and a Chromium binary (Debian's ``chromium``, or the path in
``CHAINRULE_CHROMIUM``); skips cleanly without them.  Playwright's own browser downloads are
not used: the test launches the system's Chromium by path.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playground_client import Client, serving

from chainrule.playground.server import PlaygroundServer
from headless_chromium import ARGS, CHROMIUM, TIMEOUT_MS, needs_chromium


@pytest.fixture(scope="module")
def server() -> Iterator[PlaygroundServer]:
    yield from serving()


@pytest.fixture
def client(server: PlaygroundServer) -> Client:
    return Client(server)


sync_api = pytest.importorskip("playwright.sync_api")


pytestmark = needs_chromium


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        b.close()


@pytest.fixture
def page(browser, server) -> Iterator[object]:
    pg = browser.new_page(viewport={"width": 1440, "height": 1000})
    pg.set_default_timeout(TIMEOUT_MS)
    errors: list[str] = []
    pg.on("pageerror", lambda e: errors.append(str(e)))
    pg.goto(f"http://127.0.0.1:{server.port}/")
    pg.get_by_test_id("weight").first.wait_for()
    yield pg
    pg.close()
    assert not errors, errors


def _number(page, testid: str) -> float:
    return float(page.get_by_test_id(testid).inner_text())


def _wait_idle(page) -> None:
    page.wait_for_function("() => !window.__playground.busy && !window.__playground.playing")


def test_train_then_click_a_weight(page, client):
    assert _number(page, "step") == 0
    loss0 = _number(page, "loss")
    page.get_by_test_id("train").click()
    page.wait_for_function("() => Number(document.querySelector('[data-testid=step]')"
                           ".textContent) >= 50")
    seen = _number(page, "step")
    page.wait_for_function(f"() => Number(document.querySelector('[data-testid=step]')"
                           f".textContent) >= {seen + 250}")
    page.get_by_test_id("train").click()  # pause
    _wait_idle(page)
    steps = _number(page, "step")
    loss = _number(page, "loss")
    assert steps >= seen + 250 > 250
    assert loss < loss0 - 0.05  # the 2-4-1 net is learning the flower set

    weight = page.locator('[data-testid=weight][data-layer="2"][data-row="0"][data-col="1"]')
    weight.click()
    detail = page.get_by_test_id("weight-detail")
    detail.wait_for(state="visible")
    page.wait_for_function("() => document.querySelector('[data-testid=weight-grad]')"
                           ".textContent.length > 0")
    shown = float(page.get_by_test_id("weight-grad").inner_text())
    value = float(page.get_by_test_id("weight-value").inner_text())
    equation = page.get_by_test_id("weight-equation").inner_text()
    assert "dJ/dW2 = (1/m) dZ2 A1ᵀ" in equation
    assert "dJ/dW2[0,1] = (1/m) Σ_i dZ2[0,i] · A1[1,i]" in equation
    assert f"(1/{page.evaluate('window.__playground.desc.m_train')}) × (" in equation
    assert "dZ2 = A2 - Y" in equation
    # the panel shows the server's numbers for this very state
    rid = page.evaluate("window.__playground.run")
    truth = client.post(f"/api/runs/{rid}/explain",
                        {"kind": "weight", "layer": 2, "row": 0, "col": 1}).json()
    assert shown == pytest.approx(truth["grad"], rel=1e-5, abs=1e-12)
    assert value == pytest.approx(truth["value"], rel=1e-5)
    assert truth["grad"] != 0

    page.get_by_test_id("step-once").click()
    page.wait_for_function(f"() => Number(document.querySelector('[data-testid=step]')"
                           f".textContent) === {int(steps) + 1}")


def test_one_example_shows_the_explain_table(page):
    page.locator('[data-testid=weight][data-layer="1"]').first.click()
    page.get_by_test_id("weight-detail").wait_for(state="visible")
    page.locator("input[name=scope][value=example]").check()
    page.wait_for_function("() => document.querySelector('#d-table').textContent"
                           ".includes('Backward pass')")
    assert "one example" in page.locator("#d-scope-text").inner_text()


def test_constant_initialisation_is_flagged(page):
    page.get_by_test_id("init").select_option("constant")
    page.wait_for_function("() => window.__playground.desc.config.init === 'constant'")
    page.locator("#findings li[data-kind=symmetry]").wait_for()
    for _ in range(3):
        page.get_by_test_id("step-once").click()
        _wait_idle(page)
    assert "as one unit" in page.locator("#findings").inner_text()
    weights = page.evaluate("window.__playground.state.weights[0]")
    assert all(row == weights[0] for row in weights)  # the hidden units are still identical


def test_switch_data_set_and_export(page):
    page.get_by_test_id("dataset").select_option("moons")
    page.wait_for_function("() => window.__playground.desc.config.dataset === 'moons'")
    page.get_by_test_id("export").click()
    page.locator("#export-box").wait_for(state="visible")
    code = page.locator("#code").inner_text()
    assert "make_moons(" in code and "nn.Sequential(" in code
    href = page.locator("#dl-model").get_attribute("href")
    reply = page.request.get(f"{page.url.rstrip('/')}{href}")
    assert reply.status == 200 and len(reply.body()) > 100
