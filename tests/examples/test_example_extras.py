"""Examples that need an optional package say which extra to install, rather than failing with
a bare ModuleNotFoundError, in the environment the README's first command builds; and the
quickstart trains the README's first network on the flower data set, as `chainrule train`."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
WITHOUT_SKLEARN = ("import sys, runpy; sys.modules['sklearn'] = None; "
                   "runpy.run_path(sys.argv[1], run_name='__main__')")


@pytest.mark.parametrize("name", ["compare_sklearn.py", "digits_cnn.py"])
def test_examples_needing_scikit_learn_name_the_extra(name):
    r = subprocess.run([sys.executable, "-c", WITHOUT_SKLEARN, str(EXAMPLES / name)],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 1
    assert "pip install 'chainrule[sklearn]'" in r.stderr and "Traceback" not in r.stderr


def test_quickstart_is_the_flower_job():
    r = subprocess.run([sys.executable, str(EXAMPLES / "quickstart.py")], capture_output=True,
                       text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    accuracy = float(r.stdout.split("training accuracy")[1].strip().rstrip("%"))
    assert accuracy >= 90.0  # the course's flower network reaches about 90%
