"""Data-parallel training over MPI gives the single-process result (real mpiexec runs)."""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import chainrule as cr
from chainrule.distributed import shard_range

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE))
import mpi_train_script as script  # noqa: E402

HAS_MPI = importlib.util.find_spec("mpi4py") is not None and shutil.which("mpiexec")
needs_mpi = pytest.mark.skipif(not HAS_MPI, reason="mpi4py/mpiexec not installed")


def _mpiexec(n: int, out: Path, mode: str = "ok") -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}
    return subprocess.run(
        ["mpiexec", "-n", str(n), sys.executable, str(HERE / "mpi_train_script.py"), str(out),
         mode], capture_output=True, text=True, timeout=120, env=env)


def _single_process() -> list[np.ndarray]:
    X, y, model = script.problem()
    script.train(model, X, y, cr.optim.Adam(model.parameters(), lr=0.05))
    return [p.data for p in model.parameters()]


@pytest.mark.parametrize("n, rows", [(10, 1), (10, 3), (7, 4), (3, 5)])
def test_shards_cover_every_row_once(n: int, rows: int) -> None:
    covered = []
    for rank in range(rows):
        lo, hi = shard_range(n, rank, rows)
        covered.extend(range(lo, hi))
    assert covered == list(range(n))


@needs_mpi
@pytest.mark.parametrize("ranks", [2, 3])
def test_n_ranks_match_single_process(ranks: int, tmp_path: Path) -> None:
    out = tmp_path / "weights.npz"
    proc = _mpiexec(ranks, out)
    assert proc.returncode == 0, proc.stderr
    with np.load(out) as saved:
        distributed = [saved[f"arr_{i}"] for i in range(len(saved.files))]
    for a, b in zip(distributed, _single_process()):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-10)


@needs_mpi
def test_non_finite_gradient_stops_every_rank(tmp_path: Path) -> None:
    proc = _mpiexec(2, tmp_path / "w.npz", "nan")
    assert proc.returncode != 0
    assert "non-finite gradient" in proc.stderr
    assert not (tmp_path / "w.npz").exists()


@needs_mpi
def test_failing_rank_aborts_the_job_instead_of_hanging(tmp_path: Path) -> None:
    proc = _mpiexec(2, tmp_path / "w.npz", "crash")
    assert proc.returncode != 0
    assert "rank 1 failed: ValueError: rank 1 could not read its shard" in proc.stderr
