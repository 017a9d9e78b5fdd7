"""Every example script for the seeds runs, quickly, and prints the seeds' numbers."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"

# script -> lines its output must contain (numbers worked by hand in the seeds)
SCRIPTS = {
    "one_hidden_layer.py": ["dW1 = dZ1 X^T / m    shape (4, 2)", "training accuracy"],
    "three_layer_network.py": ["(ratio 2.000)", "distinct hidden units 1 of 8"],
    "gradient_descent_and_adam.py": ["Z1 = b1^T + X W1^T   in R^(200, 4)", "Adam"],
    "derivatives_and_graphs.py": ["9.006001", "dJ/dw = -4", "dJ/db = 2", "dJ/dw1 = 6",
                                  "dJ/dw2 = 4", "12"],
    "delta_recursion.py": ["delta[1] (5, 1)", "delta[1] from the recursion written out"],
    "symmetry_and_initialization.py": ["[symmetry] layer 0", "no problems found"],
}


@pytest.mark.parametrize("script", sorted(SCRIPTS))
def test_example_runs(script):
    done = subprocess.run([sys.executable, str(EXAMPLES / script)], capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    for needle in SCRIPTS[script]:
        assert needle in done.stdout, f"{script}: {needle!r} missing from its output"


def test_every_seed_example_is_listed():
    mine = {p.name for p in EXAMPLES.glob("*.py")} - {"quickstart.py"}
    assert set(SCRIPTS) <= mine
