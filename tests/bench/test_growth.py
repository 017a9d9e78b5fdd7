"""``bench/growth.py`` runs its two curves and prints one markdown table each.  Never looks at
the speed."""

from __future__ import annotations

import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, ROOT)

from bench import growth, workloads  # noqa: E402


def test_both_curves_print_a_table_with_a_row_per_point():
    cmd = [sys.executable, os.path.join(ROOT, "bench", "growth.py"), "--batches", "16,32",
           "--widths", "32", "--peers", "chainrule,numpy", "--steps", "2", "--rounds", "1",
           "--max-wait", "0", "--max-redo", "0"]
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = proc.stdout
    assert "CPU " in out and "kernels" in out          # the machine line names CPU and BLAS
    rows = [line for line in out.splitlines() if line.startswith("| ")]
    assert [r.split(" | ")[0] for r in rows] == ["| batch", "| 16", "| 32", "| width", "| 32"]


def test_a_point_changes_only_what_it_names():
    wl = workloads.get("W3", width=512, steps=3)
    assert wl.sizes == (784, 512, 512, 10) and wl.batch == 256 and wl.round_steps == 3
    wl = workloads.get("W2", batch=2048, steps=growth.steps_for(workloads.get("W2", batch=2048)))
    assert wl.sizes == (784, 128, 10) and wl.batch == 2048
    assert wl.round_samples == wl.batch * wl.round_steps
