"""examples/makemore.py: the progression runs and every model beats a uniform guess."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("names", reason="pip install names (the census name lists)")

ROOT = Path(__file__).resolve().parents[2]


def test_the_progression_prints_a_loss_per_model() -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "OMP_NUM_THREADS": "1"}
    res = subprocess.run([sys.executable, str(ROOT / "examples" / "makemore.py"),
                          "--epochs", "0.1"], env=env, capture_output=True, text=True,
                         timeout=300)
    assert res.returncode == 0, res.stderr
    losses = dict(re.findall(r"^(\w+)\s+(\d\.\d{4})  ", res.stdout, re.M))
    assert list(losses) == ["counts", "bigram", "mlp", "gru", "transformer"]
    assert 2.2 < float(losses["counts"]) < 2.5
    # one epoch each: all well below log(27) = 3.30
    assert all(float(v) < 2.9 for v in losses.values()), res.stdout
