"""The documentation site builds in strict mode, offline, and every page of nav is there."""

from __future__ import annotations

import re

import pytest
from docsite import built_site
from markdown_blocks import ROOT

yaml = pytest.importorskip("yaml")  # comes with mkdocs


def _nav_pages(nav) -> list[str]:
    if isinstance(nav, str):
        return [nav]
    if isinstance(nav, dict):
        return [p for v in nav.values() for p in _nav_pages(v)]
    return [p for item in nav for p in _nav_pages(item)]


def _config() -> dict:
    # mkdocs.yml may hold !!python/name tags in other projects; this one is plain YAML.
    return yaml.safe_load((ROOT / "mkdocs.yml").read_text())


def test_every_page_is_in_nav_and_every_nav_entry_exists():
    nav = set(_nav_pages(_config()["nav"]))
    pages = {str(p.relative_to(ROOT / "docs")) for p in (ROOT / "docs").rglob("*.md")
             if not p.relative_to(ROOT / "docs").parts[0].startswith("_")}
    assert nav == pages, (sorted(nav - pages), sorted(pages - nav))


def test_the_build_fetches_nothing():
    config = _config()
    assert config["theme"]["font"] is False
    names = [p if isinstance(p, str) else next(iter(p)) for p in config["plugins"]]
    assert not {"social", "privacy", "material/social", "material/privacy"} & set(names)


def test_the_site_builds_in_strict_mode():
    site = built_site()
    assert (site / "index.html").is_file()
    api = (site / "api" / "chainrule.html").read_text()
    assert 'id="chainrule.engine.tensor.Tensor"' in api     # mkdocstrings rendered the docstrings
    html = (site / "tutorials" / "derivatives.html").read_text()
    assert not re.search(r"https?://fonts\.(googleapis|gstatic)", html)
