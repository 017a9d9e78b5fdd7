"""Interrupted training loses nothing: atomic checkpoints, exact resume, Ctrl-C, crashes."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

import chainrule as cr
from chainrule import nn
from chainrule.tools.saving import ModelFileError
from chainrule.training import Callback, ConfigError, Trainer
from chainrule.training.checkpoint import read_checkpoint

SRC = str(Path(__file__).resolve().parents[2] / "src")


def _data(n: int = 90, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 3))
    y = (X[:, 0] * X[:, 1] + X[:, 2] > 0).astype(np.int64) + (X[:, 2] > 1)
    return X, y


def _model() -> nn.Sequential:
    return nn.Sequential(nn.Linear(3, 8, rng=1), nn.Tanh(), nn.Linear(8, 3, rng=2))


FIT = {"optimizer": "adam", "lr": 0.01, "batch_size": 16, "shuffle": True, "seed": 123,
       "validation_split": 0.2, "verbose": 0}


def _same_parameters(a: nn.Module, b: nn.Module) -> None:
    pa, pb = dict(a.named_parameters()), dict(b.named_parameters())
    assert pa.keys() == pb.keys()
    for k in pa:
        np.testing.assert_array_equal(pa[k].data, pb[k].data, err_msg=k)  # bit for bit


def test_ten_epochs_equal_five_plus_five_resumed_from_the_file(tmp_path: Path) -> None:
    X, y = _data()
    straight = _model()
    h_straight = cr.fit(straight, X, y, epochs=10, **FIT)
    path = tmp_path / "run.ckpt"
    first = _model()
    cr.fit(first, X, y, epochs=5, checkpoint=path, **FIT)
    assert read_checkpoint(path)["epoch"] == 5
    resumed = _model()  # a fresh process would start from fresh weights: they get replaced
    h = cr.fit(resumed, X, y, epochs=10, checkpoint=path, resume=True, **FIT)
    _same_parameters(straight, resumed)
    assert h.epochs == list(range(1, 11))
    assert h.history == h_straight.history  # the metrics of every epoch, val_ too
    opt_a, opt_b = h_straight.trainer.optimizer, h.trainer.optimizer
    assert opt_a.step_count == opt_b.step_count
    for sa, sb in zip(opt_a.state, opt_b.state):
        for k in sa:
            np.testing.assert_array_equal(sa[k], sb[k])


class StopAt(Callback):
    """Raise KeyboardInterrupt after batch ``batch`` of epoch ``epoch`` (both from 0)."""

    def __init__(self, epoch: int, batch: int) -> None:
        self.at = (epoch, batch)

    def on_batch_end(self, batch, logs=None):
        if (self.trainer.epoch, batch) == self.at:
            raise KeyboardInterrupt


def test_interrupted_inside_an_epoch_resumes_at_the_next_batch(tmp_path: Path) -> None:
    X, y = _data()
    straight = _model()
    h_straight = cr.fit(straight, X, y, epochs=6, **FIT)
    path = tmp_path / "run.ckpt"
    h1 = cr.fit(_model(), X, y, epochs=6, checkpoint=path, callbacks=[StopAt(3, 1)], **FIT)
    assert h1.interrupted and len(h1) == 3 and "checkpoint saved to" in h1.stop_reason
    state = read_checkpoint(path)
    assert state["epoch"] == 3 and state["position"]["batch"] == 2
    resumed = _model()
    h2 = cr.fit(resumed, X, y, epochs=6, checkpoint=path, resume=True, **FIT)
    _same_parameters(straight, resumed)
    assert h2.history == h_straight.history


def test_resume_needs_the_same_model_data_and_optimizer(tmp_path: Path) -> None:
    X, y = _data()
    path = tmp_path / "run.ckpt"
    cr.fit(_model(), X, y, epochs=2, checkpoint=path, callbacks=[StopAt(1, 0)], **FIT)
    other = nn.Sequential(nn.Linear(3, 5, rng=1), nn.Tanh(), nn.Linear(5, 3, rng=2))
    with pytest.raises(ConfigError, match=r"checkpoint of another model.*0\.weight \[8, 3\] "
                                          r"vs \[5, 3\]"):
        cr.fit(other, X, y, epochs=4, checkpoint=path, resume=True, **FIT)
    with pytest.raises(ConfigError, match="used the Adam optimizer but this trainer has SGD"):
        cr.fit(_model(), X, y, epochs=4, checkpoint=path, resume=True,
               **{**FIT, "optimizer": "sgd"})
    with pytest.raises(ConfigError, match=r"inside an epoch of (\d+) training examples in "
                                          r"batches of 16; this call has \1 in batches of 8"):
        cr.fit(_model(), X, y, epochs=4, checkpoint=path, resume=True,
               **{**FIT, "batch_size": 8})
    with pytest.raises(ConfigError, match="resume=True needs checkpoint"):
        cr.fit(_model(), X, y, epochs=4, resume=True, **FIT)


def test_resume_without_a_checkpoint_starts_afresh(tmp_path: Path) -> None:
    X, y = _data()
    a, b = _model(), _model()
    cr.fit(a, X, y, epochs=3, **FIT)
    cr.fit(b, X, y, epochs=3, checkpoint=tmp_path / "new.ckpt", resume=True, **FIT)
    _same_parameters(a, b)
    assert (tmp_path / "new.ckpt").exists()


def test_a_failed_write_keeps_the_previous_checkpoint(tmp_path: Path, monkeypatch) -> None:
    X, y = _data()
    path = tmp_path / "run.ckpt"
    cr.fit(_model(), X, y, epochs=2, checkpoint=path, **FIT)
    before = path.read_bytes()
    for name in ("fsync", "replace"):  # a crash after the data is written, or before rename
        def boom(*args, _name=name, **kwargs):
            raise OSError(f"simulated failure in os.{_name}")

        with monkeypatch.context() as m:
            m.setattr(os, name, boom)
            with pytest.raises(OSError, match="simulated failure"):
                cr.fit(_model(), X, y, epochs=3, checkpoint=path, **FIT)
        assert path.read_bytes() == before
        assert read_checkpoint(path)["epoch"] == 2
        assert sorted(os.listdir(tmp_path)) == ["run.ckpt"]  # no temporary file left


_WRITER = textwrap.dedent("""
    import sys
    import numpy as np
    from chainrule import nn
    from chainrule.training import Trainer
    model = nn.Sequential(nn.Linear(400, 400, rng=0), nn.Linear(400, 400, rng=1))
    trainer = Trainer(model, verbose=0)
    print("ready", flush=True)
    i = 0
    while True:
        for p in model.parameters():
            p.data[...] = i
        trainer.epoch = i
        trainer.save_checkpoint(sys.argv[1])
        i += 1
""")


def test_killed_mid_write_never_leaves_a_broken_file(tmp_path: Path) -> None:
    """SIGKILL a process that rewrites a 2.5 MB checkpoint in a loop, at several moments:
    the file is always a complete checkpoint, all of one write (every weight equal)."""
    path = tmp_path / "loop.ckpt"
    env = {**os.environ, "PYTHONPATH": SRC + os.pathsep + os.environ.get("PYTHONPATH", "")}
    for delay in (0.3, 0.55, 0.8):
        proc = subprocess.Popen([sys.executable, "-c", _WRITER, str(path)], env=env,
                                stdout=subprocess.PIPE, text=True)
        try:
            assert proc.stdout.readline().strip() == "ready"
            deadline = time.monotonic() + 20
            while not path.exists() and time.monotonic() < deadline:
                time.sleep(0.01)
            time.sleep(delay)
        finally:
            proc.kill()
            proc.wait()
        state = read_checkpoint(path)
        values = np.concatenate([v.ravel() for v in state["model"].values()])
        assert np.all(values == state["epoch"])


def test_damaged_or_foreign_checkpoints_are_refused(tmp_path: Path) -> None:
    X, y = _data()
    path = tmp_path / "run.ckpt"
    cr.fit(_model(), X, y, epochs=1, checkpoint=path, **FIT)
    raw = path.read_bytes()
    trainer = Trainer(_model(), verbose=0)
    (tmp_path / "cut.ckpt").write_bytes(raw[: len(raw) // 2])
    with pytest.raises(ModelFileError, match=r"outside|bytes"):
        trainer.load_checkpoint(tmp_path / "cut.ckpt")
    _model().save(tmp_path / "model.safetensors")
    with pytest.raises(ModelFileError, match="not a chainrule checkpoint"):
        trainer.load_checkpoint(tmp_path / "model.safetensors")


_SCRIPT = textwrap.dedent("""
    import sys
    import numpy as np
    import chainrule as cr
    from chainrule import nn
    sys.path.insert(0, sys.argv[2])
    from test_checkpoint import FIT, _data, _model
    X, y = _data()
    h = cr.fit(_model(), X, y, epochs=100000, checkpoint=sys.argv[1], checkpoint_every=20,
               **FIT)
    print("interrupted" if h.interrupted else "finished", len(h), flush=True)
""")


def test_sigint_saves_a_checkpoint_and_exits_cleanly(tmp_path: Path) -> None:
    path = tmp_path / "run.ckpt"
    env = {**os.environ, "PYTHONPATH": SRC + os.pathsep + os.environ.get("PYTHONPATH", "")}
    proc = subprocess.Popen([sys.executable, "-c", _SCRIPT, str(path),
                             str(Path(__file__).parent)], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while not path.exists() and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.05)
    time.sleep(0.3)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert out.startswith("interrupted") and "Traceback" not in err
    state = read_checkpoint(path)
    done = state["epoch"]
    assert done >= 1 and len(state["history"]["epochs"]) == done
    # going on from the checkpoint to two epochs past it equals one uninterrupted run
    X, y = _data()
    straight = _model()
    cr.fit(straight, X, y, epochs=done + 2, **FIT)
    resumed = _model()
    cr.fit(resumed, X, y, epochs=done + 2, checkpoint=path, resume=True, **FIT)
    _same_parameters(straight, resumed)


# -- every field of the trainer's state is checked at load ---------------------------------------
def _edited(path: Path, out: Path, edit) -> Path:
    """A copy of the checkpoint at ``path`` with its trainer metadata changed by ``edit``."""
    import json

    from chainrule.io import read_safetensors, write_safetensors

    tensors, meta = read_safetensors(path)
    state = json.loads(meta["trainer"])
    edit(state, tensors)
    write_safetensors(out, tensors, {**meta, "trainer": json.dumps(state, allow_nan=True)})
    return out


def _set(path: str, value):
    def edit(state, tensors):
        *keys, last = path.split(".")
        d = state
        for k in keys:
            d = d[int(k)] if isinstance(d, list) else d[k]
        d[last] = value
    return edit


def _bad_buffer(state, tensors):
    name = next(k for k in tensors if k.startswith("optimizer.0."))
    tensors[name] = np.zeros(1, dtype=tensors[name].dtype)  # would broadcast into (8, 3)


EDITS = [
    ("optimizer.lr", _set("optimizer.lr", -1.0)),
    ("optimizer.lr", _set("optimizer.lr", float("nan"))),
    ("param_groups[0].lr", _set("optimizer.param_groups.0.lr", -1.0)),
    ("epoch", _set("epoch", -3)),
    ("epoch", _set("epoch", 2.5)),
    ("optimizer.step_count", _set("optimizer.step_count", -5)),
    ("optimizer.step_count", _set("optimizer.step_count", float("inf"))),
    ("buffer", _bad_buffer),
    ("history.epochs", _set("history.epochs", ["one"])),
    ("history.epochs", _set("history.epochs", [2, 1])),
    ("history.history", _set("history.history", {"loss": [0.5]})),
    ("history.history", _set("history.history", [])),
    ("history.interrupted", _set("history.interrupted", "no")),
    ("rng", _set("rng", {"bit_generator": "PCG64", "state": "x"})),
    ("rng", _set("rng", 7)),
    ("position", _set("position", {"batch": 0})),
    ("position.batch", _set("position", {"batch": -1, "samples": 72, "batch_size": 16})),
    ("data", _set("data", {"rows": -1, "batch_size": 16, "fingerprint": 1})),
    ("seed", _set("seed", "abc")),
    ("target_scaler", _set("target_scaler", {"mean": [0.0], "scale": [0.0]})),
]


@pytest.mark.parametrize("field, edit", EDITS, ids=[f"{f}-{i}" for i, (f, _) in
                                                    enumerate(EDITS)])
def test_an_edited_checkpoint_is_refused_naming_the_field(tmp_path: Path, field: str,
                                                          edit) -> None:
    X, y = _data()
    path = tmp_path / "run.ckpt"
    cr.fit(_model(), X, y, epochs=2, checkpoint=path, **FIT)
    bad = _edited(path, tmp_path / "bad.ckpt", edit)
    with pytest.raises(ModelFileError, match=re.escape(field)):
        cr.fit(_model(), X, y, epochs=4, checkpoint=bad, resume=True, **FIT)


def test_a_position_record_is_checked_too(tmp_path: Path) -> None:
    X, y = _data()
    path = tmp_path / "run.ckpt"
    cr.fit(_model(), X, y, epochs=2, checkpoint=path, callbacks=[StopAt(1, 0)], **FIT)
    for key, value, field in [("lr", float("inf"), "position.lr"),
                              ("tally", {"loss": 1.0}, "position.tally"),
                              ("samples", 0, "position.samples")]:
        def edit(state, tensors, key=key, value=value):
            state["position"][key] = value
        bad = _edited(path, tmp_path / "bad.ckpt", edit)
        with pytest.raises(ModelFileError, match=re.escape(field)):
            read_checkpoint(bad)


def test_resume_at_an_epoch_boundary_needs_the_same_batch_size_and_data(tmp_path: Path) -> None:
    X, y = _data()
    path = tmp_path / "run.ckpt"
    cr.fit(_model(), X, y, epochs=2, checkpoint=path, **FIT)
    assert read_checkpoint(path)["position"] is None  # an epoch boundary
    with pytest.raises(ConfigError, match=r"trained on (\d+) rows in batches of 16; this call "
                                          r"has \1 rows in batches of 8"):
        cr.fit(_model(), X, y, epochs=4, checkpoint=path, resume=True,
               **{**FIT, "batch_size": 8})
    X2 = X.copy()
    X2[5, 1] += 1e-3
    with pytest.raises(ConfigError, match="trained on other data"):
        cr.fit(_model(), X2, y, epochs=4, checkpoint=path, resume=True, **FIT)
    with pytest.raises(ConfigError, match=r"trained on \d+ rows"):
        cr.fit(_model(), X[:-5], y[:-5], epochs=4, checkpoint=path, resume=True, **FIT)
    w = np.ones(len(X))
    w[3] = 2.0  # other sample weights: another weighted loss, so other data
    with pytest.raises(ConfigError, match="trained on other data"):
        cr.fit(_model(), X, y, epochs=4, checkpoint=path, resume=True, sample_weight=w, **FIT)
    cr.fit(_model(), X, y, epochs=4, checkpoint=path, resume=True, **FIT)  # the same: fine


class DieAfterLogging(Callback):
    """Stand-in for a kill between the history row and the checkpoint of epoch ``epoch``."""

    def __init__(self, epoch: int) -> None:
        self.epoch = epoch

    def on_epoch_end(self, epoch, logs=None):
        if epoch == self.epoch:
            raise SystemExit("killed")


def test_history_csv_agrees_with_the_checkpoint_after_a_kill(tmp_path: Path) -> None:
    X, y = _data()
    path, log = tmp_path / "run.ckpt", tmp_path / "history.csv"
    with pytest.raises(SystemExit):
        cr.fit(_model(), X, y, epochs=5, checkpoint=path,
               callbacks=[cr.training.CSVLogger(log), DieAfterLogging(2)], **FIT)
    assert read_checkpoint(path)["epoch"] == 2  # the third epoch's row is written, not saved
    h = cr.fit(_model(), X, y, epochs=5, checkpoint=path, resume=True,
               callbacks=[cr.training.CSVLogger(log, append=True)], **FIT)
    import csv

    rows = list(csv.DictReader(log.open()))
    assert [int(r["epoch"]) for r in rows] == [1, 2, 3, 4, 5]
    assert [float(r["loss"]) for r in rows] == h["loss"]


def test_appending_to_a_log_without_resuming_keeps_its_rows(tmp_path: Path) -> None:
    X, y = _data()
    log = tmp_path / "history.csv"
    cr.fit(_model(), X, y, epochs=2, callbacks=[cr.training.CSVLogger(log)], **FIT)
    cr.fit(_model(), X, y, epochs=2, callbacks=[cr.training.CSVLogger(log, append=True)], **FIT)
    assert log.read_text().count("\n") == 5  # header and four rows


def test_a_stale_temporary_file_of_a_dead_writer_is_cleaned(tmp_path: Path) -> None:
    X, y = _data()
    path = tmp_path / "run.ckpt"
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True).stdout.strip()
    stale = tmp_path / f"run.ckpt.{dead}-abcd1234.tmp"
    stale.write_bytes(b"half a checkpoint")
    cr.fit(_model(), X, y, epochs=1, checkpoint=path, **FIT)
    assert sorted(os.listdir(tmp_path)) == ["run.ckpt"]
