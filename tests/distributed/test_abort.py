"""Under MPI, any error on any rank ends the whole job in bounded time, with that rank's
message, and ranks never mix one collective with another (real mpiexec runs)."""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import chainrule as cr

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE))
import mpi_abort_script as script  # noqa: E402
from mpi_run import needs_mpi, run_bounded  # noqa: E402
from mpi_run import script as script_path  # noqa: E402


def _mpiexec(n: int, *args: str) -> subprocess.CompletedProcess:
    """The abort script on ``n`` ranks, killed as a hang after LIMIT seconds."""
    return run_bounded(n, script_path("mpi_abort_script.py"), *args, PYTHONWARNINGS="default")


@needs_mpi
def test_a_rank_with_no_rows_stops_every_rank_with_its_message() -> None:
    proc = _mpiexec(4, "empty_shard")  # 3 rows on 4 ranks: rank 3 has none
    assert proc.returncode != 0
    assert "rank 3 of 4 could not prepare its data: DataError: X is empty" in proc.stderr
    assert proc.stderr.count("Traceback") == 4  # every rank raised; none was left waiting


@needs_mpi
def test_a_nan_on_one_rank_stops_every_rank_before_training() -> None:
    proc = _mpiexec(2, "nan_shard")
    assert proc.returncode != 0
    assert re.search(r"rank 1 of 2 could not prepare its data: DataError: X .*NaN at row 2, "
                     r"column 1", proc.stderr), proc.stderr
    assert "stopped after" not in proc.stdout


@needs_mpi
def test_an_error_during_training_on_one_rank_aborts_the_job() -> None:
    proc = _mpiexec(2, "crash_mid")
    assert proc.returncode != 0
    assert "rank 1 failed: ValueError: rank 1 lost its disk in epoch 2; aborting all ranks" \
        in proc.stderr


@needs_mpi
def test_a_stop_asked_on_one_rank_stops_every_rank_at_the_same_step() -> None:
    proc = _mpiexec(2, "stop_one_rank")
    assert proc.returncode == 0, proc.stderr
    # mpiexec may join the ranks' lines; each rank's report starts with "rank N"
    epochs = re.findall(r"rank \d stopped after (\d+) epochs", proc.stdout)
    assert epochs == ["1", "1"], proc.stdout


@needs_mpi
def test_a_non_finite_gradient_on_one_rank_names_the_parameter_on_every_rank() -> None:
    proc = _mpiexec(2, "nonfinite")
    assert proc.returncode == 0, proc.stderr
    lines = re.split(r"(?=rank \d stopped after)", proc.stdout)
    lines = [line for line in lines if "stopped after" in line]
    assert len(lines) == 2
    for line in lines:  # the same step, the same parameter, on both ranks
        assert "stopped after 2 epochs: stopped: non-finite numbers in epoch 2, batch 2: the " \
            "gradient of 2.bias (layer 2, Linear) became nan first" in line
        assert "on 1 of 2 ranks" in line
    assert proc.stderr.count("OptionWarning: non-finite numbers") == 1  # the chief warns


@needs_mpi
def test_ranks_without_validation_rows_join_every_collective(tmp_path: Path) -> None:
    out = tmp_path / "w.npz"
    proc = _mpiexec(2, "no_val_rows", str(out))
    assert proc.returncode == 0, proc.stderr
    vals = re.findall(r"val_loss (\[[^\]]*\])", proc.stdout)
    assert len(vals) == 2 and vals[0] == vals[1]  # both ranks report the same numbers
    # The same global batches in one process: rank 0's 4 rows, then rank 1's, each step.
    X, y, model = script.problem()
    order = np.concatenate([np.r_[k * 4:k * 4 + 4, 12 + k * 4:12 + k * 4 + 4] for k in range(3)])
    h = cr.fit(model, X[order], y[order], optimizer="adam", lr=0.05, epochs=3, batch_size=8,
               shuffle=False, verbose=0, validation_data=(X[:3], y[:3]))
    with np.load(out) as saved:
        for i, p in enumerate(model.parameters()):
            np.testing.assert_allclose(saved[f"arr_{i}"], p.data, rtol=0, atol=1e-10)
        np.testing.assert_allclose(saved["val_loss"], h["val_loss"], rtol=1e-10)
        np.testing.assert_allclose(saved["loss"], h["loss"], rtol=1e-10)


HAS_WORKFLOW = importlib.util.find_spec("chainrule.workflow") is not None
needs_cli_workflow = pytest.mark.skipif(
    not HAS_WORKFLOW or importlib.util.find_spec("pandas") is None,
    reason="needs the command line's library layer (chainrule.workflow) and pandas")


def _cli(n: int, tmp_path: Path, rows: list[tuple[float, float, int]],
         *args: str) -> subprocess.CompletedProcess:
    data = tmp_path / "data.csv"
    data.write_text("a,b,y\n" + "".join(f"{a},{b},{c}\n" for a, b, c in rows))
    return run_bounded(n, "-m", "chainrule", "train", "--data", str(data), "--target", "y",
                       "--distributed", "--no-plots", "--epochs", "3", "--out",
                       str(tmp_path / "out"), *args)


@needs_mpi
@needs_cli_workflow
def test_cli_ranks_without_validation_rows_finish(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    rows = [(a, b, int(a + b > 0)) for a, b in rng.normal(size=(10, 2))]
    proc = _cli(2, tmp_path, rows, "--val-split", "0.1")  # one validation row, on one rank
    assert proc.returncode == 0, proc.stderr
    assert "Message truncated" not in proc.stderr
    assert proc.stdout.count("saved:") == 1


@needs_mpi
@needs_cli_workflow
def test_cli_rank_with_no_rows_ends_the_job_with_its_message(tmp_path: Path) -> None:
    proc = _cli(4, tmp_path, [(1.0, 2.0, 0), (2.0, 1.0, 1), (3.0, 3.0, 0)], "--val-split", "0")
    assert proc.returncode != 0
    assert "3 training row(s) cannot be shared by 4 MPI ranks" in proc.stderr, proc.stderr
    assert "mpiexec -n 3" in proc.stderr
    assert proc.stderr.count("chainrule: error:") == 1  # rank 0 says it, once
    assert "Traceback" not in proc.stderr
