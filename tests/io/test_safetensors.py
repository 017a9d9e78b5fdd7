"""The container floor: bounded cost on hostile headers, atomic writes, safe messages."""

from __future__ import annotations

import errno
import json
import os
import struct
import tracemalloc
from pathlib import Path

import numpy as np
import pytest

from chainrule.errors import ModelFileError
from chainrule.io import (
    atomic_write,
    printable,
    read_header,
    read_safetensors,
    read_tensors,
    write_safetensors,
)


def _raw(path: Path, header: dict, data: bytes = b"") -> Path:
    text = json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(text)) + text + data)
    return path


def test_round_trip_of_every_dtype(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    tensors = {code: (rng.normal(size=(2, 3)) * 10).astype(dt)
               for code, dt in [("f2", np.float16), ("f4", np.float32), ("f8", np.float64),
                                ("i1", np.int8), ("i8", np.int64), ("u2", np.uint16),
                                ("b", np.bool_)]}
    tensors["empty"] = np.zeros((0, 4), np.float32)
    tensors["big_endian"] = np.arange(3, dtype=">f8")
    write_safetensors(tmp_path / "t", tensors, {"k": "v"})
    got, meta = read_safetensors(tmp_path / "t")
    assert meta == {"k": "v"} and list(got) == list(tensors)
    for k, v in tensors.items():
        np.testing.assert_array_equal(got[k], v)
        assert got[k].dtype == v.dtype.newbyteorder("=")


def test_read_tensors_reads_only_what_is_asked(tmp_path: Path) -> None:
    write_safetensors(tmp_path / "t", {"a": np.arange(4.0), "b": np.ones(2)})
    header = read_header(tmp_path / "t")
    assert list(read_tensors(header, ["b"])) == ["b"]


def test_many_zero_size_tensors_cost_a_small_multiple_of_the_file(tmp_path: Path) -> None:
    """The red-team case, scaled down: 50,000 empty tensors in a 3 MiB file.  Reading the
    header keeps one small record per tensor (no arrays), a few times the file's size."""
    header = {f"t{i}": {"dtype": "F32", "shape": [0, 10**9], "data_offsets": [0, 0]}
              for i in range(50_000)}
    path = _raw(tmp_path / "zeros", header)
    size = path.stat().st_size
    tracemalloc.start()
    try:
        read_header(path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 10 * size, f"{peak} bytes to read a {size}-byte header"


@pytest.mark.parametrize("shape", [[0, 10**30], [0, 2**40], [2**21, 2**21, 0, 2**20]])
def test_absurd_dimensions_are_refused_even_when_empty(tmp_path: Path, shape) -> None:
    path = _raw(tmp_path / "h", {"w": {"dtype": "F32", "shape": shape, "data_offsets": [0, 0]}})
    with pytest.raises(ModelFileError, match="limit of 2"):
        read_header(path)


def test_names_in_messages_are_escaped_and_capped(tmp_path: Path) -> None:
    evil = "\x1b]0;owned\x07\x1b[2J" + "x" * 1_000_000
    path = _raw(tmp_path / "h", {evil: {"dtype": "F99", "shape": [1], "data_offsets": [0, 4]}},
                b"\0" * 4)
    with pytest.raises(ModelFileError) as info:
        read_header(path)
    message = str(info.value)
    assert "\x1b" not in message and "\x07" not in message
    assert "\\x1b]0;owned\\x07" in message
    assert len(message) < 600


def test_printable_escapes_control_characters() -> None:
    assert printable("a\nb\x00") == "'a\\nb\\x00'"
    assert printable("é") == "'é'"  # printable letters stay
    assert len(printable("y" * 10_000)) < 250


def test_atomic_write_cleans_up_and_names_the_file_when_the_disk_is_full(
        tmp_path: Path, monkeypatch) -> None:
    target = tmp_path / "model.safetensors"
    target.write_bytes(b"old")
    real_fsync = os.fsync

    def full(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(OSError, match=r"disk full.*model\.safetensors") as info:
        atomic_write(target, [b"new"])
    assert info.value.errno == errno.ENOSPC and info.value.filename == str(target)
    monkeypatch.setattr(os, "fsync", real_fsync)
    assert target.read_bytes() == b"old" and os.listdir(tmp_path) == ["model.safetensors"]


def test_stale_temporary_files_of_dead_processes_are_removed(tmp_path: Path) -> None:
    target = tmp_path / "m.safetensors"
    dead = 2**22 + 12345  # above the default pid_max: no such process
    stale = tmp_path / f"m.safetensors.{dead}-abcd1234.tmp"
    stale.write_bytes(b"half a file")
    mine = tmp_path / f"m.safetensors.{os.getpid()}-00000000.tmp"  # a live writer's
    mine.write_bytes(b"in progress")
    other = tmp_path / "other.safetensors.1-00000000.tmp"  # another target's
    other.write_bytes(b"x")
    atomic_write(target, [b"data"])
    assert sorted(os.listdir(tmp_path)) == sorted(["m.safetensors", mine.name, other.name])
