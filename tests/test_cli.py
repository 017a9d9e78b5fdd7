"""The chainrule command, run as a user runs it: in a subprocess."""

from __future__ import annotations

import csv
import importlib.util
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from chainrule.data import make_blobs

HAS_MPL = importlib.util.find_spec("matplotlib") is not None
SRC = str(Path(__file__).resolve().parents[1] / "src")


def run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": SRC + os.pathsep + os.environ.get("PYTHONPATH", ""),
           "MPLBACKEND": "Agg"}
    return subprocess.run([sys.executable, "-m", "chainrule", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=120)


def test_help_is_fast_and_imports_nothing_heavy() -> None:
    code = ("import sys, time; t = time.perf_counter(); from chainrule.cli import main\n"
            "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
            "print('HEAVY', [m for m in ('matplotlib', 'sklearn', 'scipy') if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env={**os.environ, "PYTHONPATH": SRC}, timeout=60)
    assert "HEAVY []" in out.stdout and "chainrule train" in out.stdout
    start = time.perf_counter()
    res = run("--help")
    assert res.returncode == 0 and "examples:" in res.stdout
    assert time.perf_counter() - start < 2.0  # about 0.4 s here, start-up included
    for cmd in ("train", "evaluate", "predict", "info", "gradcheck", "demo"):
        res = run(cmd, "--help")
        assert res.returncode == 0 and "examples:" in res.stdout, cmd


def test_no_command_prints_help() -> None:
    res = run()
    assert res.returncode == 0 and "COMMAND" in res.stdout


def test_train_with_no_arguments_is_the_seeds_job(tmp_path: Path) -> None:
    res = run("train", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    assert "2-4-1 tanh/sigmoid" in res.stdout and "10000 epochs" in res.stdout
    found = dict(re.findall(r"^(train|validation):\s+accuracy ([\d.]+)%", res.stdout, re.M))
    assert float(found["train"]) >= 88 and float(found["validation"]) >= 85, res.stdout
    out = tmp_path / "runs" / "flower"
    assert (out / "model.safetensors").is_file() and (out / "history.csv").is_file()
    if HAS_MPL:
        for png in ("loss.png", "decision_boundary.png"):
            assert (out / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    else:
        assert "matplotlib is not installed" in res.stdout
    model = str(out / "model.safetensors")
    info = run("info", model)
    assert info.returncode == 0 and "17 in 4 tensors" in info.stdout
    assert "Linear(2, 4" in info.stdout and "sgd lr 1.2" in info.stdout
    ev = run("evaluate", model, "--dataset", "flower")
    assert ev.returncode == 0 and float(re.search(r"accuracy: ([\d.]+)%", ev.stdout)[1]) > 85
    gc = run("gradcheck", model, "--dataset", "flower", "--full", "--rows", "5")
    assert gc.returncode == 0 and "gradient check passed: 17 parameters" in gc.stdout


def _blobs_csv(path: Path, n: int = 150, seed: int = 0) -> tuple[np.ndarray, list[str]]:
    X, y = make_blobs(n, centers=np.array([[0.0, 0.0], [6.0, 0.0], [0.0, 6.0]]), std=0.8,
                      seed=seed)
    names = np.array(["oak", "elm", "ash"])[y].tolist()
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["width", "height", "tree"])
        for (a, b), t in zip(X, names):
            w.writerow([a, b, t])
    return X, names


def test_train_predict_evaluate_on_a_csv(tmp_path: Path) -> None:
    _blobs_csv(tmp_path / "trees.csv")
    res = run("train", "--data", "trees.csv", "--target", "tree", "--layers", "8",
              "--epochs", "30", "--lr", "0.01", "--no-plots", "-q", "--out", "run",
              cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    assert "epoch" not in res.stdout  # quiet: no progress lines
    _, truth = _blobs_csv(tmp_path / "new.csv", 60, seed=1)
    res = run("predict", "run/model.safetensors", "--data", "new.csv", "--out", "pred.csv",
              "--proba", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    rows = list(csv.DictReader((tmp_path / "pred.csv").open()))
    assert len(rows) == 60 and list(rows[0]) == ["width", "height", "tree", "prediction",
                                                  "p_ash", "p_elm", "p_oak"]
    assert np.mean([r["prediction"] == t for r, t in zip(rows, truth)]) > 0.9
    probs = np.array([[float(r[f"p_{c}"]) for c in ("ash", "elm", "oak")] for r in rows])
    np.testing.assert_allclose(probs.sum(axis=1), 1, atol=1e-5)
    ev = run("evaluate", "run/model.safetensors", "--data", "new.csv", cwd=tmp_path)
    assert ev.returncode == 0 and "accuracy" in ev.stdout
    info = run("info", "run/model.safetensors", cwd=tmp_path)
    assert "classes:      ash, elm, oak" in info.stdout and "standardised" in info.stdout


def test_regression_on_a_csv(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 3))
    y = X @ np.array([2.0, -1.0, 0.5]) + 3.0
    with (tmp_path / "r.csv").open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["a", "b", "c", "y"])
        w.writerows([[*x, t] for x, t in zip(X, y)])
    res = run("train", "--data", "r.csv", "--target", "y", "--layers", "16", "--epochs", "60",
              "--lr", "0.01", "--no-plots", "-q", "--out", "run", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    ev = run("evaluate", "run/model.safetensors", "--data", "r.csv", cwd=tmp_path)
    assert ev.returncode == 0, ev.stderr
    assert float(re.search(r"R\^2 (-?[\d.]+)", ev.stdout)[1]) > 0.9, ev.stdout


@pytest.mark.parametrize(("args", "message", "code"), [
    (["train", "--data", "t.csv", "--target", "colour"], "no column named 'colour'", 1),
    (["train", "--data", "t.csv"], "--data needs --target", 1),
    (["train", "--data", "missing.csv", "--target", "x"], "No such file", 1),
    (["train", "--data", "t.csv", "--target", "tree", "--optimizer", "adamax"],
     "unknown optimizer 'adamax'; choose one of adam, adamw, rmsprop, sgd", 1),
    (["train", "--layers", "4,x"], "comma-separated sizes", 2),
    (["train", "--val-split", "1.5"], r"\[0, 1\)", 2),
    (["info", "t.csv"], "the header claims", 1),
    (["frobnicate"], "invalid choice", 2),
])
def test_errors_are_one_line_and_a_hint(tmp_path: Path, args: list[str], message: str,
                                        code: int) -> None:
    _blobs_csv(tmp_path / "t.csv", 30)
    res = run(*args, cwd=tmp_path)
    assert res.returncode == code
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 2 and "error:" in lines[0] and lines[1].startswith("hint:"), res.stderr
    assert re.search(message, lines[0]), lines[0]
    assert "Traceback" not in res.stderr


def test_demo_walks_the_seeds_example(tmp_path: Path) -> None:
    res = run("demo", "--lr", "0.1", "--dot", "g.dot", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    # worked by hand: J = 1/2 (2*-2 + 8 - 2)^2 = 2, dJ/dw = (wx+b-y) x = -4, dJ/db = 2;
    # after the step w = 2.4, b = 7.8 and J = 1/2 (2.4*-2 + 7.8 - 2)^2 = 0.5
    assert "dJ/dw = -4" in res.stdout and "dJ/db = 2" in res.stdout
    assert "w := w - lr dJ/dw = 2 - 0.1 * (-4) = 2.4" in res.stdout
    assert "b := b - lr dJ/db = 8 - 0.1 * (2) = 7.8" in res.stdout
    assert "J goes from 2 to 0.5" in res.stdout
    assert (tmp_path / "g.dot").read_text().lstrip().startswith("digraph")


def test_ctrl_c_saves_a_checkpoint_and_resume_is_exact(tmp_path: Path) -> None:
    import signal

    from chainrule.tools.saving import read_safetensors
    from chainrule.training.checkpoint import read_checkpoint

    env = {**os.environ, "PYTHONPATH": SRC + os.pathsep + os.environ.get("PYTHONPATH", "")}
    common = ["train", "--dataset", "moons", "--layers", "8", "--batch-size", "16",
              "--no-plots", "-q", "--seed", "3", "--val-split", "0"]
    ckpt = tmp_path / "ck.safetensors"
    proc = subprocess.Popen([sys.executable, "-m", "chainrule", *common, "--epochs", "100000",
                             "--checkpoint", str(ckpt), "--checkpoint-every", "10", "--out",
                             "a"], cwd=tmp_path, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while not ckpt.exists() and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.05)
    time.sleep(0.2)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "Traceback" not in err and "checkpoint saved to" in err and "--resume" in err
    done = read_checkpoint(ckpt)["epoch"]
    total = str(done + 3)
    res = run(*common, "--epochs", total, "--checkpoint", str(ckpt), "--resume", "--out", "a",
              cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    res = run(*common, "--epochs", total, "--out", "b", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    a, _ = read_safetensors(tmp_path / "a" / "model.safetensors")
    b, _ = read_safetensors(tmp_path / "b" / "model.safetensors")
    assert a.keys() == b.keys()
    for k in a:
        np.testing.assert_array_equal(a[k], b[k])
