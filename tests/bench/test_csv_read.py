"""Smoke test of the CSV reading benchmark: `bench/csv_read.py --quick` runs every reader in
its own process and each returns the same array as np.loadtxt.  It never looks at the speed."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

pytest.importorskip("pandas")

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_quick_run_reads_the_same_arrays_as_loadtxt(tmp_path) -> None:
    out = tmp_path / "csv.json"
    proc = subprocess.run([sys.executable, os.path.join(ROOT, "bench", "csv_read.py"),
                           "--quick", "--json", str(out)], capture_output=True, text=True,
                          cwd=ROOT, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    res = json.loads(out.read_text())
    assert set(res["numeric"]) == {"loadtxt", "load_csv", "train"}
    for part in (res["numeric"], res["wide"]["readers"]):
        for reader, r in part.items():
            assert r["same_array"], reader
            assert r["seconds"] > 0 and r["runs"] == 1, reader
    assert res["numeric"]["train"]["shape"] == [res["rows"], res["columns"]]
    assert res["wide"]["readers"]["load_csv"]["shape"] == [3, res["wide"]["columns"]]
    assert "vs loadtxt" in proc.stdout and "issue" not in proc.stdout.lower()
