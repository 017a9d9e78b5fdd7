"""The command line under hostile and unlucky conditions: two runs into one folder, a
checkpoint that is one of a run's outputs, class names that are spreadsheet formulas or
terminal escapes, duplicate options, huge targets and a full disk.

Every case here failed before the fix it names: the second run wrote beside the first
(history.csv with NUL bytes), ``--checkpoint o/history.csv`` replaced the history, predict
wrote live formulas and raw escapes, ``cat=1,cat=5`` kept the last weight, ``cat=1e308``
blamed the data file, a target near 1e300 was reported as a damaged model file, and a full
disk named no file.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("pandas")

from chainrule.cli import build_parser, main
from chainrule.errors import ConfigError, FileWriteError
from chainrule.training import CSVLogger
from chainrule.workflow import LOCK_FILE, RunLock, TrainConfig

SRC = str(Path(__file__).resolve().parents[2] / "src")
FORMULA = "=+-@\t\r"
NUMBER = re.compile(r"[+-]?[0-9.,]*[0-9][0-9.,]*(?:[eE][+-]?[0-9]+)?\Z")


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": SRC + os.pathsep + os.environ.get("PYTHONPATH", ""),
            "MPLBACKEND": "Agg"}


def _table(path: Path, labels: list[str], n: int = 60, seed: int = 0,
           extra: dict[str, str] | None = None) -> None:
    """Two numeric features and a label column cycling through ``labels`` (quoted), plus
    ``extra`` columns holding one fixed text each."""
    rng = np.random.default_rng(seed)
    out = io.StringIO()
    w = csv.writer(out)  # rows end in CRLF, so a CR inside a name is quoted
    w.writerow(["a", "b", "label", *(extra or {})])
    for i in range(n):
        a, b = rng.normal(size=2)
        w.writerow([repr(float(a)), repr(float(b)), labels[i % len(labels)],
                    *(extra or {}).values()])
    path.write_text(out.getvalue(), newline="")


def _regression(path: Path, scale: float, n: int = 80) -> None:
    rng = np.random.default_rng(3)
    rows = ["a,b,y"]
    for _ in range(n):
        a, b = rng.normal(size=2)
        y = float((2 * a - b + 3 + 0.1 * rng.normal()) * scale)
        rows.append(f"{float(a)!r},{float(b)!r},{y!r}")
    path.write_text("\n".join(rows) + "\n")


def _train(*args: str) -> list[str]:
    return ["train", "--epochs", "3", "--no-plots", "-q", *args]


# -- two runs into one folder -------------------------------------------------------------------
def test_a_second_live_run_on_one_folder_is_refused(tmp_path: Path, monkeypatch,
                                                    capsys) -> None:
    """A real second process holds the folder; train here must refuse, naming its pid."""
    monkeypatch.chdir(tmp_path)
    _table(tmp_path / "d.csv", ["x", "y"])
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys\nfrom chainrule.workflow import RunLock\n"
         "RunLock('o').acquire()\nprint('held', flush=True)\nsys.stdin.read()\n"],
        cwd=tmp_path, env=_env(), stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"  # no sleep: it says when it holds
        code = main(_train("--data", "d.csv", "--target", "label", "--out", "o"))
        err = capsys.readouterr().err
        assert code == 1
        assert "another chainrule run" in err and str(holder.pid) in err and "--out" in err
        assert not (tmp_path / "o" / "history.csv").exists()
        assert not (tmp_path / "o" / "model.safetensors").exists()
    finally:
        holder.stdin.close()
        holder.wait(timeout=60)
    # the holder ended: the folder is free again, and the run leaves no lock behind
    assert main(_train("--data", "d.csv", "--target", "label", "--out", "o")) == 0
    assert (tmp_path / "o" / "model.safetensors").exists()
    assert not (tmp_path / "o" / LOCK_FILE).exists()


def test_a_lock_held_in_this_process_refuses_the_library_run(tmp_path: Path) -> None:
    _table(tmp_path / "d.csv", ["x", "y"])
    cfg = TrainConfig(data=str(tmp_path / "d.csv"), target="label", epochs=2, plots=False,
                      out=str(tmp_path / "o"))
    from chainrule import workflow

    with RunLock(tmp_path / "o"), pytest.raises(ConfigError, match="another chainrule run"):
        workflow.train(cfg)
    assert workflow.train(cfg).path is not None  # released by the with block


def test_a_stale_lock_of_a_dead_process_is_taken_over_with_a_note(tmp_path: Path,
                                                                  monkeypatch, capsys) -> None:
    monkeypatch.chdir(tmp_path)
    _table(tmp_path / "d.csv", ["x", "y"])
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    pid = int(dead.stdout)  # that process has exited: its lock file is stale
    (tmp_path / "o").mkdir()
    (tmp_path / "o" / LOCK_FILE).write_text(f"{pid}\n")
    # a checkpoint beside the outputs is none of them: allowed
    assert main(_train("--data", "d.csv", "--target", "label", "--out", "o",
                       "--checkpoint", "o/ckpt.safetensors")) == 0
    err = capsys.readouterr().err
    assert "took over" in err and str(pid) in err
    assert not (tmp_path / "o" / LOCK_FILE).exists()
    assert (tmp_path / "o" / "ckpt.safetensors").exists()


def test_two_loggers_on_one_file_leave_no_nul_bytes_nor_half_rows(tmp_path: Path) -> None:
    """Two writers of one history.csv, as two runs had: the first has written rows, the
    second starts over (truncates), then the first writes again.  Writing at a remembered
    offset filled the gap with NUL bytes; appending puts every row after the last one."""
    path = tmp_path / "history.csv"
    first, second = CSVLogger(path), CSVLogger(path)
    first.on_train_begin()
    for epoch in range(40):
        first.on_epoch_end(epoch, {"loss": 0.5 + epoch, "val_loss": 0.25})
    second.on_train_begin()
    second.on_epoch_end(0, {"loss": 9.0})
    first.on_epoch_end(40, {"loss": 1.5, "val_loss": 0.75})
    first.on_train_end()
    second.on_train_end()
    data = path.read_bytes()
    assert b"\0" not in data
    rows = list(csv.reader(io.StringIO(data.decode())))
    assert rows[0] == ["epoch", "loss"]  # the second run's header and row, then a whole row
    assert rows[1:] == [["1", "9.0"], ["41", "1.5", "0.75"]]


def test_the_logger_names_the_file_when_the_disk_is_full(tmp_path: Path, monkeypatch) -> None:
    import errno

    path = tmp_path / "history.csv"
    log = CSVLogger(path)
    log.on_train_begin()

    def full(fd: int, data: bytes) -> int:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "write", full)
    with pytest.raises(FileWriteError, match=r"history\.csv") as caught:
        log.on_epoch_end(0, {"loss": 1.0})
    assert caught.value.errno == errno.ENOSPC and caught.value.filename == str(path)
    monkeypatch.undo()
    log.on_train_end()


# -- a checkpoint (or data file) that is one of the run's outputs -------------------------------
@pytest.mark.parametrize("checkpoint", ["o/history.csv", "o/model.safetensors", "o/./loss.png",
                                        "o/../o/confusion_matrix.png", "d.csv"])
def test_a_checkpoint_that_is_an_output_of_the_run_is_refused(tmp_path: Path, monkeypatch,
                                                              capsys, checkpoint: str) -> None:
    monkeypatch.chdir(tmp_path)
    _table(tmp_path / "d.csv", ["x", "y"])
    before = (tmp_path / "d.csv").read_bytes()
    code = main(_train("--data", "d.csv", "--target", "label", "--out", "o",
                       "--checkpoint", checkpoint))
    err = capsys.readouterr().err
    assert code == 1
    assert "--checkpoint" in err and os.path.basename(checkpoint) in err
    assert not (tmp_path / "o" / "model.safetensors").exists()
    assert (tmp_path / "d.csv").read_bytes() == before


def test_a_checkpoint_through_a_link_to_the_history_is_refused(tmp_path: Path,
                                                               monkeypatch, capsys) -> None:
    monkeypatch.chdir(tmp_path)
    _table(tmp_path / "d.csv", ["x", "y"])
    (tmp_path / "o").mkdir()
    (tmp_path / "o" / "history.csv").write_text("epoch,loss\n")
    os.symlink(tmp_path / "o" / "history.csv", tmp_path / "link.ckpt")
    assert main(_train("--data", "d.csv", "--target", "label", "--out", "o",
                       "--checkpoint", "link.ckpt")) == 1
    assert "history" in capsys.readouterr().err
    assert (tmp_path / "o" / "history.csv").read_text() == "epoch,loss\n"


@pytest.mark.parametrize("out", ["d.csv", "m/model.safetensors"])
def test_predict_refuses_to_write_over_its_data_or_model(tmp_path: Path, monkeypatch, capsys,
                                                         out: str) -> None:
    monkeypatch.chdir(tmp_path)
    _table(tmp_path / "d.csv", ["x", "y"])
    assert main(_train("--data", "d.csv", "--target", "label", "--out", "m")) == 0
    before = {p: (tmp_path / p).read_bytes() for p in ("d.csv", "m/model.safetensors")}
    assert main(["predict", "m/model.safetensors", "--data", "d.csv", "--out", out]) == 1
    assert "--out" in capsys.readouterr().err
    assert {p: (tmp_path / p).read_bytes() for p in before} == before


def test_export_refuses_to_write_over_its_model(tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.chdir(tmp_path)
    _table(tmp_path / "d.csv", ["x", "y"])
    assert main(_train("--data", "d.csv", "--target", "label", "--out", "m")) == 0
    before = (tmp_path / "m/model.safetensors").read_bytes()
    assert main(["export", "m/model.safetensors", "--out", "m/./model.safetensors"]) == 1
    assert "MODEL" in capsys.readouterr().err
    assert (tmp_path / "m/model.safetensors").read_bytes() == before


# -- predict's output: spreadsheets and terminals -------------------------------------------------
HOSTILE = ["=1+2", "@SUM(A1:A9)", "+cmd|' /C calc'!A0", "-2+3+cmd|' /C calc'!A0",
           "=HYPERLINK(\"http://x\",\"y\")", "\rx", "a\rb", "plain"]


@pytest.fixture(scope="module")
def hostile_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("hostile")
    _table(d / "d.csv", HOSTILE, n=70, extra={"note": "=cmd()", "num": "-1.5",
                                               "prediction": "old", "p_plain": "0.5"})
    cwd = os.getcwd()
    os.chdir(d)
    try:
        assert main(_train("--data", "d.csv", "--target", "label", "--out", "m",
                           "--drop", "note,num,prediction,p_plain")) == 0
    finally:
        os.chdir(cwd)
    return d


def _unsafe(cell: str) -> bool:
    return bool(cell) and cell[0] in FORMULA and not NUMBER.match(cell)


def test_predict_writes_no_live_formula_and_keeps_numbers(hostile_model: Path, capsys) -> None:
    d = hostile_model
    assert main(["predict", str(d / "m/model.safetensors"), "--data", str(d / "d.csv"),
                 "--proba", "--out", str(d / "p.csv")]) == 0
    err = capsys.readouterr().err
    rows = list(csv.reader(io.StringIO((d / "p.csv").read_bytes().decode())))
    assert not [c for row in rows for c in row if _unsafe(c)]
    header = rows[0]
    body = rows[1:]
    assert {r[header.index("num")] for r in body} == {"-1.5"}  # a number stays a number
    assert {r[header.index("note")] for r in body} == {"'=cmd()"}
    # a neutralised class name is the class name behind one apostrophe
    predicted = {r[header.index("prediction (chainrule)")] for r in body}
    assert predicted and all(p.removeprefix("'") in HOSTILE for p in predicted)
    assert "leading '" in err


def test_predict_output_column_names_are_unique_and_renames_are_said(hostile_model: Path,
                                                                     capsys) -> None:
    d = hostile_model
    assert main(["predict", str(d / "m/model.safetensors"), "--data", str(d / "d.csv"),
                 "--proba", "--out", str(d / "p.csv")]) == 0
    err = capsys.readouterr().err
    header = next(csv.reader(io.StringIO((d / "p.csv").read_bytes().decode())))
    assert len(header) == len(set(header))
    assert header[:7] == ["a", "b", "label", "note", "num", "prediction", "p_plain"]
    assert "'prediction (chainrule)'" in err and "'p_plain (chainrule)'" in err


def test_a_second_rename_does_not_collide_either(tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.chdir(tmp_path)
    _table(tmp_path / "d.csv", ["x", "y"], extra={"prediction": "1",
                                                  "prediction (chainrule)": "2"})
    assert main(_train("--data", "d.csv", "--target", "label", "--out", "m",
                       "--features", "a,b")) == 0
    capsys.readouterr()
    assert main(["predict", "m/model.safetensors", "--data", "d.csv"]) == 0
    header = capsys.readouterr().out.splitlines()[0].split(",")
    assert len(header) == len(set(header)) == 6


def test_predict_sends_no_control_character_to_the_terminal(tmp_path: Path, monkeypatch,
                                                            capsys) -> None:
    monkeypatch.chdir(tmp_path)
    evil = ["\x1b]0;owned\x07red", "\x1b[2Jclear", "bi\u202edi"]
    _table(tmp_path / "d.csv", evil, extra={"note\x1b[31m": "x\x1b[1my"})
    assert main(_train("--data", "d.csv", "--target", "label", "--out", "m",
                       "--features", "a,b")) == 0
    capsys.readouterr()
    assert main(["predict", "m/model.safetensors", "--data", "d.csv", "--proba"]) == 0
    out = capsys.readouterr().out
    assert not [c for c in out if not c.isprintable() and c != "\n"]
    assert "\\x1b]0;owned\\x07red" in out or "\\x1b[2Jclear" in out
    # a file keeps the names exactly (a spreadsheet does not run escapes)
    assert main(["predict", "m/model.safetensors", "--data", "d.csv", "--out", "p.csv"]) == 0
    rows = list(csv.reader(io.StringIO((tmp_path / "p.csv").read_bytes().decode())))
    assert {r[-1] for r in rows[1:]} <= set(evil)


# -- options: duplicates and class weights ------------------------------------------------------
@pytest.mark.parametrize("argv, named", [
    (["--class-weight", "cat=1,cat=5"], "cat"),
    (["--class-weight", "cat=1e308"], "--class-weight"),
    (["--class-weight", "cat=1e-320"], "--class-weight"),
    (["--class-weight", "cat=1", "--class-weight", "cat=2"], "cat"),
    (["--class-weight", "balanced", "--class-weight", "cat=2"], "balanced"),
])
def test_duplicate_or_unusable_class_weights_are_refused_by_name(argv: list[str], named: str,
                                                           capsys) -> None:
    with pytest.raises(SystemExit) as caught:
        build_parser().parse_args(["train", *argv])
    assert caught.value.code == 2
    assert named in capsys.readouterr().err


def test_a_class_weight_of_1e308_no_longer_blames_the_data(tmp_path: Path, monkeypatch,
                                                           capsys) -> None:
    monkeypatch.chdir(tmp_path)
    _table(tmp_path / "d.csv", ["cat", "dog"])
    with pytest.raises(SystemExit) as caught:  # a bad option: argparse's exit status 2
        main(_train("--data", "d.csv", "--target", "label", "--class-weight", "cat=1e308"))
    assert caught.value.code == 2
    err = capsys.readouterr().err
    assert "--class-weight" in err and "data file" not in err


def test_class_weights_that_leave_nothing_to_learn_name_the_option(tmp_path: Path,
                                                                   monkeypatch, capsys) -> None:
    monkeypatch.chdir(tmp_path)
    _table(tmp_path / "d.csv", ["cat", "dog"])
    assert main(_train("--data", "d.csv", "--target", "label", "--out", "o",
                       "--class-weight", "cat=0,dog=0")) == 1
    err = capsys.readouterr().err
    assert "--class-weight" in err and "data file" not in err


@pytest.mark.parametrize("weights", [{"cat": 1e308}, {"cat": float("inf")}, {"cat": -1.0},
                                     {"cat": "3"}, {"cat": True}])
def test_the_library_config_checks_class_weights_too(weights: dict) -> None:
    with pytest.raises(ConfigError, match="--class-weight"):
        TrainConfig(data="d.csv", target="label", class_weight=weights).check()


def test_list_options_given_twice_add_up(tmp_path: Path) -> None:
    """--drop a --drop b dropped only b; class weights given twice kept only the last."""
    args = build_parser().parse_args(["train", "--drop", "a", "--drop", "b,c",
                                      "--categorical", "x", "--categorical", "y",
                                      "--features", "p", "--features", "q",
                                      "--class-weight", "cat=2", "--class-weight", "dog=3"])
    assert (args.drop, args.categorical, args.features) == (["a", "b", "c"], ["x", "y"],
                                                            ["p", "q"])
    assert args.class_weight == {"cat": 2.0, "dog": 3.0}


def test_a_feature_named_twice_is_refused() -> None:
    with pytest.raises(ConfigError, match="'a' twice"):
        TrainConfig(data="d.csv", target="label", features=["a", "b", "a"]).check()


# -- a target near 1e300 or 1e-300 ---------------------------------------------------------------
def _metrics(tmp_path: Path, name: str, scale: float, capsys) -> dict:
    _regression(tmp_path / f"{name}.csv", scale)
    assert main(["train", "--data", str(tmp_path / f"{name}.csv"), "--target", "y",
                 "--out", str(tmp_path / name), "--epochs", "40", "--no-plots", "--json"]) == 0
    text = capsys.readouterr().out
    capsys.readouterr()
    return json.loads(text, parse_constant=lambda c: pytest.fail(f"{c} is not JSON"))


@pytest.mark.parametrize("scale", [1e300, 1e-300, 1e160])
def test_a_target_of_any_finite_magnitude_trains_as_at_unit_scale(tmp_path: Path, capsys,
                                                                  scale: float) -> None:
    """The same job with the target in other units: the standardised targets are the same,
    so R^2 and RMSE / scale must agree with the unit-scale run's (the trusted reference)."""
    unit = _metrics(tmp_path, "unit", 1.0, capsys)
    scaled = _metrics(tmp_path, "scaled", scale, capsys)
    for part in ("train", "validation"):
        assert scaled[part]["r2"] == pytest.approx(unit[part]["r2"], rel=1e-4, abs=1e-6)
        assert unit[part]["r2"] > 0.5
        assert scaled[part]["rmse"] / scale == pytest.approx(unit[part]["rmse"], rel=1e-4)
        assert scaled[part]["mae"] / scale == pytest.approx(unit[part]["mae"], rel=1e-4)
    # the model file loads, and predict answers in the target's units
    capsys.readouterr()
    assert main(["predict", str(tmp_path / "scaled/model.safetensors"), "--data",
                 str(tmp_path / "scaled.csv")]) == 0
    rows = list(csv.reader(io.StringIO(capsys.readouterr().out)))
    y = np.array([float(r[2]) for r in rows[1:]])
    pred = np.array([float(r[3]) for r in rows[1:]])
    assert np.all(np.isfinite(pred))
    y, pred = y / scale, pred / scale
    assert 1 - np.sum((y - pred) ** 2) / np.sum((y - y.mean()) ** 2) > 0.5


def _huge_feature(path: Path) -> None:
    rng = np.random.default_rng(4)
    rows = ["a,big,label"]
    for i in range(60):
        a = float(rng.normal())
        rows.append(f"{a!r},{[1e308, -1e308, 5.0][i % 3]!r},{'p' if a > 0 else 'q'}")
    path.write_text("\n".join(rows) + "\n")


def test_a_feature_near_1e308_is_standardised_and_the_model_predicts(tmp_path: Path,
                                                                     capsys) -> None:
    _huge_feature(tmp_path / "f.csv")
    assert main(_train("--data", str(tmp_path / "f.csv"), "--target", "label", "--out",
                       str(tmp_path / "o"))) == 0
    capsys.readouterr()
    assert main(["predict", str(tmp_path / "o/model.safetensors"), "--data",
                 str(tmp_path / "f.csv")]) == 0
    rows = list(csv.reader(io.StringIO(capsys.readouterr().out)))
    assert len(rows) == 61 and {r[-1] for r in rows[1:]} <= {"p", "q"}


def test_a_feature_beyond_float32_without_standardising_is_named(tmp_path: Path,
                                                                 capsys) -> None:
    _huge_feature(tmp_path / "f.csv")
    assert main(_train("--data", str(tmp_path / "f.csv"), "--target", "label", "--out",
                       str(tmp_path / "o"), "--no-standardize")) == 1
    err = capsys.readouterr().err
    assert "'big'" in err and "float32" in err and "diverged" not in err


def test_evaluate_json_of_a_huge_target_is_strict_json(tmp_path: Path, capsys) -> None:
    _regression(tmp_path / "big.csv", 1e300)
    assert main(_train("--data", str(tmp_path / "big.csv"), "--target", "y", "--out",
                       str(tmp_path / "o"))) == 0
    capsys.readouterr()
    assert main(["evaluate", str(tmp_path / "o/model.safetensors"), "--data",
                 str(tmp_path / "big.csv"), "--json"]) == 0
    out = capsys.readouterr().out
    metrics = json.loads(out, parse_constant=lambda c: pytest.fail(f"{c} is not JSON"))
    assert metrics["mse"] is None  # beyond float64: null, not Infinity
    assert np.isfinite(metrics["rmse"]) and np.isfinite(metrics["r2"])


# -- a full disk names the file -----------------------------------------------------------------
_LIMITED = """\
import resource, signal, sys
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails with EFBIG
resource.setrlimit(resource.RLIMIT_FSIZE, ({limit}, {limit}))
from chainrule.cli import main
sys.exit(main(sys.argv[1:]))
"""


def _limited(tmp_path: Path, limit: int, *argv: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", _LIMITED.format(limit=limit), *argv],
                          cwd=tmp_path, env=_env(), capture_output=True, text=True,
                          timeout=300)


@pytest.mark.skipif(not hasattr(os, "setpgid") or sys.platform == "darwin",
                    reason="RLIMIT_FSIZE with SIGXFSZ ignored is a Linux test")
@pytest.mark.parametrize("job, name, limit", [
    (["train", "--data", "d.csv", "--target", "label", "--out", "o", "--epochs", "200",
      "--no-plots", "-q", "--patience", "500"], "history.csv", 12_000),
    (["train", "--data", "d.csv", "--target", "label", "--out", "o", "--epochs", "2",
      "-q"], ".png", 12_000),
    (["predict", "m/model.safetensors", "--data", "big.csv", "--out", "p.csv"], "p.csv",
     12_000),
    (["demo", "--dot", "g.dot"], "g.dot", 200),
])
def test_a_write_that_fails_for_space_names_the_file(tmp_path: Path, monkeypatch, job: list,
                                                     name: str, limit: int) -> None:
    """The process may write only ``limit`` bytes to a file: enough for the data, the model
    file and a few history rows, not for the rest."""
    monkeypatch.chdir(tmp_path)
    _table(tmp_path / "d.csv", ["x", "y"], n=40)
    _table(tmp_path / "big.csv", ["x", "y"], n=600)
    assert main(_train("--data", "d.csv", "--target", "label", "--out", "m")) == 0
    res = _limited(tmp_path, limit, *job)
    assert res.returncode == 1, res.stderr
    assert name in res.stderr and "Traceback" not in res.stderr
    assert res.stderr.count(name) == 1  # said once, in the message
