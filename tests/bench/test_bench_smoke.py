"""Smoke test of the benchmark harness: `python bench/run.py --quick --workloads W0` prints its
table (every installed peer, sane W0 accuracy) in a few seconds."""

from __future__ import annotations

import os
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_bench_quick_w0_prints_table():
    cmd = [sys.executable, os.path.join(ROOT, "bench", "run.py"), "--quick", "--workloads", "W0",
           "--steps", "20", "--rounds", "1"]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, timeout=120)
    elapsed = time.perf_counter() - t0
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = proc.stdout
    assert "ms/step" in out and "vs torch" in out and "% peak" in out
    rows = [line.split() for line in out.splitlines() if line.startswith("W0 ")]
    peers = {r[1] for r in rows}
    assert {"chainrule", "numpy"} <= peers
    assert "targets (issue 6):" in out
    assert elapsed < 60, f"--quick took {elapsed:.1f} s"
