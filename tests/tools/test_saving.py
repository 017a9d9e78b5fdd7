"""Model files: exact round trips, the safetensors layout, interop, and rejected files."""

from __future__ import annotations

import importlib.util
import json
import os
import struct
from pathlib import Path

import numpy as np
import pytest

import chainrule as cr
from chainrule import nn
from chainrule.data import StandardScaler
from chainrule.tools.saving import (
    ModelFileError,
    load,
    load_weights,
    load_with_metadata,
    read_metadata,
    read_safetensors,
    save,
    save_weights,
    write_safetensors,
)
from chainrule.training import ModelCheckpoint

needs_safetensors = pytest.mark.skipif(importlib.util.find_spec("safetensors") is None,
                                       reason="the safetensors package is not installed")


def _models() -> list[nn.Module]:
    return [
        nn.Sequential(nn.Linear(2, 4, rng=0), nn.Tanh(), nn.Linear(4, 1, rng=1), nn.Sigmoid()),
        nn.Sequential(nn.Linear(5, 8, rng=2, dtype=np.float64), nn.LeakyReLU(0.2),
                      nn.Dropout(0.3), nn.Linear(8, 3, bias=False, rng=3, dtype=np.float64),
                      nn.Softmax(axis=1)),
        nn.Sequential(nn.Sequential(nn.Linear(3, 3, rng=4), nn.ReLU()), nn.Linear(3, 2, rng=5),
                      nn.LogSoftmax(), nn.Identity()),
    ]


@pytest.mark.parametrize("index", [0, 1, 2])
def test_round_trip_predicts_exactly_the_same(tmp_path: Path, index: int) -> None:
    model = _models()[index].eval()
    path = tmp_path / "m.safetensors"
    save(model, path)
    loaded = cr.load(path).eval()
    assert repr(loaded) == repr(model)
    X = np.random.default_rng(9).normal(size=(17, model.parameters()[0].data.shape[1]))
    with cr.no_grad():
        np.testing.assert_array_equal(loaded(X).data, model(X).data)
    for (k, p), (k2, q) in zip(model.named_parameters(), loaded.named_parameters()):
        assert k == k2 and p.data.dtype == q.data.dtype
        np.testing.assert_array_equal(p.data, q.data)


def test_metadata_round_trip(tmp_path: Path) -> None:
    scaler = StandardScaler().fit(np.array([[1.0, 2.0], [3.0, 5.0]]))
    path = tmp_path / "m.safetensors"
    save(_models()[0], path, preprocessing={"scaler": scaler, "class_names": ["no", "yes"]},
         training={"lr": np.float64(1.2), "epochs": 10, "curve": np.array([0.5, 0.25])})
    _, meta = load_with_metadata(path)
    assert meta["preprocessing"]["class_names"] == ["no", "yes"]
    assert meta["preprocessing"]["scaler"] == scaler.to_dict()
    assert meta["training"] == {"lr": 1.2, "epochs": 10, "curve": [0.5, 0.25]}
    assert meta["format"] == "chainrule" and meta["format_version"] == 1
    assert read_metadata(path)["architecture"]["type"] == "Sequential"
    with pytest.raises(ModelFileError, match="reserved"):
        save(_models()[0], path, architecture="mine")
    with pytest.raises(ModelFileError, match="cannot be stored as JSON"):
        save(_models()[0], path, thing=object())


def test_file_layout_is_safetensors(tmp_path: Path) -> None:
    path = tmp_path / "m.safetensors"
    model = _models()[0]
    save(model, path)
    raw = path.read_bytes()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + n])
    assert (8 + n) % 8 == 0
    w = header["0.weight"]
    assert w["dtype"] == "F32" and w["shape"] == [4, 2]
    begin, end = w["data_offsets"]
    stored = np.frombuffer(raw[8 + n + begin:8 + n + end], dtype="<f4").reshape(4, 2)
    np.testing.assert_array_equal(stored, model[0].weight.data)
    assert set(header["__metadata__"]) >= {"format", "format_version", "architecture"}


@needs_safetensors
def test_interop_with_the_safetensors_package(tmp_path: Path) -> None:
    from safetensors import safe_open
    from safetensors.numpy import load_file, save_file

    model = _models()[1]
    path = tmp_path / "ours.safetensors"
    save(model, path, note="x")
    theirs = load_file(str(path))
    for k, v in model.state_dict().items():
        np.testing.assert_array_equal(theirs[k], v)
    with safe_open(str(path), framework="numpy") as f:
        assert f.metadata()["format"] == "chainrule"
    other = tmp_path / "theirs.safetensors"
    arrays = {"a": np.arange(6, dtype=np.int32).reshape(2, 3), "b": np.ones(4, np.float16)}
    save_file(arrays, str(other), metadata={"k": "v"})
    got, meta = read_safetensors(other)
    assert meta == {"k": "v"}
    for k, v in arrays.items():
        assert got[k].dtype == v.dtype
        np.testing.assert_array_equal(got[k], v)


def test_save_weights_for_any_state(tmp_path: Path) -> None:
    path = tmp_path / "w.safetensors"
    state = {"w": np.arange(3.0), "step": np.array(7, dtype=np.int64)}
    save_weights(state, path, epoch=3)
    got, meta = load_weights(path)
    assert meta == {"epoch": 3} and got["step"].item() == 7
    np.testing.assert_array_equal(got["w"], state["w"])


class _Residual(nn.Module):
    """A user's own layer: stores its constructor argument, so it describes itself."""

    def __init__(self, width: int) -> None:
        super().__init__()
        self.width = width
        self.fc = nn.Linear(width, width, rng=0)

    def forward(self, x):
        return x + self.fc(x).tanh()


def test_a_users_layer_saves_with_no_code_in_saving(tmp_path: Path) -> None:
    model = nn.Sequential(_Residual(3), nn.Linear(3, 1, rng=1))
    path = tmp_path / "r.safetensors"
    save(model, path)
    assert read_metadata(path)["architecture"]["layers"][0] == {"type": "_Residual",
                                                                "width": 3}
    X = np.random.default_rng(0).normal(size=(5, 3)).astype(np.float32)
    np.testing.assert_array_equal(load(path)(X).data, model(X).data)


def test_layers_that_cannot_describe_themselves_are_refused_with_a_hint(tmp_path: Path) -> None:
    class Net(nn.Module):
        def __init__(self, sizes):
            super().__init__()
            self.fc = nn.Linear(*sizes, rng=0)  # sizes not stored: no way to rebuild Net

    with pytest.raises(ModelFileError, match=r"Net.*get_config.*save_weights"):
        save(Net((2, 2)), tmp_path / "n.safetensors")


def test_atomic_write_keeps_the_old_file(tmp_path: Path, monkeypatch) -> None:
    path = tmp_path / "m.safetensors"
    save(_models()[0], path)
    before = path.read_bytes()

    def boom(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(OSError, match="disk full"):
        save(_models()[1], path)
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["m.safetensors"]  # no temporary file left behind


def test_model_checkpoint_saves_the_best(tmp_path: Path) -> None:
    X = np.random.default_rng(0).normal(size=(40, 2))
    y = (X[:, 0] > 0).astype(np.int64)
    model = nn.Sequential(nn.Linear(2, 2, rng=0))
    ckpt = ModelCheckpoint(tmp_path / "e{epoch}.safetensors", monitor="val_loss",
                           save_best_only=True, metadata={"who": "test"})
    hist = cr.fit(model, X, y, lr=0.05, epochs=4, validation_split=0.25, seed=0,
                  callbacks=[ckpt], verbose=0)
    best = int(np.argmin(hist["val_loss"])) + 1
    assert ckpt.saved[-1].endswith(f"e{best}.safetensors")
    _, meta = load_with_metadata(ckpt.saved[-1])
    assert meta["who"] == "test" and meta["checkpoint"]["epoch"] == best
    assert meta["checkpoint"]["val_loss"] == hist["val_loss"][best - 1]


# -- files that must be rejected ----------------------------------------------------------------
def _good(tmp_path: Path) -> tuple[Path, bytes, dict, int]:
    path = tmp_path / "m.safetensors"
    save(_models()[0], path)
    raw = path.read_bytes()
    (n,) = struct.unpack("<Q", raw[:8])
    return path, raw, json.loads(raw[8:8 + n]), n


def _rewrite(path: Path, header: dict, data: bytes) -> None:
    text = json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(text)) + text + data)


def test_truncated_and_garbage_files(tmp_path: Path) -> None:
    path, raw, _, n = _good(tmp_path)
    path.write_bytes(raw[:5])
    with pytest.raises(ModelFileError, match="too short"):
        load(path)
    path.write_bytes(raw[:-3])
    with pytest.raises(ModelFileError, match=r"bytes of data|outside"):
        load(path)
    path.write_bytes(struct.pack("<Q", 10**12) + raw[8:])
    with pytest.raises(ModelFileError, match="header claims"):
        load(path)
    path.write_bytes(raw[:8] + b"\xff" * n + raw[8 + n:])
    with pytest.raises(ModelFileError, match="not UTF-8"):
        load(path)
    path.write_bytes(raw[:8] + b"{" * n + raw[8 + n:])
    with pytest.raises(ModelFileError, match="not valid JSON"):
        load(path)
    with pytest.raises(ModelFileError, match="cannot read"):
        load(tmp_path / "absent.safetensors")


@pytest.mark.parametrize(("edit", "message"), [
    (lambda h: h["0.weight"].update(dtype="F128"), "unsupported dtype 'F128'"),
    (lambda h: h["0.weight"].update(data_offsets=[0, 10**9]), "outside"),
    (lambda h: h["0.weight"].update(shape=[2, 4]), r"shape \[2, 4\] but the architecture "
                                                   r"needs \[4, 2\]"),
    (lambda h: h["0.weight"].update(shape=[4, 3]), "needs 48 bytes"),
    (lambda h: h["0.bias"].update(data_offsets=[16, 32]), "overlaps"),
    (lambda h: h.pop("2.bias"), "bytes of data after|missing 2.bias"),
    (lambda h: h["__metadata__"].update(format="other"), "not a chainrule model"),
    (lambda h: h["__metadata__"].update(format_version="99"), "version 99 is not supported"),
    (lambda h: h["__metadata__"].update(architecture='{"type": "Sequential", "layers": '
                                        '[{"type": "os.system"}]}'), "unknown layer type"),
    (lambda h: h["__metadata__"].update(architecture='{"type": "Sequential", "layers": '
                                        '[{"type": "Linear", "in_features": 2, '
                                        '"out_features": -4}]}'), "out_features must be"),
    (lambda h: h["__metadata__"].update(architecture="[" * 5), "not valid JSON"),
    (lambda h: h.update(__metadata__={"format": 1}), "strings to strings"),
])
def test_tampered_headers_are_rejected(tmp_path: Path, edit, message: str) -> None:
    path, raw, header, n = _good(tmp_path)
    edit(header)
    _rewrite(path, header, raw[8 + n:])
    with pytest.raises(ModelFileError, match=message):
        load(path)


def test_write_safetensors_rejects_unsupported_values(tmp_path: Path) -> None:
    with pytest.raises(ModelFileError, match="dtype complex128"):
        write_safetensors(tmp_path / "x", {"z": np.zeros(2, complex)})
    with pytest.raises(ModelFileError, match="strings to strings"):
        write_safetensors(tmp_path / "x", {}, {"a": 1})  # type: ignore[dict-item]


# -- hostile files: crafted to crash or exhaust the reader -----------------------------------
_ARCH_2_4_1 = ('{"type": "Sequential", "layers": [{"type": "Linear", "in_features": 2, '
               '"out_features": 4}, {"type": "Tanh"}, {"type": "Linear", "in_features": 4, '
               '"out_features": 1}, {"type": "Sigmoid"}]}')


def _raw_header(path: Path, text: bytes, data: bytes = b"") -> Path:
    path.write_bytes(struct.pack("<Q", len(text)) + text + data)
    return path


@pytest.mark.parametrize(("text", "message"), [
    (b"[" * 100_000 + b"]" * 100_000, "header is nested too deeply"),
    (b'{"a":' * 100_000 + b"1" + b"}" * 100_000, "header is nested too deeply"),
    (b'{"x": ' + b"9" * 5000 + b"}", "header holds a value that cannot be read"),
    (b"[]", "must be a JSON object"),
    (b'"just a string"', "must be a JSON object"),
    (b'{"w": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}, "w": {}}', "'w' twice"),
    (b'{"w": {"dtype": "F32", "shape": [1]}}', "exactly dtype, shape and data_offsets"),
    (b'{"w": [1, 2, 3]}', "exactly dtype, shape and data_offsets"),
    (b'{"w": {"dtype": "F32", "shape": [-1], "data_offsets": [0, 4]}}', "non-negative"),
    (b'{"w": {"dtype": "F32", "shape": "4", "data_offsets": [0, 4]}}', "non-negative"),
    (b'{"w": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4.0]}}', "two integers"),
    (b'{"w": {"dtype": "F32", "shape": [1], "data_offsets": [4, 0]}}', "outside"),
    (b'{"w": {"dtype": ["F32"], "shape": [1], "data_offsets": [0, 4]}}', "unsupported dtype"),
    (b'{"w": {"dtype": "F32", "shape": [1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, '
     b'1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1], "data_offsets": [0, 4]}}', "non-negative"),
    (b'{"__metadata__": [["format", "chainrule"]]}', "strings to strings"),
    (b'{"__metadata__": {"format": {"nested": "map"}}}', "strings to strings"),
])
def test_hostile_headers_are_rejected(tmp_path: Path, text: bytes, message: str) -> None:
    path = _raw_header(tmp_path / "h.safetensors", text, b"\0" * 4)
    with pytest.raises(ModelFileError, match=message):
        read_safetensors(path)
    with pytest.raises(ModelFileError):
        load(path)


def test_huge_declared_sizes_allocate_nothing(tmp_path: Path) -> None:
    """Declared shapes, offsets and header lengths are checked against the file before any
    memory is taken for them."""
    import tracemalloc

    big = [10**12, 10**12]
    cases = {
        "shape": _raw_header(tmp_path / "a", json.dumps(
            {"w": {"dtype": "F64", "shape": big, "data_offsets": [0, 8]}}).encode(), b"\0" * 8),
        "offsets": _raw_header(tmp_path / "b", json.dumps(
            {"w": {"dtype": "U8", "shape": [10**15], "data_offsets": [0, 10**15]}}).encode(),
            b"\0" * 8),
        "count": _raw_header(tmp_path / "c", json.dumps(
            {"w": {"dtype": "F32", "shape": [10**30, 0], "data_offsets": [0, 4]}}).encode(),
            b"\0" * 4),
    }
    sparse = tmp_path / "d"  # claims a 150 MB header in a 200 MB file of holes
    with sparse.open("wb") as f:
        f.write(struct.pack("<Q", 150 * 2**20))
        f.truncate(200 * 2**20)
    cases["header"] = sparse
    tracemalloc.start()
    try:
        for path in cases.values():
            with pytest.raises(ModelFileError, match=r"needs \d+ bytes|outside|limit"):
                read_safetensors(path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 4 * 2**20, f"reading hostile files took {peak} bytes"


def _with_metadata(tmp_path: Path, **changes: str) -> Path:
    path, raw, header, n = _good(tmp_path)
    header["__metadata__"].update(changes)
    _rewrite(path, header, raw[8 + n:])
    return path


@pytest.mark.parametrize(("changes", "message"), [
    ({"architecture": "[" * 50_000 + "]" * 50_000}, "architecture is nested too deeply"),
    ({"architecture": "9" * 5000}, "architecture holds a value that cannot be read"),
    ({"preprocessing": "[" * 50_000 + "]" * 50_000}, "'preprocessing' is nested too deeply"),
    ({"architecture": '{"type": "Linear", "in_features": 2, "out_features": 4}'},
     "unexpected|top level must be a Sequential"),
    ({"architecture": _ARCH_2_4_1.replace('"Tanh"', '"Lambda", "code": "import os"')},
     "unknown layer type 'Lambda'"),
    ({"architecture": _ARCH_2_4_1.replace('"in_features": 4', '"in_features": 5')},
     r"0.weight|2.weight.*shape|needs \[1, 5\]|over the limit"),
    ({"architecture": _ARCH_2_4_1.replace('"in_features": 2', '"in_features": true')},
     "in_features must be an integer"),
    ({"architecture": _ARCH_2_4_1.replace('{"type": "Sigmoid"}', '{"type": "Sequential", '
                                          '"layers": [' * 20 + "]}" * 20)},
     "nested deeper than 16 levels"),
    ({"architecture": _ARCH_2_4_1.replace('{"type": "Sigmoid"}',
                                          '{"type": "Dropout", "p": NaN}')},
     r"p must be in \[0.0, 1.0\)"),
    ({"format_version": "9" * 5000}, "not an integer|cannot be read"),
])
def test_tampered_metadata_is_rejected(tmp_path: Path, changes: dict, message: str) -> None:
    path = _with_metadata(tmp_path, **changes)
    with pytest.raises(ModelFileError, match=message):
        load(path)


def test_read_metadata_of_a_file_with_odd_values(tmp_path: Path) -> None:
    """Metadata that is not JSON (another tool's plain strings, numbers too long to convert)
    comes back as the string; metadata nested too deeply for the parser is rejected."""
    path = _with_metadata(tmp_path, note="plain text", big="9" * 5000)
    meta = read_metadata(path)
    assert meta["note"] == "plain text" and meta["big"] == "9" * 5000
    path = _with_metadata(tmp_path, deep="[" * 50_000 + "]" * 50_000)
    with pytest.raises(ModelFileError, match="'deep' is nested too deeply"):
        read_metadata(path)


def test_weights_of_the_wrong_kind_are_rejected(tmp_path: Path) -> None:
    path, raw, header, n = _good(tmp_path)
    data = raw[8 + n:]
    header["0.weight"]["dtype"] = "I32"  # same size as F32: only the kind is wrong
    _rewrite(path, header, data)
    with pytest.raises(ModelFileError, match=r"'0\.weight' has dtype int32; model weights "
                                             r"must be floating point"):
        load(path)
    # a float64 bias beside a float32 weight: rewrite the bias's bytes as F64
    tensors, meta = read_safetensors(_good(tmp_path)[0])
    tensors["0.bias"] = tensors["0.bias"].astype(np.float64)
    write_safetensors(path, tensors, meta)
    with pytest.raises(ModelFileError, match=r"0\.bias is float64 but 0\.weight is float32"):
        load(path)


# -- the layer table: every layer saves with no code here -------------------------------------
DATA = Path(__file__).parent / "data"


def test_a_file_written_by_the_previous_format_code_still_loads() -> None:
    """Written at commit 68afc04 (before layers described themselves), with the output the
    model gave there for a fixed input."""
    model, meta = load_with_metadata(DATA / "written_at_68afc04.safetensors")
    assert meta["note"] == "old" and meta["class_names"] == ["a", "b", "c"]
    X = np.random.default_rng(0).normal(size=(7, 5))
    with cr.no_grad():
        np.testing.assert_array_equal(model.eval()(X).data,
                                      np.load(DATA / "written_at_68afc04_output.npy"))
    assert model[0][0].weight.data.dtype == np.float64
    assert model[2].weight.data.dtype == np.float32 and model[2].bias is None


class _Counter(nn.Module):
    """A layer with a buffer: how many batches it saw (saved, not trained)."""

    def __init__(self, width: int, dtype: str = "float32") -> None:
        super().__init__()
        self.width = width
        self.dtype = dtype
        self.register_buffer("seen", np.zeros(width, dtype=dtype))

    def forward(self, x):
        self.seen += 1
        return x + cr.tensor(self.seen)


def test_buffers_are_saved_and_loaded(tmp_path: Path) -> None:
    model = nn.Sequential(nn.Linear(2, 3, rng=0), _Counter(3))
    model(np.ones((1, 2), np.float32))
    model(np.ones((1, 2), np.float32))
    assert list(model.state_dict()) == ["0.weight", "0.bias", "1.seen"]
    save(model, tmp_path / "b.safetensors")
    loaded = load(tmp_path / "b.safetensors")
    np.testing.assert_array_equal(loaded[1].seen, [2, 2, 2])
    np.testing.assert_array_equal(loaded(np.ones((1, 2), np.float32)).data,
                                  model(np.ones((1, 2), np.float32)).data)


def _arch_file(tmp_path: Path, arch: dict, tensors: dict | None = None) -> Path:
    path = tmp_path / "a.safetensors"
    write_safetensors(path, tensors or {}, {"format": "chainrule", "format_version": "1",
                                            "architecture": json.dumps(arch)})
    return path


def _seq(*layers: dict) -> dict:
    return {"type": "Sequential", "layers": list(layers)}


_LIN = {"type": "Linear", "in_features": 2, "out_features": 3, "bias": True,
        "dtype": "float32"}
_W = {"0.weight": np.zeros((3, 2), np.float32), "0.bias": np.zeros(3, np.float32)}


@pytest.mark.parametrize(("arch", "message"), [
    (_seq(_LIN, {"type": "Softmax", "axis": 31}), r"Softmax\(axis=31\) cannot run on inputs "
                                                  r"with 2 dimensions"),
    (_seq(_LIN, {"type": "LogSoftmax", "axis": -3}), "cannot run on inputs with 2"),
    (_seq({**_LIN, "in_features": 10**30}), "in_features must be between 1 and"),
    (_seq({**_LIN, "out_features": 2.5}), "out_features must be an integer"),
    (_seq({**_LIN, "dtype": "int32"}), "floating-point"),
    (_seq({**_LIN, "dtype": "no such dtype"}), "not a NumPy dtype|data type"),
    (_seq(_LIN, {"type": "Tanh", "code": "import os"}), "unexpected keyword argument 'code'"),
    (_seq(_LIN, {"type": "LeakyReLU", "negative_slope": "0.1"}), "must be a number"),
    (_seq(_LIN, {"type": "Dropout", "p": 1.5}), r"p must be in \[0.0, 1.0\)"),
    (_seq(_LIN, {"type": "Module"}), "do not match|cannot"),
    (_seq(_LIN, {"type": "x" * 10_000}), r"unknown layer type 'xxxx.*\(10000 characters\)"),
    (_seq(_LIN, {"type": "\x1b[2Jevil"}), r"unknown layer type '\\x1b\[2Jevil'"),
    ({"type": "Sequential", "layers": {"0": _LIN}}, r"\{'layers': \[\.\.\.\]\}"),
])
def test_descriptions_that_can_never_run_are_refused_at_load(tmp_path: Path, arch,
                                                             message: str) -> None:
    with pytest.raises(ModelFileError, match=message) as info:
        load(_arch_file(tmp_path, arch, _W))
    assert len(str(info.value)) < 700 and "\x1b" not in str(info.value)


def test_layers_that_do_not_fit_together_are_refused_at_load(tmp_path: Path) -> None:
    second = {"type": "Linear", "in_features": 4, "out_features": 1}
    tensors = {**_W, "1.weight": np.zeros((1, 4), np.float32),
               "1.bias": np.zeros(1, np.float32)}
    with pytest.raises(ModelFileError, match=r"layer 1 \(Linear\): Linear\(4, 1\) needs 4 "
                                             r"features.*shape \(None, 3\)"):
        load(_arch_file(tmp_path, _seq(_LIN, second), tensors))


def test_a_description_asking_for_more_weights_than_the_file_holds_allocates_nothing(
        tmp_path: Path) -> None:
    import tracemalloc

    huge = _seq({**_LIN, "in_features": 100_000, "out_features": 100_000})  # 40 GB
    tracemalloc.start()
    try:
        with pytest.raises(ModelFileError, match="over the limit"):
            load(_arch_file(tmp_path, huge, _W))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 2**20


def test_many_unexpected_tensors_are_refused_before_any_array_is_built(tmp_path: Path) -> None:
    tensors = dict(_W)
    tensors.update({f"junk{i}\x07": np.zeros(0, np.float32) for i in range(20_000)})
    path = _arch_file(tmp_path, _seq(_LIN), tensors)
    with pytest.raises(ModelFileError, match=r"unexpected .*junk0\\x07.*\(20000 in all\)") as e:
        load(path)
    assert len(str(e.value)) < 700


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_weights_are_refused_naming_the_tensor(tmp_path: Path, bad: float) -> None:
    tensors = {k: v.copy() for k, v in _W.items()}
    tensors["0.bias"][1] = bad
    with pytest.raises(ModelFileError, match=r"'0\.bias' holds 1 non-finite value"):
        load(_arch_file(tmp_path, _seq(_LIN), tensors))


def test_load_refuses_a_path_that_is_not_a_path() -> None:
    with pytest.raises(ModelFileError, match="path must be a str"):
        load(123)  # type: ignore[arg-type]


def test_layer_table_lists_names_on_a_typo() -> None:
    with pytest.raises(cr.ConfigError, match=r"unknown layer type 'Lineer'; known: .*Linear"):
        nn.registry.get("Lineer")


def test_model_save_is_a_deprecated_alias(tmp_path: Path) -> None:
    with pytest.warns(DeprecationWarning, match="chainrule.save"):
        _models()[0].save(tmp_path / "m.safetensors")
    assert load(tmp_path / "m.safetensors")[0].in_features == 2


def test_an_unknown_layer_option_from_the_file_is_quoted_escaped(tmp_path: Path) -> None:
    # The option name comes from the file: a terminal control sequence in it must reach the
    # message escaped, not raw (it could clear or retitle the user's terminal).
    path = tmp_path / "m.safetensors"
    save(nn.Sequential(nn.Linear(2, 4, rng=0)), path)
    raw = path.read_bytes()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + n])
    arch = json.loads(header["__metadata__"]["architecture"])
    arch["layers"][0]["\x1b[2Jbad"] = 1
    header["__metadata__"]["architecture"] = json.dumps(arch)
    _rewrite(path, header, raw[8 + n:])
    with pytest.raises(ModelFileError) as info:
        load(path)
    assert "\x1b" not in str(info.value) and "\\x1b[2Jbad" in str(info.value)
