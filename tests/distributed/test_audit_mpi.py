"""Ranks that disagree (epochs, metrics, model, dtype, learning rate) end the MPI job within
seconds with one DistributedError on every rank: each collective first checks that every rank
entered the same one with as many values (real mpiexec runs, killed as a hang after LIMIT)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE))
from mpi_run import needs_mpi, run_bounded, script  # noqa: E402


def _mpiexec(mode: str) -> subprocess.CompletedProcess:
    return run_bounded(2, script("mpi_audit_script.py"), mode)


CASES = [
    # one rank trains a fourth epoch while the other has finished
    ("epochs", r"out of step: rank \d entered the (gradient|end) collective"),
    # one rank's epoch sums hold 2 values (loss, weight), the other's 3 (with accuracy)
    ("metrics", r"out of step: rank \d entered a metric reduction of \d values"),
    ("width", r"different models \(parameter 0: rank 0 has shape \[4, 3\] float64, rank 1 has "
              r"shape \[5, 3\] float64\)"),
    ("dtype", r"different models \(parameter 0: rank 0 has shape \[4, 3\] float64, rank 1 has "
              r"shape \[4, 3\] float32\)"),
    ("lr", r"the ranks' models differ after training"),
]


@needs_mpi
@pytest.mark.parametrize("mode, message", CASES, ids=[c[0] for c in CASES])
def test_ranks_that_disagree_end_the_job_with_one_error(mode: str, message: str) -> None:
    import re

    proc = _mpiexec(mode)
    assert proc.returncode != 0
    assert "truncated" not in proc.stderr and "finished" not in proc.stdout
    # every rank raised the same agreed error (none was left waiting, none aborted)
    found = re.findall(r"DistributedError: (.*)", proc.stderr)
    assert len(found) == 2, proc.stderr
    assert all(re.search(message, f) for f in found), found
