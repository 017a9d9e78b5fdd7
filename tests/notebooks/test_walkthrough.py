"""Notebooks run in a real kernel (nbclient + ipykernel) and show chainrule's rich output: HTML
tables for explain, diagnose, History and a model's summary, inline figures, and a LivePlot
that updates one figure in place."""

from __future__ import annotations

import base64
import re

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")
pytest.importorskip("matplotlib")

import kernel  # noqa: E402  (tests/notebooks/kernel.py)


def _pngs(cell) -> list[bytes]:
    return [base64.b64decode(o["data"]["image/png"]) for o in cell.outputs
            if "image/png" in o.get("data", {})]


def test_walkthrough_executes_and_displays_rich_output(tmp_path):
    nb = kernel.executed("backprop_walkthrough.ipynb", tmp_path)

    explain = kernel.html(kernel.cell(nb, "cr.explain("))
    assert "<table" in explain and "Backward pass" in explain and "dJ/dw = -4" in explain
    diagnose = kernel.html(kernel.cell(nb, "cr.diagnose("))
    assert "<table" in diagnose and "symmetry" in diagnose

    # The 2-4-1 network: 2*4 + 4 + 4*1 + 1 = 17 parameters, counted by hand.
    layers = kernel.html(kernel.cell(nb, "cr.data.make_flower()"))
    assert "<table" in layers and "Total params: 17" in layers
    summary = kernel.html(kernel.cell(nb, "model.summary("))
    assert "Total params: 17" in summary and "(None, 4)" in summary and "(None, 1)" in summary

    fit = kernel.cell(nb, "history = cr.fit(")
    assert "parameters: 17" in "".join(o.get("text", "") for o in fit.outputs)
    table = kernel.html(fit)
    assert "<table" in table and "300 epochs" in table and "\u25c0 best" in table
    assert len(_pngs(fit)) == 1  # LivePlot: one figure, redrawn in place

    # plot_history's Figure, shown inline with no pyplot in sight.
    assert "pyplot" not in "".join(c.source for c in nb.cells)
    assert _pngs(kernel.cell(nb, "cr.plots.plot_history("))[0][:8] == b"\x89PNG\r\n\x1a\n"


LIVE_CELLS = [
    """import numpy as np
import chainrule as cr
from chainrule import nn
net = nn.Sequential(nn.Conv2d(1, 4, 3, rng=0), nn.ReLU(), nn.Flatten(), nn.Linear(144, 3, rng=1))
net.summary(input_shape=(1, 8, 8))""",
    """rng = np.random.default_rng(0)
X, y = rng.normal(size=(24, 1, 8, 8)), np.arange(24) % 3
live = cr.training.LivePlot(interval=0)
history = cr.fit(net, X, y, epochs=4, batch_size=None, lr=0.01, verbose=0,
                 validation_data=(X[:6], y[:6]), callbacks=[live])""",
    """import base64
print(base64.b64encode(cr.plots.plot_history(live.history)._repr_png_()).decode())""",
]


def test_a_notebook_shows_a_conv_summary_and_a_live_plot_updated_in_place(tmp_path):
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(src) for src in LIVE_CELLS]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    kernel.run(nb, tmp_path)
    summary, fit, redraw = nb.cells

    html = kernel.html(summary)
    # conv 1*4*3*3 + 4 = 40, linear 144*3 + 3 = 435: 475 (by hand); 8x8 -> 6x6 -> 4*36 = 144
    assert "Total params: 475" in html and "(None, 4, 6, 6)" in html and "(None, 144)" in html
    shown = re.findall(r"<td>([\d,]+)</td></tr>", html)
    assert [int(s.replace(",", "")) for s in shown] == [40, 0, 0, 435]

    (png,) = _pngs(fit)  # four redraws, one output: each replaced the last
    last = base64.b64decode("".join(o.get("text", "") for o in redraw.outputs).strip())
    assert png == last  # what stays on the page is the figure of all four epochs
