"""A catalogue of bad input, tried through the public API (``cr.fit``, ``chainrule.data``, the
``chainrule`` command, ``nn`` modules): each case must raise chainrule's own error type
(a :class:`~chainrule.engine.ChainruleError`) with a message that names the problem, or, where
noted, warn.  ``CASES`` is grouped by the categories of issue 5."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import chainrule as cr
from chainrule import nn
from chainrule.data import StandardScaler, check_features, load_csv, one_hot
from chainrule.engine import ChainruleError
from chainrule.tools.saving import save
from chainrule.training import build_mlp, get_activation, get_loss, get_optimizer

SRC = str(Path(__file__).resolve().parents[2] / "src")
RNG = np.random.default_rng(0)
X = RNG.normal(size=(20, 3))
Y_CLASS = (X[:, 0] > 0).astype(np.int64)
Y_REG = X.sum(axis=1)
QUIET = {"verbose": 0, "epochs": 1}


def _mlp(n_in: int = 3, n_out: int = 2) -> nn.Sequential:
    return nn.Sequential(nn.Linear(n_in, 4, rng=0), nn.Tanh(), nn.Linear(4, n_out, rng=1))


def _with(a: np.ndarray, row: int, col: int | None, value: float) -> np.ndarray:
    a = a.astype(np.float64).copy()
    a[(row, col) if col is not None else row] = value
    return a


Case = tuple[str, str, Callable[[], Any], str]
CASES: list[Case] = [
    # -- shapes: layers, inputs, targets ------------------------------------------------------
    ("shape", "input features vs first layer", lambda: cr.fit(_mlp(4), X, Y_CLASS, **QUIET),
     r"layer 0 \(Linear\).*4 features.*got input shape \(20, 3\)"),
    ("shape", "layer to layer", lambda: nn.Sequential(nn.Linear(3, 4), nn.Linear(5, 2))(
        cr.tensor(X)), r"layer 1 \(Linear\).*5 features.*got input shape \(20, 4\)"),
    ("shape", "X and y lengths", lambda: cr.fit(_mlp(), X, Y_CLASS[:5], **QUIET),
     "X has 20 examples but y has 5"),
    ("shape", "1-D X", lambda: cr.fit(_mlp(), X[:, 0], Y_CLASS, **QUIET),
     r"2-D.*reshape\(-1, 1\)"),
    ("shape", "3-D X", lambda: cr.fit(_mlp(), X[None], Y_CLASS, **QUIET),
     r"2-D with examples as rows, got shape \(1, 20, 3\)"),
    ("shape", "targets with 2 columns, 1 output", lambda: cr.fit(
        _mlp(3, 1), X, np.c_[Y_REG, Y_REG], loss="mse", **QUIET),
     "y has 2 value.* per example but the model has 1 outputs"),
    ("shape", "float class labels for a 2-output model",
     lambda: cr.fit(_mlp(), X, Y_CLASS.astype(float), **QUIET),
     r"model has 2 outputs.*y\.astype\(int\)"),
    ("shape", "loss input vs target", lambda: nn.MSELoss()(cr.tensor(np.ones((4, 1))),
                                                           np.ones((5, 1))),
     r"mse_loss: input has shape \(4, 1\) but target has shape \(5, 1\)"),
    ("shape", "validation features", lambda: cr.fit(
        _mlp(), X, Y_CLASS, validation_data=(X[:, :2], Y_CLASS), **QUIET),
     "layer 0|val_X"),
    ("shape", "scaler fitted on other features",
     lambda: StandardScaler().fit(X).transform(X[:, :2]), "2 features but 3 were expected"),
    # -- target types ---------------------------------------------------------------------------
    ("target", "strings for regression", lambda: cr.fit(
        _mlp(3, 1), X, np.array(["1.5"] * 20), loss="mse", **QUIET), "encode string labels"),
    ("target", "objects", lambda: cr.fit(_mlp(), X, np.array([None] * 20), **QUIET),
     "must hold numbers"),
    ("target", "non-integer class labels", lambda: cr.fit(
        _mlp(), X, Y_REG, loss="cross_entropy", **QUIET), "non-integer values.*0..C-1"),
    ("target", "label outside the outputs", lambda: cr.fit(_mlp(), X, Y_CLASS * 5, **QUIET),
     r"class label 5 \(row \d+\) but the model has 2 outputs.*0..1"),
    ("target", "negative label", lambda: cr.fit(_mlp(), X, Y_CLASS - 1, **QUIET),
     "negative class label -1"),
    ("target", "single class", lambda: cr.fit(_mlp(), X, np.zeros(20, int), **QUIET),
     "single class .*at least two classes"),
    ("target", "single class, binary", lambda: cr.fit(
        nn.Sequential(nn.Linear(3, 1), nn.Sigmoid()), X, np.ones(20), **QUIET),
     "single class"),
    ("target", "0/1 needed for BCE", lambda: cr.fit(
        nn.Sequential(nn.Linear(3, 1), nn.Sigmoid()), X, Y_CLASS * 2, **QUIET),
     "0/1 labels.*from 0.0 to 2.0"),
    ("target", "one_hot of floats", lambda: one_hot([0.5, 1.0]), "integer labels"),
    # -- NaN and infinity -----------------------------------------------------------------------
    ("nonfinite", "NaN in X", lambda: cr.fit(_mlp(), _with(X, 7, 2, np.nan), Y_CLASS, **QUIET),
     "X has a NaN at row 7, column 2"),
    ("nonfinite", "inf in X", lambda: cr.fit(_mlp(), _with(X, 3, 1, np.inf), Y_CLASS, **QUIET),
     "X has an infinite value at row 3, column 1"),
    ("nonfinite", "NaN in y", lambda: cr.fit(_mlp(3, 1), X, _with(Y_REG, 4, None, np.nan),
                                             **QUIET), "y has a NaN at row 4"),
    ("nonfinite", "-inf in 2-D y", lambda: cr.fit(
        _mlp(3, 2), X, _with(np.c_[Y_REG, Y_REG], 5, 1, -np.inf), **QUIET),
     "y has an infinite value at row 5, column 1"),
    ("nonfinite", "NaN in validation X", lambda: cr.fit(
        _mlp(), X, Y_CLASS, validation_data=(_with(X, 2, 0, np.nan), Y_CLASS), **QUIET),
     "val_X has a NaN at row 2, column 0"),
    ("nonfinite", "NaN in data to predict", lambda: check_features(_with(X, 9, 1, np.nan)),
     "NaN at row 9, column 1"),
    # -- empty data and batch sizes -------------------------------------------------------------
    ("empty", "no rows", lambda: cr.fit(_mlp(), np.empty((0, 3)), np.empty(0, int), **QUIET),
     r"X is empty: it has shape \(0, 3\)"),
    ("empty", "empty lists", lambda: cr.fit(_mlp(), [], [], **QUIET), "got shape \\(0,\\)"),
    ("empty", "batch size 0", lambda: cr.fit(_mlp(), X, Y_CLASS, batch_size=0, **QUIET),
     "batch_size must be a positive integer"),
    ("empty", "batch size 2.5", lambda: cr.fit(_mlp(), X, Y_CLASS, batch_size=2.5, **QUIET),
     "batch_size must be a positive integer"),
    ("empty", "split leaves no training rows", lambda: cr.fit(
        _mlp(), X[:2], np.array([0, 1]), validation_split=0.9, **QUIET),
     "left none for training"),
    ("empty", "scaler on nothing", lambda: StandardScaler().fit(np.empty((0, 2))), "empty"),
    ("empty", "epochs -1", lambda: cr.fit(_mlp(), X, Y_CLASS, verbose=0, epochs=-1),
     "epochs must be a non-negative integer"),
    # -- unknown names --------------------------------------------------------------------------
    ("names", "activation", lambda: get_activation("gelu"),
     "unknown activation 'gelu'; choose one of identity, leaky_relu, relu, sigmoid, tanh"),
    ("names", "loss", lambda: get_loss("hinge"), "unknown loss 'hinge'; choose one of bce"),
    ("names", "optimizer", lambda: get_optimizer("adamax", _mlp().parameters()),
     "unknown optimizer 'adamax'; choose one of adam, adamw, rmsprop, sgd"),
    ("names", "initialiser", lambda: build_mlp(3, [4], 2, init="glorot"),
     "unknown initialiser 'glorot'; choose one of kaiming_normal"),
    ("names", "output activation", lambda: build_mlp(3, [4], 2, output="tanh"),
     "unknown output activation 'tanh'; choose one of identity, sigmoid, softmax"),
    ("names", "metric", lambda: cr.fit(_mlp(), X, Y_CLASS, metrics="f1", **QUIET),
     "unknown metric 'f1'; choose one of accuracy"),
    ("names", "lr as text", lambda: cr.fit(_mlp(), X, Y_CLASS, lr="fast", **QUIET),
     "lr must be a positive finite number, got 'fast'"),
    ("names", "negative lr", lambda: cr.fit(_mlp(), X, Y_CLASS, lr=-1.0, **QUIET),
     "lr must be a positive finite number, got -1.0"),
    # -- wrong dtypes in one expression ---------------------------------------------------------
    ("dtype", "float32 + float64", lambda: cr.tensor(np.ones(3, np.float32)) + cr.tensor(
        np.ones(3)), "add: cannot combine float32 and float64"),
    ("dtype", "float32 @ float64", lambda: cr.tensor(np.ones((2, 2), np.float32)) @ cr.tensor(
        np.ones((2, 2))), "matmul: cannot combine float32 and float64"),
    ("dtype", "float64 * float32", lambda: cr.tensor(np.ones(3)) * cr.tensor(
        np.ones(3, np.float32)), "mul: cannot combine"),
    ("dtype", "complex features", lambda: cr.fit(_mlp(), X.astype(complex), Y_CLASS, **QUIET),
     "must hold numbers, got dtype complex128"),
    ("dtype", "string features", lambda: cr.fit(_mlp(), X.astype(str), Y_CLASS, **QUIET),
     "must hold numbers, got dtype <U"),
]


@pytest.mark.parametrize(("category", "what", "call", "message"), CASES,
                         ids=[f"{c[0]}: {c[1]}" for c in CASES])
def test_bad_input_is_named(category: str, what: str, call: Callable[[], Any],
                            message: str) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # e.g. batch size; not what is tested
        with pytest.raises(ChainruleError, match=message):
            call()


def test_batch_larger_than_the_data_warns_and_uses_full_batches() -> None:
    with pytest.warns(UserWarning, match="batch_size 100 is larger than the 20 training "
                                         "examples; every step uses all 20"):
        a = cr.fit(_mlp(), X, Y_CLASS, batch_size=100, seed=0, **QUIET)
    b = cr.fit(_mlp(), X, Y_CLASS, batch_size=None, seed=0, **QUIET)
    assert a.history == b.history


# -- CSV files, through load_csv ------------------------------------------------------------------
CSV_CASES = [
    ("missing target column", b"a,b\n1,2\n", "no column named 't'; the columns are a, b"),
    ("non-numeric feature", b"a,t\n1,x\nfoo,y\n", "non-numeric value 'foo' at row 3, column 'a'"),
    ("ragged row, short", b"a,b,t\n1,2,x\n3,y\n", "row 3 has 2 values but the header has 3"),
    ("ragged row, long", b"a,t\n1,x\n2,y,9\n", "row 3 has 3 values but the header has 2"),
    ("empty file", b"", "the file is empty"),
    ("blank lines only", b"\n \n\t\n", "the file is empty"),
    ("header only", b"a,t\n", "header but no data rows"),
    ("binary (PNG)", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR",
     "not a text CSV file|not a UTF-8 text file"),
    ("binary (latin-1)", b"a,t\n1,caf\xe9\n", "not a UTF-8 text file"),
    ("NUL byte in a cell", b"a,t\n1,x\n2\x00,y\n", r"NUL byte \(0x00\) at row 3, column 'a'"),
    ("NUL byte past the sniffed start", b"a,t\n" + b"1,x\n" * 40_000 + b"2,\x00y\n",
     r"NUL byte \(0x00\) at row 40002, column 't'"),
    ("NUL byte in the header", b"a,\x00t\n1,x\n", r"NUL byte \(0x00\) in the header \(row 1\)"),
    ("UTF-16 without a byte-order mark", "a,t\n1,2\n".encode("utf-16-le"),
     "looks like UTF-16 LE text without a byte-order mark"),
    ("missing value", b"a,t\n1,x\n,y\n", "missing value at row 3, column 'a'"),
    ("NaN feature", b"a,t\n1,x\n-nan,y\n", "missing value at row 3, column 'a'"),
    ("infinite feature", b"a,t\n1e999,x\n", "infinite value at row 2, column 'a'"),
    ("unclosed quote", b'a,t\n"1,x\n', "quoted value opened in row 2 is never closed"),
    ("huge field", b"a,t\n" + b"1" * 200_000 + b",x\n", "infinite value at row 2, column 'a'"),
]


@pytest.mark.parametrize(("what", "raw", "message"), CSV_CASES, ids=[c[0] for c in CSV_CASES])
def test_bad_csv_files(tmp_path: Path, what: str, raw: bytes, message: str) -> None:
    path = tmp_path / "bad.csv"
    path.write_bytes(raw)
    with pytest.raises(ChainruleError, match=message):
        load_csv(path, "t")


# -- the command line: one line of error, one of hint, no traceback --------------------------------
def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": SRC + os.pathsep + os.environ.get("PYTHONPATH", ""),
           "MPLBACKEND": "Agg"}
    return subprocess.run([sys.executable, "-m", "chainrule", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=120)


CLI_CASES = [
    (["train", "--data", "one.csv", "--target", "t"], "only one class \\('x'\\)"),
    (["train", "--data", "empty.csv", "--target", "t"], "the file is empty"),
    (["train", "--data", "binary.csv", "--target", "t"], "not a text CSV|not a UTF-8"),
    (["train", "--data", "ragged.csv", "--target", "t"], "row 3 has 2 values"),
    (["train", "--data", "ok.csv", "--target", "t", "--activation", "gelu"],
     "unknown activation 'gelu'"),
    (["train", "--data", "ok.csv", "--target", "t", "--init", "glorot"],
     "unknown initialiser 'glorot'"),
    (["train", "--data", "ok.csv", "--target", "t", "--loss", "hinge"], "unknown loss 'hinge'"),
    (["train", "--data", "ok.csv", "--target", "t", "--resume"], "--resume needs --checkpoint"),
    (["info", "ok.csv"], "header claims|too short"),
    (["info", "tampered.safetensors"], "preprocessing metadata is damaged"),
]


@pytest.mark.parametrize(("args", "message"), CLI_CASES, ids=[" ".join(c[0]) for c in CLI_CASES])
def test_bad_input_on_the_command_line(tmp_path: Path, args: list[str], message: str) -> None:
    rows = "".join(f"{i},{(i * 7) % 5},{'xy'[i % 2]}\n" for i in range(30))
    (tmp_path / "ok.csv").write_text("a,b,t\n" + rows)
    (tmp_path / "one.csv").write_text("a,t\n1,x\n2,x\n3,x\n")
    (tmp_path / "empty.csv").write_text("")
    (tmp_path / "binary.csv").write_bytes(bytes(range(256)))
    (tmp_path / "ragged.csv").write_text("a,b,t\n1,2,x\n3,y\n")
    save(_mlp(), tmp_path / "tampered.safetensors", preprocessing=["not", "a", "map"])
    res = _cli(*args, cwd=tmp_path)
    assert res.returncode == 1, res.stderr
    lines = res.stderr.strip().splitlines()
    assert "Traceback" not in res.stderr
    assert len(lines) == 2 and lines[1].startswith("hint:"), res.stderr
    assert re.search(message, lines[0]), lines[0]


def test_the_catalogue_covers_every_category() -> None:
    counts = {c: sum(1 for case in CASES if case[0] == c)
              for c in ("shape", "target", "nonfinite", "empty", "names", "dtype")}
    assert all(n >= 3 for n in counts.values()), counts
    assert len(CSV_CASES) >= 10 and len(CLI_CASES) >= 8


@pytest.mark.parametrize("names", [["only"], ["a", "a"], ["a", "b", "c"]])
def test_predict_refuses_class_names_that_do_not_fit_the_outputs(tmp_path: Path,
                                                                 names: list[str]) -> None:
    # A binary model (one sigmoid output) with one, repeated or three class names: predict
    # used to crash with an IndexError or label rows with the wrong classes.
    (tmp_path / "new.csv").write_text("a,b,c\n1,2,3\n4,5,6\n")
    model = nn.Sequential(nn.Linear(3, 1, rng=0), nn.Sigmoid())
    save(model, tmp_path / "m.safetensors", preprocessing={
        "task": "classification", "class_names": names, "feature_names": ["a", "b", "c"]})
    res = _cli("predict", "m.safetensors", "--data", "new.csv", cwd=tmp_path)
    assert res.returncode == 1 and "Traceback" not in res.stderr, res.stderr
    assert re.search(r"class_names|output", res.stderr.splitlines()[0]), res.stderr


WRONG_TYPES = [
    ("ragged X", lambda: cr.fit(_mlp(2), [[1.0, 2.0], [3.0]], [0, 1], **QUIET), "X is ragged"),
    ("ragged y", lambda: cr.fit(_mlp(2), [[1.0, 2.0], [3.0, 4.0]], [[0], [1, 0]], **QUIET),
     "y is ragged"),
    ("text into a layer", lambda: _mlp(2)(["a", "b"]), "need numbers"),
    ("text array into a layer", lambda: _mlp(2)(np.array([["a", "b"]])), "need numbers"),
    ("ragged list into a layer", lambda: _mlp(2)([[1.0, 2.0], [3.0]]), "rectangular"),
    ("manual_seed('x')", lambda: cr.manual_seed("x"), "manual_seed: the seed"),
    ("manual_seed(-1)", lambda: cr.manual_seed(-1), "manual_seed: the seed"),
    ("clip bound as text", lambda: cr.clip(cr.tensor([1.0]), "a", 1), "clip: min"),
    ("split fraction as text", lambda: cr.data.train_test_split(
        np.zeros((10, 2)), np.zeros(10), "a"), "split fractions"),
    ("gradcheck of a number", lambda: cr.gradcheck(3, (np.ones(2),)), "gradcheck: func"),
    ("save a string", lambda: cr.save("notamodel", "m.safetensors"), "save: the first"),
]


@pytest.mark.parametrize(("what", "call", "message"), WRONG_TYPES,
                         ids=[c[0] for c in WRONG_TYPES])
def test_wrong_types_get_a_chainrule_error(what: str, call: Callable[[], Any],
                                           message: str) -> None:
    with pytest.raises(ChainruleError, match=message):
        call()
