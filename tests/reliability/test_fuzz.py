"""Fuzzing the two readers of untrusted bytes, the CSV loader and the model loader, with
Hypothesis: whatever the bytes, they load or raise chainrule's own error type
(:class:`~chainrule.engine.ChainruleError`), never UnicodeDecodeError, IndexError,
struct.error, RecursionError, MemoryError, a JSON error or a bare NumPy ValueError."""

from __future__ import annotations

import json
import struct
import tempfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chainrule import nn
from chainrule.data import load_csv
from chainrule.engine import ChainruleError
from chainrule.tools.saving import load_with_metadata, read_metadata, read_safetensors, save

FUZZ = settings(max_examples=150, deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture,
                                       HealthCheck.too_slow])


@pytest.fixture(scope="module")
def workdir() -> Iterator[Path]:
    with tempfile.TemporaryDirectory() as d:
        yield Path(d)


def _loads_or_refuses(fn, *args, **kwargs) -> bool:
    """True when ``fn`` loaded, False when it refused with a ChainruleError; anything else
    propagates and fails the test."""
    try:
        fn(*args, **kwargs)
    except ChainruleError:
        return False
    return True


# -- CSV ----------------------------------------------------------------------------------------
TOKENS = ["a", "b", "t", "1", "-2.5", "1e400", "-nan", "inf", "NA", "", " ", "x", "1_0",
          "0x1f", "\u00e9", "\ufeff", '"', '""', "\x00", "\t"]
SEPARATORS = [",", ",", ",", "\n", "\r\n", "\r", ";"]


@st.composite
def csv_like(draw: st.DrawFn) -> bytes:
    """Text that looks like CSV: a header of a, b, t then rows of tricky cells."""
    n_cols = draw(st.integers(1, 4))
    header = ",".join(draw(st.lists(st.sampled_from(["a", "b", "t", "a", ""]),
                                    min_size=n_cols, max_size=n_cols)))
    body = "".join(draw(st.lists(st.one_of(st.sampled_from(TOKENS), st.sampled_from(SEPARATORS)),
                                 max_size=40)))
    raw = (header + "\n" + body).encode("utf-8")
    if draw(st.booleans()):  # flip a few bytes: invalid UTF-8, stray NULs, binary junk
        buf = bytearray(raw)
        for pos, byte in draw(st.lists(st.tuples(st.integers(0, max(0, len(buf) - 1)),
                                                 st.integers(0, 255)), max_size=3)):
            if buf:
                buf[pos] = byte
        raw = bytes(buf)
    return raw


@FUZZ
@given(raw=st.one_of(st.binary(max_size=200), csv_like()),
       options=st.sampled_from([{"target": "t"}, {"target": None},
                                {"target": "t", "task": "regression"},
                                {"target": "t", "task": "classification"},
                                {"target": "t", "class_names": ["1", "x"]},
                                {"target": "t", "features": ["a"]}]))
def test_csv_reader_loads_or_raises_its_own_error(workdir: Path, raw: bytes,
                                                  options: dict) -> None:
    path = workdir / "fuzz.csv"
    path.write_bytes(raw)
    try:
        ds = load_csv(path, **options)
    except ChainruleError:
        return
    assert ds.X.ndim == 2 and ds.X.dtype == np.float64 and np.isfinite(ds.X).all()
    assert len(ds.X) >= 1 and (ds.y is None or len(ds.y) == len(ds.X))


# -- model files ----------------------------------------------------------------------------------
def _valid_file(workdir: Path) -> bytes:
    path = workdir / "valid.safetensors"
    model = nn.Sequential(nn.Linear(2, 3, rng=0), nn.Tanh(), nn.Linear(3, 1, rng=1),
                          nn.Sigmoid())
    save(model, path, preprocessing={"scaler": {"mean": [0, 0], "scale": [1, 1]}})
    return path.read_bytes()


def _check_model_bytes(workdir: Path, raw: bytes) -> None:
    path = workdir / "fuzz.safetensors"
    path.write_bytes(raw)
    _loads_or_refuses(read_safetensors, path)
    _loads_or_refuses(read_metadata, path)
    _loads_or_refuses(load_with_metadata, path)


@FUZZ
@given(raw=st.binary(max_size=300))
def test_model_loader_on_random_bytes(workdir: Path, raw: bytes) -> None:
    _check_model_bytes(workdir, raw)


@FUZZ
@given(data=st.data())
def test_model_loader_on_corrupted_valid_files(workdir: Path, data: st.DataObject) -> None:
    raw = bytearray(_valid_file(workdir))
    edits = data.draw(st.lists(st.tuples(st.integers(0, len(raw) - 1), st.integers(0, 255)),
                               min_size=1, max_size=4))
    for pos, byte in edits:
        raw[pos] = byte
    cut = data.draw(st.one_of(st.none(), st.integers(0, len(raw))))
    _check_model_bytes(workdir, bytes(raw if cut is None else raw[:cut]))


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-2**70, 2**70) | st.floats()
    | st.text(max_size=8) | st.sampled_from(["F32", "F64", "I32", "BOOL", "Linear",
                                              "Sequential", "Tanh", "chainrule", "1"]),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(
        st.sampled_from(["type", "layers", "in_features", "out_features", "dtype", "shape",
                         "data_offsets", "p", "axis", "bias"]), inner, max_size=4),
    max_leaves=12)


@FUZZ
@given(data=st.data())
def test_model_loader_on_tampered_headers(workdir: Path, data: st.DataObject) -> None:
    """Valid JSON, hostile values: replace one field of the header or of the architecture."""
    raw = _valid_file(workdir)
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + n])
    payload = raw[8 + n:]
    meta = header["__metadata__"]
    arch = json.loads(meta["architecture"])
    where = data.draw(st.sampled_from(["tensor", "metadata", "architecture", "layer"]))
    value = data.draw(JSON_VALUES)
    if where == "tensor":
        entry = header[data.draw(st.sampled_from(["0.weight", "0.bias", "2.weight"]))]
        entry[data.draw(st.sampled_from(["dtype", "shape", "data_offsets"]))] = value
    elif where == "metadata":
        meta[data.draw(st.sampled_from(["format", "format_version", "preprocessing"]))] = (
            value if data.draw(st.booleans()) else json.dumps(value))
    elif where == "architecture":
        meta["architecture"] = json.dumps(value)
    else:
        layer = arch["layers"][data.draw(st.integers(0, 3))]
        layer[data.draw(st.sampled_from(["type", "in_features", "out_features", "bias",
                                         "layers"]))] = value
        meta["architecture"] = json.dumps(arch)
    text = json.dumps(header).encode()
    _check_model_bytes(workdir, struct.pack("<Q", len(text)) + text + payload)
