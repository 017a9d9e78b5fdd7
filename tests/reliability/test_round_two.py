"""Siblings of the reliability cases found by a second red-team pass: checkpoint fields that
were still accepted after an edit (non-finite weights and buffers, an epoch the history
contradicts, step counts and names beyond reason, text with terminal escapes), and writes that
fail for reasons other than a full disk, which must name the file asked for."""

from __future__ import annotations

import errno
import os
import re
from pathlib import Path

import numpy as np
import pytest
from test_checkpoint import _edited  # the one way these tests edit a checkpoint

import chainrule as cr
from chainrule import nn, optim
from chainrule.errors import ConfigError, FileWriteError, ModelFileError
from chainrule.io import atomic_write

FIT = {"optimizer": "adam", "lr": 0.01, "batch_size": 16, "seed": 123, "verbose": 0}


def _data() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(64, 3))
    return X, (X[:, 0] + X[:, 2] > 0).astype(np.int64)


def _model() -> nn.Sequential:
    return nn.Sequential(nn.Linear(3, 8, rng=1), nn.Tanh(), nn.Linear(8, 2, rng=2))


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("ckpt") / "run.ckpt"
    X, y = _data()
    cr.fit(_model(), X, y, epochs=2, checkpoint=path, **FIT)
    return path


def _tensor(prefix: str, change):
    def edit(state, tensors):
        key = next(k for k in sorted(tensors) if k.startswith(prefix))
        tensors[key] = change(tensors[key])
    return edit


def _field(*path_and_value):
    *keys, value = path_and_value

    def edit(state, tensors):
        d = state
        for k in keys[:-1]:
            d = d[k]
        d[keys[-1]] = value
    return edit


EDITS = [
    # what was accepted before, and what the error must name
    ("NaN weight", _tensor("model.", lambda a: np.full_like(a, np.nan)),
     r"tensor 'model\.0\.bias' holds non-finite"),
    ("inf weight", _tensor("model.", lambda a: np.full_like(a, np.inf)), "non-finite"),
    ("NaN Adam moment", _tensor("optimizer.0.exp_avg", lambda a: np.full_like(a, np.nan)),
     "buffer 'exp_avg' of parameter 0 holds non-finite"),
    ("negative second moment", _tensor("optimizer.0.exp_avg_sq", lambda a: -np.ones_like(a)),
     "buffer 'exp_avg_sq' of parameter 0 holds negative values"),
    ("float64 beyond float32", _tensor("optimizer.0.exp_avg",
                                       lambda a: np.full(a.shape, 1e300)),
     r"non-finite values \(as float32\)"),
    ("epoch ahead of the history", _field("epoch", 100), r"field epoch must be the last epoch "
                                                          r"of the history \(2\), got 100"),
    ("epoch 10**30", _field("epoch", 10**30), "field epoch"),
    ("step count 10**30", _field("optimizer", "step_count", 10**30), "optimizer.step_count"),
    ("metric name of 10**5 characters", _field("history", "history", {"x" * 10**5: [1.0, 2.0]}),
     "history.history"),
    ("stop reason with terminal escapes", _field("history", "stop_reason", "\x1b[2Jgone"),
     "history.stop_reason"),
    ("generator state has_uint32=7", _field("rng", "has_uint32", 7), "field rng"),
]


@pytest.mark.parametrize("what, edit, message", EDITS, ids=[e[0] for e in EDITS])
def test_an_edited_checkpoint_is_refused(checkpoint: Path, tmp_path: Path, what: str, edit,
                                         message: str) -> None:
    bad = _edited(checkpoint, tmp_path / "bad.ckpt", edit)
    X, y = _data()
    with pytest.raises(ModelFileError, match=message) as info:
        cr.fit(_model(), X, y, epochs=4, checkpoint=bad, resume=True, **FIT)
    text = str(info.value)
    assert "\x1b" not in text and len(text) < 1000  # escaped and bounded


def test_a_tensor_name_with_escapes_is_quoted_escaped_and_capped(checkpoint: Path,
                                                                 tmp_path: Path) -> None:
    def edit(state, tensors):
        tensors["optimizer.0.\x1b]0;owned\x07" + "x" * 5000] = np.zeros(1, np.float32)
    bad = _edited(checkpoint, tmp_path / "bad.ckpt", edit)
    X, y = _data()
    with pytest.raises(ModelFileError) as info:
        cr.fit(_model(), X, y, epochs=4, checkpoint=bad, resume=True, **FIT)
    text = str(info.value)
    assert "\x1b" not in text and "\\x1b" in text and len(text) < 1000


def test_an_intact_checkpoint_still_resumes(checkpoint: Path) -> None:
    X, y = _data()
    h = cr.fit(_model(), X, y, epochs=4, checkpoint=checkpoint, resume=True, **FIT)
    assert h.epochs == [1, 2, 3, 4]


def test_load_state_dict_refuses_non_finite_and_negative_buffers() -> None:
    p = cr.tensor(np.ones((2, 2)), requires_grad=True)
    opt = optim.RMSprop([p], lr=0.1)
    state = opt.state_dict()
    state["state"] = [{"square_avg": -np.ones((2, 2))}]
    with pytest.raises(ConfigError, match="'square_avg' of parameter 0 holds negative"):
        opt.load_state_dict(state)
    state["state"] = [{"square_avg": np.full((2, 2), np.nan)}]
    with pytest.raises(ConfigError, match="non-finite"):
        opt.load_state_dict(state)


# -- a failed write names the file asked for ------------------------------------------------------
def test_a_write_into_a_missing_folder_names_the_file(tmp_path: Path) -> None:
    target = tmp_path / "missing" / "run.ckpt"
    with pytest.raises(FileWriteError, match=re.escape(str(target)) + ": No such file") as info:
        atomic_write(target, [b"x"])
    assert ".tmp" not in str(info.value) and isinstance(info.value, OSError)
    assert info.value.errno == errno.ENOENT and info.value.filename == str(target)


def test_fit_with_a_checkpoint_in_a_missing_folder_names_it(tmp_path: Path) -> None:
    X, y = _data()
    target = tmp_path / "nowhere" / "run.ckpt"
    with pytest.raises(FileWriteError, match=re.escape(str(target))) as info:
        cr.fit(_model(), X, y, epochs=1, checkpoint=target, **FIT)
    assert ".tmp" not in str(info.value)


def test_a_write_onto_a_folder_leaves_no_temporary_file(tmp_path: Path) -> None:
    folder = tmp_path / "taken"
    folder.mkdir()
    with pytest.raises(FileWriteError, match=re.escape(str(folder))):
        cr.save(_model(), folder)
    assert sorted(os.listdir(tmp_path)) == ["taken"]


def test_a_path_that_is_not_a_path_is_refused_by_name(tmp_path: Path) -> None:
    message = re.escape("a file name must be a str or os.PathLike, got int")
    with pytest.raises(ConfigError, match=message):
        atomic_write(123, [b"x"])  # type: ignore[arg-type]


# -- the engine names the operation and the operands -------------------------------------------
def test_where_with_shapes_that_do_not_broadcast_names_all_three() -> None:
    with pytest.raises(cr.ShapeError, match=r"where: the condition of shape \(2, 3\) and "
                                            r"operands of shapes \(2, 3\) and \(4,\)"):
        cr.where(np.ones((2, 3), bool), cr.tensor(np.ones((2, 3))), cr.tensor(np.ones(4)))


@pytest.mark.parametrize("op", [lambda t: t + "a", lambda t: "a" * t, lambda t: t - b"1"])
def test_text_as_an_operand_is_a_dtype_error(op) -> None:
    with pytest.raises(cr.DTypeError, match="cannot compute with the text"):
        op(cr.tensor(np.ones(2)))
