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
import mpi_batchnorm_script as bn_script  # noqa: E402
import mpi_checkpoint_script as ckpt_script  # noqa: E402
import mpi_fit_script as fit_script  # noqa: E402
import mpi_train_script as script  # noqa: E402

HAS_MPI = importlib.util.find_spec("mpi4py") is not None and shutil.which("mpiexec")
needs_mpi = pytest.mark.skipif(not HAS_MPI, reason="mpi4py/mpiexec not installed")


def _mpiexec(n: int, out: Path, mode: str = "ok",
             script_name: str = "mpi_train_script.py") -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}
    return subprocess.run(
        ["mpiexec", "-n", str(n), sys.executable, str(HERE / script_name), str(out), mode],
        capture_output=True, text=True, timeout=120, env=env)


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


@needs_mpi
@pytest.mark.parametrize("ranks", [2, 3])
def test_fit_distributed_matches_single_process_fit(ranks: int, tmp_path: Path) -> None:
    out = tmp_path / "fit.npz"
    proc = _mpiexec(ranks, out, script_name="mpi_fit_script.py")
    assert proc.returncode == 0, proc.stderr
    X, y, model = fit_script.problem()
    order = fit_script.single_process_order(len(X), ranks)
    history = cr.fit(model, X[order], y[order], optimizer="adam", lr=0.05,
                     epochs=fit_script.EPOCHS, batch_size=fit_script.LOCAL_BATCH * ranks,
                     shuffle=False, validation_data=(X, y), verbose=0)
    with np.load(out) as saved:
        for i, p in enumerate(model.parameters()):
            np.testing.assert_allclose(saved[f"arr_{i}"], p.data, rtol=0, atol=1e-10)
        # Reported metrics cover every rank's rows, not just rank 0's.
        np.testing.assert_allclose(saved["val_loss"], history["val_loss"], rtol=1e-10)
        np.testing.assert_allclose(saved["loss"], history["loss"], rtol=1e-10)


@needs_mpi
def test_cli_distributed_train_matches_single_process(tmp_path: Path) -> None:
    # The seeds' job is full-batch gradient descent: split over two ranks, the global batch
    # is still the whole training set, so the weights must agree with one process.
    env = {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}
    args = ["-m", "chainrule", "train", "--epochs", "50", "--no-plots", "--out"]
    dist = subprocess.run(["mpiexec", "-n", "2", sys.executable, *args, str(tmp_path / "d"),
                           "--distributed"], capture_output=True, text=True, timeout=120, env=env)
    assert dist.returncode == 0, dist.stderr
    assert dist.stdout.count("saved:") == 1  # rank 0 alone reports and writes
    single = subprocess.run([sys.executable, *args, str(tmp_path / "s")], capture_output=True,
                            text=True, timeout=120, env=env)
    assert single.returncode == 0, single.stderr
    a = cr.load(tmp_path / "d" / "model.safetensors").state_dict()
    b = cr.load(tmp_path / "s" / "model.safetensors").state_dict()
    for name in b:
        np.testing.assert_allclose(a[name], b[name], rtol=0, atol=1e-10)


@needs_mpi
def test_checkpoints_resume_distributed_and_single_process_runs_alike(tmp_path: Path) -> None:
    # Full-batch Adam: 2 ranks and 1 process take the same steps, so every mix of
    # "train 2 epochs, checkpoint, resume to 4" must end where 4 straight epochs end.
    X, y, model = ckpt_script.problem()
    ckpt_script.train(X, y, model, None, 4, False, distributed=False)
    straight = [p.data for p in model.parameters()]

    def mpi(checkpoint: Path, epochs: int, mode: str, out: Path) -> None:
        env = {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}
        proc = subprocess.run(
            ["mpiexec", "-n", "2", sys.executable, str(HERE / "mpi_checkpoint_script.py"),
             str(checkpoint), str(epochs), mode, str(out)],
            capture_output=True, text=True, timeout=120, env=env)
        assert proc.returncode == 0, proc.stderr

    def load(out: Path) -> list[np.ndarray]:
        with np.load(out) as saved:
            return [saved[f"arr_{i}"] for i in range(len(saved.files))]

    # Written by rank 0 of a distributed run, resumed by a single process...
    mpi(tmp_path / "a.ckpt", 2, "fresh", tmp_path / "a2.npz")
    X, y, model = ckpt_script.problem()
    ckpt_script.train(X, y, model, tmp_path / "a.ckpt", 4, True, distributed=False)
    resumed_single = [p.data for p in model.parameters()]
    # ...and written by a single process, resumed by a distributed run.
    X, y, model = ckpt_script.problem()
    ckpt_script.train(X, y, model, tmp_path / "b.ckpt", 2, False, distributed=False)
    mpi(tmp_path / "b.ckpt", 4, "resume", tmp_path / "b4.npz")
    for ref, a, b in zip(straight, resumed_single, load(tmp_path / "b4.npz")):
        np.testing.assert_allclose(a, ref, rtol=0, atol=1e-10)
        np.testing.assert_allclose(b, ref, rtol=0, atol=1e-10)


@needs_mpi
def test_a_schedule_on_the_wrapper_sets_the_wrapped_learning_rate() -> None:
    from chainrule.distributed import DistributedOptimizer

    w = cr.tensor([1.0], requires_grad=True)
    opt = DistributedOptimizer(cr.optim.SGD([w], lr=0.1))  # one process: COMM_WORLD of size 1
    cr.optim.StepLR(opt, step_size=1, gamma=0.5).step()
    assert opt.optimizer.lr == 0.05 and opt.lr == 0.05


@needs_mpi
@pytest.mark.parametrize("ranks", [2, 3])
def test_batchnorm_running_statistics_are_the_mean_over_ranks(ranks: int,
                                                              tmp_path: Path) -> None:
    # The documented rule: during an epoch each rank updates its running statistics from its
    # own batches (PyTorch's rule, unbiased variance), and at the epoch's end every rank takes
    # their plain mean over the ranks. With BatchNorm first, its batches are the raw shards.
    out = tmp_path / "bn"
    proc = _mpiexec(ranks, out, script_name="mpi_batchnorm_script.py")
    assert proc.returncode == 0, proc.stderr
    X, _, _ = bn_script.problem()
    shards = [X[slice(*shard_range(len(X), r, ranks))] for r in range(ranks)]
    mean, var = np.zeros(3), np.ones(3)
    for _ in range(bn_script.EPOCHS):  # momentum 0.1, one full-shard batch per epoch
        mean = np.mean([0.9 * mean + 0.1 * s.mean(axis=0) for s in shards], axis=0)
        var = np.mean([0.9 * var + 0.1 * s.var(axis=0, ddof=1) for s in shards], axis=0)
    for r in range(ranks):
        with np.load(f"{out}.rank{r}.npz") as got:
            np.testing.assert_allclose(got["mean"], mean, rtol=1e-12)
            np.testing.assert_allclose(got["var"], var, rtol=1e-12)
    saved = cr.load(f"{out}.safetensors")
    np.testing.assert_allclose(saved[0].running_mean, mean, rtol=1e-12)
    np.testing.assert_allclose(saved[0].running_var, var, rtol=1e-12)
    # the data tells the rules apart: rank 0 keeping its own statistics would give others
    assert not np.allclose(mean, (0.1 + 0.9 * 0.1) * shards[0].mean(axis=0), rtol=1e-3)
