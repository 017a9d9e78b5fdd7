"""examples/notebooks/second_order.ipynb runs in a real kernel: the nudging table one level up
agrees with chainrule's second derivative, explain shows the gradient's own graph, and Newton's
method reaches scikit-learn's logistic regression to 1e-6."""

from __future__ import annotations

import re

import numpy as np
import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")

import kernel  # noqa: E402  (tests/notebooks/kernel.py)

pytest.importorskip("sklearn")


@pytest.fixture(scope="module")
def executed(tmp_path_factory):
    return kernel.executed("second_order.ipynb", tmp_path_factory.mktemp("nb"))


def test_nudging_the_gradient_gives_the_second_derivative(executed):
    out = kernel.text(kernel.cell(executed, "def slope("))
    assert "dJ/dw = 27   d2J/dw2 (chainrule) = 18" in out
    rows = [line.split() for line in out.splitlines()[3:] if line.strip()]
    eps = np.array([float(r[0]) for r in rows])
    k = np.array([float(r[3]) for r in rows])
    np.testing.assert_allclose(k, 18 + 3 * eps, rtol=0, atol=1e-6)  # d(3w^2) = 18 eps + 3 eps^2


def test_explain_shows_the_backward_pass_as_a_graph(executed):
    cell = kernel.cell(executed, "cr.explain(w.grad")
    html = kernel.html(cell)
    assert "<table" in html and "Computing dJ/dw" in html and "<td>backward</td>" in html
    assert "d(dJ/dw)/dw = 4" in html and "d(dJ/dw)/db = -2" in html and "<svg" in html


def test_newton_reaches_sklearn_and_gradient_descent_lags(executed):
    assert "w = 2 -> 3   J = 2 -> 0" in kernel.text(kernel.cell(executed, "w_new ="))
    newton = kernel.text(kernel.cell(executed, "cr.functional.hessian("))
    distances = [float(d) for d in re.findall(r"distance to scikit-learn (\S+)", newton)]
    assert distances[-1] < 1e-6 and len(distances) <= 15
    gd = kernel.text(kernel.cell(executed, "steps = 1000"))
    assert float(re.search(r"distance to scikit-learn (\S+)", gd).group(1)) > 1e-2
