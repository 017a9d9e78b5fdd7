"""examples/newton_logistic.py: Newton's method with chainrule's Hessian reaches scikit-learn's
logistic regression to 1e-6, and gradient descent heads there too."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("sklearn")
from sklearn.linear_model import LogisticRegression

SCRIPT = Path(__file__).resolve().parents[2] / "examples" / "newton_logistic.py"


@pytest.fixture(scope="module")
def example():
    spec = importlib.util.spec_from_file_location("newton_logistic", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def problem(example):
    X, y = example.load_data()
    # The reference is scikit-learn's own, solved here with another solver than the example's.
    fit = LogisticRegression(C=np.inf, solver="lbfgs", tol=1e-14, max_iter=10_000).fit(X, y)
    return X, example.with_intercept(X), y, np.concatenate([fit.intercept_, fit.coef_.ravel()])


def test_the_hessian_is_the_textbook_one(example, problem):
    _, X1, y, _ = problem
    theta = np.random.default_rng(0).normal(size=X1.shape[1])
    g, H = example.gradient_and_hessian(theta, X1, y)
    p = 1 / (1 + np.exp(-X1 @ theta))
    np.testing.assert_allclose(g, X1.T @ (p - y) / len(y), rtol=0, atol=1e-13)
    np.testing.assert_allclose(H, X1.T @ (X1 * (p * (1 - p))[:, None]) / len(y), rtol=0,
                               atol=1e-13)


def test_newton_reaches_sklearn_in_a_handful_of_steps(example, problem):
    _, X1, y, ref = problem
    theta, norms = example.newton(X1, y)
    assert np.max(np.abs(theta - ref)) < 1e-6
    assert len(norms) <= 15
    assert norms[-1] < 1e-9 and norms[-2] < 1e-5  # quadratic at the end


def test_gradient_descent_heads_to_the_same_solution(example, problem):
    _, X1, y, ref = problem
    seen = example.gradient_descent(X1, y, checkpoints=(10, 100, 1000))
    dist = [np.linalg.norm(seen[k] - ref) for k in (10, 100, 1000)]
    assert dist[0] > dist[1] > dist[2] > 0


def test_the_script_prints_its_comparison():
    done = subprocess.run([sys.executable, str(SCRIPT)], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "Newton's method" in out and "distance to scikit-learn" in out
    newton_distance = float(out.split("distance to scikit-learn: ")[1].split()[0])
    assert newton_distance < 1e-6
