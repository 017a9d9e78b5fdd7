"""Table preprocessing under MPI: every rank ends with the preprocessing of all the rows, and
``chainrule train --distributed`` trains the model one process trains (real mpiexec runs)."""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pd = pytest.importorskip("pandas")

import chainrule as cr  # noqa: E402
from chainrule.data.columns import TableEncoder, infer_columns  # noqa: E402
from chainrule.data.tabular import read_frame  # noqa: E402
from chainrule.tools.saving import load_with_metadata  # noqa: E402

HERE = Path(__file__).parent
SRC = str(HERE.parents[1] / "src")
HAS_MPI = importlib.util.find_spec("mpi4py") is not None and shutil.which("mpiexec")
needs_mpi = pytest.mark.skipif(not HAS_MPI, reason="mpi4py/mpiexec not installed")
LIMIT = 120  # seconds: far above a healthy run, far below "forever"


def _launch(cmd: list[str], cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1",
           "PYTHONPATH": SRC + os.pathsep + os.environ.get("PYTHONPATH", "")}
    proc = subprocess.Popen(cmd, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=env, start_new_session=True)
    try:
        out, err = proc.communicate(timeout=LIMIT)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        pytest.fail(f"still running after {LIMIT} s: it hangs")
    return subprocess.CompletedProcess(cmd, proc.returncode, out, err)


def _table(path: Path, n: int = 61) -> None:
    """Shares that differ: a category and missing cells only in some ranks' rows."""
    rng = np.random.default_rng(11)
    x = rng.normal(10, 3, n).round(3).astype(object)
    x[n - 3] = "NA"  # missing only in the last share
    colour = rng.choice(["red", "blue"], n).astype(object)
    colour[:5] = "green"  # only in the first share
    colour[7] = ""
    k = rng.integers(0, 4, n)
    y = np.where((x != "NA") & (np.where(x == "NA", 0, x).astype(float) > 10), "hi", "lo")
    lines = ["x,colour,k,y", *(f"{a},{c},{b},{t}" for a, c, b, t in zip(x, colour, k, y))]
    path.write_text("\n".join(lines) + "\n")


@needs_mpi
@pytest.mark.parametrize("ranks", [2, 3])
def test_every_rank_ends_with_the_preprocessing_of_all_rows(tmp_path: Path,
                                                            ranks: int) -> None:
    _table(tmp_path / "t.csv")
    proc = _launch(["mpiexec", "-n", str(ranks), sys.executable,
                    str(HERE / "mpi_columns_script.py"), "t.csv", str(tmp_path)], tmp_path)
    assert proc.returncode == 0, proc.stderr
    got = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in range(ranks)]
    assert len({g["rows"] for g in got}) > 1 or ranks == 1  # the shares really differ
    frame = read_frame(str(tmp_path / "t.csv"))
    whole = TableEncoder(infer_columns(frame, "y")).fit(frame)
    X = whole.transform(frame)
    for g in got:
        assert g["encoder"] == whole.to_dict()  # the same vocabularies, medians, flags
        assert g["n"] == len(frame)
        np.testing.assert_allclose(g["mean"], X.mean(axis=0), rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(g["std"], X.std(axis=0), rtol=1e-12, atol=1e-14)
    cols = {c["name"]: c for c in whole.to_dict()["columns"]}
    assert "green" in cols["colour"]["categories"] and cols["colour"]["missing_category"]
    assert cols["x"]["missing_indicator"]
    assert cols["x"]["median"] == [float(np.nanmedian(pd.to_numeric(frame["x"])))]


def _train(cwd: Path, out: str, ranks: int | None, *extra: str) -> subprocess.CompletedProcess:
    args = ["train", "--data", "t.csv", "--target", "y", "--val-split", "0",
            "--test-split", "0.2", "--batch-size", "full", "--epochs", "25", "--layers", "6",
            "--lr", "0.05",
            "--no-plots", "-q", "--out", out, *extra]
    if ranks is None:
        return _launch([sys.executable, "-m", "chainrule", *args], cwd)
    return _launch(["mpiexec", "-n", str(ranks), sys.executable, "-m", "chainrule", *args,
                    "--distributed"], cwd)


@needs_mpi
@pytest.mark.parametrize("ranks", [2, 3])
def test_distributed_cli_trains_the_single_process_model(tmp_path: Path, ranks: int) -> None:
    _table(tmp_path / "t.csv")
    one = _train(tmp_path, "one", None, "--class-weight", "balanced")
    assert one.returncode == 0, one.stderr
    many = _train(tmp_path, "many", ranks, "--class-weight", "balanced")
    assert many.returncode == 0, many.stderr
    assert many.stdout.count("saved:") == 1  # rank 0 alone reports and writes
    m1, meta1 = load_with_metadata(str(tmp_path / "one" / "model.safetensors"))
    m2, meta2 = load_with_metadata(str(tmp_path / "many" / "model.safetensors"))
    p1, p2 = meta1["preprocessing"], meta2["preprocessing"]
    assert p1["columns"] == p2["columns"] and p1["feature_names"] == p2["feature_names"]
    np.testing.assert_allclose(p2["scaler"]["mean"], p1["scaler"]["mean"], rtol=1e-12)
    np.testing.assert_allclose(p2["scaler"]["scale"], p1["scaler"]["scale"], rtol=1e-12)
    for a, b in zip(m1.parameters(), m2.parameters()):
        np.testing.assert_allclose(b.data, a.data, rtol=1e-4, atol=1e-5)
    r1, r2 = meta1["training"]["results"], meta2["training"]["results"]
    assert r2["test"]["accuracy"] == r1["test"]["accuracy"]
    assert isinstance(cr.load(str(tmp_path / "many" / "model.safetensors")), cr.nn.Module)


@needs_mpi
def test_a_regression_target_is_scaled_alike_on_every_rank(tmp_path: Path) -> None:
    _table(tmp_path / "t.csv")
    text = (tmp_path / "t.csv").read_text().replace(",hi\n", ",7.5\n").replace(",lo\n",
                                                                                ",1.25\n")
    (tmp_path / "t.csv").write_text(text)
    one = _train(tmp_path, "one", None)
    many = _train(tmp_path, "many", 2)
    assert one.returncode == 0 and many.returncode == 0, (one.stderr, many.stderr)
    t1 = load_with_metadata(str(tmp_path / "one" / "model.safetensors"))[1]
    t2 = load_with_metadata(str(tmp_path / "many" / "model.safetensors"))[1]
    ts1, ts2 = t1["preprocessing"]["target_scaler"], t2["preprocessing"]["target_scaler"]
    assert ts2["mean"] == pytest.approx(ts1["mean"], rel=1e-12)
    assert ts2["scale"] == pytest.approx(ts1["scale"], rel=1e-12)
