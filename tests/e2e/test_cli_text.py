"""A character-level language model through the command line, as a user runs it: train on a
file of census first names, then sample new ones; JSON output, the files written, and clean
failures (one error line, a hint, no traceback)."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

names = pytest.importorskip("names", reason="pip install names (the census name lists)")

SRC = str(Path(__file__).resolve().parents[2] / "src")


def run(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": SRC + os.pathsep + os.environ.get("PYTHONPATH", ""),
           "MPLBACKEND": "Agg", "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, "-m", "chainrule", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    """A folder holding names.txt: every 4th census first name (about 1,300), lower case."""
    where = tmp_path_factory.mktemp("text_cli")
    lists = Path(os.path.dirname(names.__file__))
    found = sorted({line.split()[0].lower() for part in ("dist.female.first",
                                                          "dist.male.first")
                    for line in (lists / part).read_text().splitlines() if line.strip()})
    (where / "names.txt").write_text("\n".join(found[::4]) + "\n", encoding="utf-8")
    return where


def test_train_then_sample(folder: Path) -> None:
    res = run("train", "--text", "names.txt", "--model", "gru", "--epochs", "3", cwd=folder)
    assert res.returncode == 0, res.stderr
    out = res.stdout
    assert "data:       names.txt:" in out and "27 tokens" in out and "(train/val)" in out
    assert "model:      gru (embed 16, hidden 64, layers 1)" in out
    assert out.count("epoch ") == 3 and "val_loss" in out
    lines = dict(line.split(":", 1) for line in out.splitlines() if ":" in line)
    val = float(lines["validation"].split()[1])
    assert val < math.log(27) - 0.7
    run_dir = folder / "runs" / "names"
    assert (run_dir / "model.safetensors").is_file() and (run_dir / "history.csv").is_file()
    assert "next:       chainrule sample runs/names/model.safetensors -n 20" in out

    model = "runs/names/model.safetensors"
    first = run("sample", model, "-n", "12", "--seed", "5", cwd=folder)
    assert first.returncode == 0, first.stderr
    words = first.stdout.split()
    assert len(words) == 12 and all(set(w) <= set("abcdefghijklmnopqrstuvwxyz") for w in words)
    again = run("sample", model, "-n", "12", "--seed", "5", "--json", cwd=folder)
    assert json.loads(again.stdout) == {"samples": words}


def test_json_output_and_other_kinds(folder: Path) -> None:
    res = run("train", "--text", "names.txt", "--model", "mlp", "--block-size", "4",
              "--embed", "8", "--hidden", "32", "--epochs", "2", "--out", "runs/mlp", "--json",
              "--no-plots", cwd=folder)
    assert res.returncode == 0, res.stderr
    metrics = json.loads(res.stdout)
    assert set(metrics) == {"train", "validation"}
    assert metrics["validation"]["loss"] < math.log(27) - 0.5
    assert not (folder / "runs" / "mlp" / "loss.png").exists()


@pytest.mark.parametrize("args, message", [
    (["train", "--text", "missing.txt"], "No such file or directory: missing.txt"),
    (["train", "--text", "empty.txt"], "'empty.txt' holds no words"),
    (["train", "--text", "names.txt", "--model", "gpt"],
     "unknown model 'gpt'; choose one of bigram, gru, lstm, mlp, rnn, transformer"),
    (["train", "--model", "gru"], "--model needs --text FILE"),
    (["train", "--text", "names.txt", "--target", "y"], "--target does not apply to --text"),
    (["train", "--text", "names.txt", "--layers", "2,2"], "--layers is one number"),
    (["sample", "names.txt"], "names.txt"),
])
def test_bad_input_is_one_line_and_a_hint(folder: Path, args: list[str], message: str) -> None:
    (folder / "empty.txt").write_text("\n\n")
    res = run(*args, cwd=folder)
    assert res.returncode == 1, res.stdout + res.stderr
    assert "Traceback" not in res.stderr
    error, hint = res.stderr.strip().splitlines()
    assert error.startswith("chainrule: error: ") and message in error, error
    assert hint.startswith("hint: ")
