"""What a notebook shows: HTML tables and an SVG graph for explain, a findings table for
diagnose, readable plain reprs, and every lazy name in dir(chainrule)."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import numpy as np
import pytest

import chainrule as cr
from chainrule.tools import explain as explain_module


def _example():
    w, b = cr.tensor(2.0, requires_grad=True), cr.tensor(8.0, requires_grad=True)
    J = 0.5 * (w * -2.0 + b - 2.0) ** 2
    return cr.explain(J, names={"w": w, "b": b})


def test_explain_html_has_both_tables_and_a_graph(monkeypatch):
    monkeypatch.setattr(explain_module.shutil, "which", lambda name: None)  # no Graphviz
    html = _example()._repr_html_()
    assert html.count("<table") == 2
    assert "Forward pass" in html and "Backward pass" in html and "dJ/dw = -4" in html
    svg = html[html.index("<svg"):html.index("</svg>") + 6]
    root = ET.fromstring(svg)  # well-formed, standalone SVG
    texts = [t.text for t in root.iter("{http://www.w3.org/2000/svg}text")]
    assert "w * (-2)" in " ".join(texts) or any("w * (-2)" in t for t in texts)
    lines = list(root.iter("{http://www.w3.org/2000/svg}line"))
    assert len(lines) == len(_example()._edges)


@pytest.mark.skipif(not explain_module.has_graphviz(), reason="Graphviz's dot not installed")
def test_explain_svg_from_graphviz_is_inline_ready():
    svg = _example().to_svg()
    assert svg.startswith("<svg")


def test_plain_repr_is_the_tables_not_a_dataclass_dump():
    text = repr(_example())
    assert text.startswith("Forward pass") and "ForwardStep(" not in text


def test_diagnose_html_lists_each_finding_with_its_hint():
    model = cr.nn.Sequential(cr.nn.Linear(2, 3, dtype=np.float64), cr.nn.Tanh(),
                             cr.nn.Linear(3, 1, dtype=np.float64), cr.nn.Sigmoid())
    for p in model.parameters():
        cr.nn.init.constant_(p, 0.5)
    X = np.random.default_rng(0).normal(size=(20, 2))
    report = cr.diagnose(model, X, (X[:, :1] > 0) * 1.0)
    html = report._repr_html_()
    assert "symmetry" in html and "what to try" in html
    assert html.count("<tr") >= 1 + len(report.layers) + 1 + len(report.findings)
    assert repr(report).startswith("diagnose: loss") and "LayerReport(" not in repr(report)


def test_dir_lists_the_lazy_names_and_plots_is_an_attribute():
    names = dir(cr)
    for name in ("fit", "load", "save", "explain", "diagnose", "plots", "data", "evaluate"):
        assert name in names
    pytest.importorskip("matplotlib")
    assert hasattr(cr.plots, "plot_history")
