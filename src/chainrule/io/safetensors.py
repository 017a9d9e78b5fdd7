"""The `safetensors <https://huggingface.co/docs/safetensors>`_ container, with NumPy alone.

- 8 bytes: the header length N, an unsigned little-endian 64-bit integer;
- N bytes: a UTF-8 JSON object mapping each tensor name to ``{"dtype": "F32", "shape":
  [4, 2], "data_offsets": [begin, end]}`` (offsets into the data that follows), plus
  ``"__metadata__"``: a string-to-string map;
- the tensors' raw little-endian bytes, back to back.

Reading is in two steps so that a caller can check the names and shapes against what it
expects before any array is built: :func:`read_header` checks the whole header against the
file (offsets inside the data, sizes matching shapes, no gaps or overlaps) and keeps one small
:class:`TensorInfo` per tensor; :func:`read_tensors` then reads the arrays asked for.  Memory
stays a small multiple of the file size and time is linear in it, whatever the file claims.

>>> import os, tempfile, numpy as np
>>> path = os.path.join(tempfile.mkdtemp(), "t.safetensors")
>>> write_safetensors(path, {"w": np.arange(3.0)}, {"note": "hi"})
>>> header = read_header(path)
>>> header.tensors["w"].shape, header.metadata
((3,), {'note': 'hi'})
>>> read_tensors(header)["w"]
array([0., 1., 2.])
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import math
import os
import struct
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, BinaryIO, NamedTuple

import numpy as np

from ..errors import ModelFileError
from .atomic import atomic_write, check_file_name
from .text import printable

__all__ = ["DTYPES", "MAX_HEADER_BYTES", "Header", "TensorInfo", "open_safetensors",
           "read_header", "read_safetensors", "read_tensors", "write_safetensors"]

MAX_HEADER_BYTES = 100 * 1024 * 1024  # the safetensors library's own limit
MAX_RANK = 32
MAX_DIM = 2**40  # each dimension, and the product of the non-zero ones, stay below this

DTYPES: dict[str, np.dtype] = {
    "F16": np.dtype("<f2"), "F32": np.dtype("<f4"), "F64": np.dtype("<f8"),
    "I8": np.dtype("i1"), "I16": np.dtype("<i2"), "I32": np.dtype("<i4"),
    "I64": np.dtype("<i8"), "U8": np.dtype("u1"), "U16": np.dtype("<u2"),
    "U32": np.dtype("<u4"), "U64": np.dtype("<u8"), "BOOL": np.dtype("?"),
}
_CODES = {dt.newbyteorder("=").str: code for code, dt in DTYPES.items()}
_ENTRY_KEYS = frozenset(("dtype", "shape", "data_offsets"))
_INTERNED = {code: code for code in DTYPES}  # one string object per dtype code, not per entry


class TensorInfo(NamedTuple):
    """Where one tensor lies in the file: dtype, shape and byte range in the data."""

    dtype: np.dtype
    shape: tuple[int, ...]
    begin: int
    end: int

    @property
    def size(self) -> int:
        return math.prod(self.shape)


@dataclass(frozen=True)
class Header:
    """A checked header: the tensors' places and the string metadata of one file."""

    path: str
    tensors: dict[str, TensorInfo]
    metadata: dict[str, str]
    data_start: int
    file_size: int
    identity: tuple[int, ...] = ()  # device, inode, size, modification time when read
    # the file it was read from, open while open_safetensors' block runs
    file: BinaryIO | None = field(default=None, compare=False, repr=False)


# -- writing ----------------------------------------------------------------------------------
def write_safetensors(path: str | os.PathLike[str], tensors: Mapping[str, Any],
                      metadata: Mapping[str, str] | None = None) -> None:
    """Write arrays (and string metadata) as a safetensors file, atomically."""
    header: dict[str, Any] = {}
    if metadata:
        for k, v in metadata.items():
            if not isinstance(k, str) or not isinstance(v, str):
                raise ModelFileError(f"safetensors metadata must map strings to strings; "
                                     f"entry {printable(k)} is {type(v).__name__}")
        header["__metadata__"] = dict(metadata)
    blobs: list[bytes] = []
    offset = 0
    for name, value in tensors.items():
        if not isinstance(name, str) or name == "__metadata__":
            raise ModelFileError(f"invalid tensor name {printable(name)}")
        a = np.asarray(value)
        code = _CODES.get(a.dtype.newbyteorder("=").str)
        if code is None:
            raise ModelFileError(f"cannot store tensor {printable(name)} of dtype {a.dtype}; "
                                 f"supported: {', '.join(DTYPES)}")
        raw = np.ascontiguousarray(a, dtype=DTYPES[code]).tobytes()
        header[name] = {"dtype": code, "shape": list(a.shape),
                        "data_offsets": [offset, offset + len(raw)]}
        blobs.append(raw)
        offset += len(raw)
    text = json.dumps(header, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    text += b" " * (-len(text) % 8)  # pad so the data starts 8-byte aligned
    atomic_write(path, [struct.pack("<Q", len(text)), text, *blobs])


# -- reading ------------------------------------------------------------------------------------
class _Entry(tuple):
    """A tensor entry as the JSON parser met it, before it is checked."""


def _pairs(pairs: list[tuple[str, Any]]) -> Any:
    """The JSON object hook: refuses duplicate names, and keeps a tensor entry as a 3-tuple
    of tuples instead of a dict of lists (a third of the memory on headers with many
    tensors)."""
    out = dict(pairs)
    if len(out) != len(pairs):
        seen: set[str] = set()
        for k, _ in pairs:
            if k in seen:
                raise ModelFileError(f"the header names {printable(k)} twice")
            seen.add(k)
    if len(out) == 3 and out.keys() == _ENTRY_KEYS:
        code, shape, offsets = out["dtype"], out["shape"], out["data_offsets"]
        if type(code) is str:
            code = _INTERNED.get(code, code)
        return _Entry((code, tuple(shape) if type(shape) is list else shape,
                       tuple(offsets) if type(offsets) is list else offsets))
    return out


def parse_json(text: str | bytes, name: str, what: str, **kwargs: Any) -> Any:
    """``json.loads`` that answers every failure with a ModelFileError: invalid JSON, nesting
    too deep for the parser (RecursionError), integers too long to convert (ValueError)."""
    try:
        return json.loads(text, **kwargs)
    except json.JSONDecodeError as err:
        raise ModelFileError(f"{name}: {what} is not valid JSON ({err.msg} at byte "
                             f"{err.pos})") from None
    except RecursionError:
        raise ModelFileError(f"{name}: {what} is nested too deeply") from None
    except ModelFileError as err:
        raise ModelFileError(f"{name}: {err}") from None
    except ValueError as err:  # e.g. an integer with more than 4300 digits
        raise ModelFileError(f"{name}: {what} holds a value that cannot be read: "
                             f"{str(err)[:120]}") from None


def read_header(path: str | os.PathLike[str]) -> Header:
    """Read and check the header of a safetensors file; no tensor data is read.

    :func:`read_tensors` may read the arrays later; to read both from one version of a file
    that another process may replace meanwhile, use :func:`open_safetensors`.
    """
    name = check_file_name(path, "read", ModelFileError)
    try:
        with open(name, "rb") as f:
            return dataclasses.replace(_read_header(f, name), file=None)
    except OSError as err:
        raise _unreadable(name, err) from None


@contextlib.contextmanager
def open_safetensors(path: str | os.PathLike[str]) -> Iterator[Header]:
    """The checked header of a safetensors file, with the file held open until the block ends:
    :func:`read_tensors` inside the block reads through the same open file, so a writer that
    replaces the file meanwhile (``os.replace``, as every chainrule write does) is not seen,
    and the header and the arrays always come from one version of it.

    >>> import os, tempfile, numpy as np
    >>> path = os.path.join(tempfile.mkdtemp(), "t.safetensors")
    >>> write_safetensors(path, {"w": np.arange(2.0)})
    >>> with open_safetensors(path) as header:
    ...     read_tensors(header)["w"]
    array([0., 1.])
    """
    name = check_file_name(path, "read", ModelFileError)
    try:
        f = open(name, "rb")  # noqa: SIM115 - held open for the caller's block
    except OSError as err:
        raise _unreadable(name, err) from None
    with f:
        try:
            header = _read_header(f, name)
        except OSError as err:
            raise _unreadable(name, err) from None
        yield header


def _unreadable(name: str, err: OSError) -> ModelFileError:
    """The error for a file that cannot be opened or read; a folder (a training run's output
    folder, say) is named as one, with the model file inside it when there is one."""
    if isinstance(err, IsADirectoryError) or os.path.isdir(name):
        inside = os.path.join(name, "model.safetensors")
        hint = f"; the model file inside it is {inside}" if os.path.isfile(inside) else \
            "; give the path of a file"
        return ModelFileError(f"cannot read {name}: it is a folder, not a file{hint}")
    return ModelFileError(f"cannot read {name}: {err.strerror or err}")


def _identity(st: os.stat_result) -> tuple[int, ...]:
    """What tells one version of a file from another: a replacement is another inode, an
    edit in place another size or modification time."""
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)


def _read_header(f: BinaryIO, name: str) -> Header:
    st = os.fstat(f.fileno())
    size = st.st_size
    if size < 8:
        raise ModelFileError(f"{name}: {size} bytes is too short for a safetensors "
                             "file (truncated?)")
    (n,) = struct.unpack("<Q", f.read(8))
    if n > size - 8:
        raise ModelFileError(f"{name}: the header claims {n} bytes but the file has "
                             f"only {size - 8} after the length field (truncated or "
                             "not a safetensors file)")
    if n > MAX_HEADER_BYTES:
        raise ModelFileError(f"{name}: header of {n} bytes is larger than the "
                             f"{MAX_HEADER_BYTES}-byte limit")
    raw = f.read(n)
    if len(raw) != n:
        raise ModelFileError(f"{name}: the file was cut short while it was read (another "
                             "program is writing it in place)")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ModelFileError(f"{name}: the header is not UTF-8 text (not a safetensors "
                             "file?)") from None
    del raw
    header = parse_json(text, name, "the header", object_pairs_hook=_pairs)
    del text
    if not isinstance(header, dict):
        raise ModelFileError(f"{name}: the header must be a JSON object")
    meta = header.pop("__metadata__", {})
    if not isinstance(meta, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in meta.items()):
        raise ModelFileError(f"{name}: __metadata__ must map strings to strings")
    tensors = _check_entries(header, name, size - 8 - n)
    return Header(name, tensors, meta, 8 + n, size, _identity(st), f)


def _check_entries(header: dict[str, Any], name: str, data_len: int) -> dict[str, TensorInfo]:
    entries: dict[str, TensorInfo] = {}
    for key in list(header):  # popped as checked: one copy of each entry at any time
        info = header.pop(key)
        if type(info) is _Entry:
            code, shape, offsets = info
            dt = DTYPES.get(code) if type(code) is str else None
            if (dt is not None and type(shape) is tuple and len(shape) <= MAX_RANK
                    and all(type(d) is int and 0 <= d < MAX_DIM for d in shape)
                    and type(offsets) is tuple and len(offsets) == 2
                    and type(offsets[0]) is int and type(offsets[1]) is int):
                begin, end = offsets
                if (0 <= begin <= end <= data_len
                        and end - begin == math.prod(shape) * dt.itemsize
                        and math.prod(d for d in shape if d) < MAX_DIM):
                    entries[key] = TensorInfo(dt, shape, begin, end)
                    continue
        _refuse_entry(key, info, name, data_len)  # says what is wrong with it
    _check_layout(entries, name, data_len)
    return entries


def _refuse_entry(key: str, info: Any, name: str, data_len: int) -> None:
    where = f"{name}: tensor {printable(key)}"
    if not isinstance(info, _Entry):
        raise ModelFileError(f"{where}: entry must have exactly dtype, shape and data_offsets")
    code, shape, offsets = info
    if not isinstance(code, str) or code not in DTYPES:
        raise ModelFileError(f"{where}: unsupported dtype {printable(code, 40)}; supported: "
                             f"{', '.join(DTYPES)}")
    if not (isinstance(shape, tuple) and len(shape) <= MAX_RANK and all(
            type(d) is int and 0 <= d < MAX_DIM for d in shape)):
        raise ModelFileError(f"{where}: shape must be a list of at most {MAX_RANK} "
                             "non-negative integers, each within the limit of 2**40, got "
                             f"{printable(_as_json(shape))}")
    if not (isinstance(offsets, tuple) and len(offsets) == 2 and all(
            type(o) is int for o in offsets)):
        raise ModelFileError(f"{where}: data_offsets must be two integers, got "
                             f"{printable(_as_json(offsets))}")
    begin, end = offsets
    if not 0 <= begin <= end <= data_len:
        raise ModelFileError(f"{where}: data_offsets [{begin}, {end}] point outside the "
                             f"{data_len} bytes of tensor data")
    if math.prod(d for d in shape if d) >= MAX_DIM:
        raise ModelFileError(f"{where}: shape {printable(list(shape))} is over the limit of 2**40 "
                             "values")
    needed = math.prod(shape) * DTYPES[code].itemsize
    raise ModelFileError(f"{where}: shape {list(shape)} of {code} needs {needed} bytes but "
                         f"data_offsets give {end - begin}")


def _as_json(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value


def _check_layout(entries: dict[str, TensorInfo], name: str, data_len: int) -> None:
    """The tensors tile the data exactly: no gap, no overlap, nothing after the last."""
    position = 0
    for key, info in sorted(entries.items(), key=lambda kv: (kv[1].begin, kv[1].end)):
        if info.begin != position:
            kind = "overlaps another tensor" if info.begin < position else "leaves a gap"
            raise ModelFileError(f"{name}: tensor {printable(key)} {kind} (starts at byte "
                                 f"{info.begin}, expected {position})")
        position = info.end
    if position != data_len:
        raise ModelFileError(f"{name}: {data_len - position} bytes of data after the last "
                             "tensor (corrupted or tampered file)")


def read_tensors(header: Header, names: Iterable[str] | None = None) -> dict[str, np.ndarray]:
    """The arrays ``names`` (default: all) of a file whose header :func:`read_header` read.

    Each array is a fresh native-byte-order copy, shaped as the header says.  Inside
    :func:`open_safetensors` the arrays come from the file the header was read from; otherwise
    the file is opened again, and ModelFileError says so if it is another file by then.
    """
    wanted = list(header.tensors) if names is None else list(names)
    held = header.file
    try:
        if held is not None and not held.closed:
            out = _read_arrays(held, header, wanted)
        else:
            with open(header.path, "rb") as f:
                if _identity(os.fstat(f.fileno())) != header.identity:
                    raise ModelFileError(f"{header.path}: the file was replaced or changed "
                                         "after its header was read; read it again (read_"
                                         "safetensors and open_safetensors read both at "
                                         "once)")
                out = _read_arrays(f, header, wanted)
    except OSError as err:
        raise ModelFileError(f"cannot read {header.path}: {err.strerror or err}") from None
    return {k: out[k] for k in wanted}


def _read_arrays(f: BinaryIO, header: Header, wanted: list[str]) -> dict[str, np.ndarray]:
    out: dict[str, np.ndarray] = {}
    for key in sorted(wanted, key=lambda k: header.tensors[k].begin):
        info = header.tensors[key]
        f.seek(header.data_start + info.begin)
        raw = f.read(info.end - info.begin)
        if len(raw) != info.end - info.begin:  # cut short in place (a replacement is not)
            raise ModelFileError(f"{header.path}: the file was cut short while it was read "
                                 "(another program is writing it in place)")
        arr = np.frombuffer(raw, dtype=info.dtype)
        out[key] = arr.astype(info.dtype.newbyteorder("="), copy=True).reshape(info.shape)
    return out


def read_safetensors(path: str | os.PathLike[str]
                     ) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """Every tensor and the string metadata of a safetensors file, checked fully; both come
    from one version of the file even while another process replaces it."""
    with open_safetensors(path) as header:
        return read_tensors(header), dict(header.metadata)
