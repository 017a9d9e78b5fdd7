"""The source layout page lists the package's floors as tests/test_layering.py enforces them.

test_layering's ``FLOORS`` is the layout's rule as data; the page is the same rule in words.
This reads both (the page's numbered list after ``<!-- floors -->``, the dict from the test's
source with ast) and checks that they name the same areas on the same floors.
"""

from __future__ import annotations

import ast
import re

from markdown_blocks import ROOT


def _floors_in_the_test() -> dict[str, int]:
    tree = ast.parse((ROOT / "tests" / "test_layering.py").read_text())
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(
                isinstance(t, ast.Name) and t.id == "FLOORS" for t in node.targets):
            return ast.literal_eval(node.value)
    raise AssertionError("tests/test_layering.py has no FLOORS")


def _floors_on_the_page() -> dict[str, int]:
    text = (ROOT / "docs" / "guide" / "layout.md").read_text()
    listing = text.split("<!-- floors -->", 1)[1].lstrip("\n").split("\n\n", 1)[0]
    floors: dict[str, int] = {}
    for line in listing.splitlines():
        number, names = line.split(".", 1)
        for name in re.findall(r"`([^`]+)`", names):
            floors[name] = int(number) - 1
    return floors


def test_the_layout_page_lists_the_floors_the_test_enforces():
    assert _floors_on_the_page() == _floors_in_the_test()
