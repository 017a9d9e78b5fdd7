"""Smoke test of the MPI reading benchmark: `bench/csv_shares.py --quick` reads a small file
on 1 and 2 ranks and every rank's rows add up to the file's.  It never looks at the speed."""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys

import pytest

pytest.importorskip("pandas")
pytest.importorskip("pyarrow")

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.mark.skipif(importlib.util.find_spec("mpi4py") is None or not shutil.which("mpiexec"),
                    reason="mpi4py/mpiexec not installed")
def test_quick_run_shares_the_rows_between_ranks() -> None:
    proc = subprocess.run([sys.executable, os.path.join(ROOT, "bench", "csv_shares.py"),
                           "--quick"], capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = {line.split()[0]: line.split()[-1] for line in proc.stdout.splitlines()[2:]}
    assert set(rows) == {"1", "2"}
    halves = [int(n.replace(",", "")) for n in rows["2"].split("/")]
    assert len(halves) == 2 and sum(halves) == int(rows["1"].replace(",", ""))
    assert min(halves) > 0
