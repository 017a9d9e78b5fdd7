"""examples/notebooks/second_order.ipynb runs in a real kernel: the nudging table one level up
agrees with chainrule's second derivative, explain shows the gradient's own graph, and Newton's
method reaches scikit-learn's logistic regression to 1e-6."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")
pytest.importorskip("sklearn")

NOTEBOOK = Path(__file__).resolve().parents[2] / "examples" / "notebooks" / "second_order.ipynb"


def _cell(nb, marker: str):
    (cell,) = [c for c in nb.cells if c.cell_type == "code" and marker in c.source]
    return cell


def _text(cell) -> str:
    return "".join(o.get("text", "") for o in cell.outputs)


@pytest.fixture(scope="module")
def executed(tmp_path_factory):
    nb = nbformat.read(NOTEBOOK, as_version=4)
    assert all(not c.get("outputs") and c.get("execution_count") is None
               for c in nb.cells if c.cell_type == "code"), "commit the notebook without outputs"
    nbclient.NotebookClient(nb, timeout=300, kernel_name="python3", resources={
        "metadata": {"path": str(tmp_path_factory.mktemp("nb"))}}).execute()
    return nb


def test_nudging_the_gradient_gives_the_second_derivative(executed):
    out = _text(_cell(executed, "def slope("))
    assert "dJ/dw = 27   d2J/dw2 (chainrule) = 18" in out
    rows = [line.split() for line in out.splitlines()[3:] if line.strip()]
    eps = np.array([float(r[0]) for r in rows])
    k = np.array([float(r[3]) for r in rows])
    np.testing.assert_allclose(k, 18 + 3 * eps, rtol=0, atol=1e-6)  # d(3w^2) = 18 eps + 3 eps^2


def test_explain_shows_the_backward_pass_as_a_graph(executed):
    cell = _cell(executed, "cr.explain(w.grad")
    html = "".join(o["data"]["text/html"] for o in cell.outputs if "text/html" in o.get("data", {}))
    assert "<table" in html and "Computing dJ/dw" in html and "<td>backward</td>" in html
    assert "d(dJ/dw)/dw = 4" in html and "d(dJ/dw)/db = -2" in html and "<svg" in html


def test_newton_reaches_sklearn_and_gradient_descent_lags(executed):
    assert "w = 2 -> 3   J = 2 -> 0" in _text(_cell(executed, "w_new ="))
    newton = _text(_cell(executed, "cr.functional.hessian("))
    distances = [float(d) for d in re.findall(r"distance to scikit-learn (\S+)", newton)]
    assert distances[-1] < 1e-6 and len(distances) <= 15
    gd = _text(_cell(executed, "steps = 1000"))
    assert float(re.search(r"distance to scikit-learn (\S+)", gd).group(1)) > 1e-2
