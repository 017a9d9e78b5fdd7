"""Saving a model to one file, and loading it back without executing anything from the file.

The file is in the `safetensors <https://huggingface.co/docs/safetensors>`_ format, written
and read here with the standard library and NumPy:

- 8 bytes: the header length N, an unsigned little-endian 64-bit integer;
- N bytes: a UTF-8 JSON object mapping each tensor name to ``{"dtype": "F32", "shape":
  [4, 2], "data_offsets": [begin, end]}`` (offsets into the data that follows), plus
  ``"__metadata__"``: a string-to-string map;
- the tensors' raw little-endian bytes, back to back.

chainrule's metadata entries are JSON strings: ``format`` ("chainrule"), ``format_version``,
``architecture`` (a Sequential of known layer types), and whatever was passed to
:func:`save` as keywords (preprocessing, label names, training configuration...).  Loading
rebuilds the network from that description; it never unpickles or evaluates anything.

Everything read is checked before it is used: the header length against the file size, every
offset against the data, every dtype against the supported list, every shape against the
architecture.  A file that fails a check raises :class:`ModelFileError` saying what is wrong.

>>> import tempfile, os, numpy as np, chainrule as cr
>>> from chainrule import nn
>>> model = nn.Sequential(nn.Linear(2, 4, rng=0), nn.Tanh(), nn.Linear(4, 1, rng=1))
>>> path = os.path.join(tempfile.mkdtemp(), "model.safetensors")
>>> model.save(path, note="hello")
>>> loaded, meta = load_with_metadata(path)
>>> meta["note"], bool(np.array_equal(loaded[0].weight.data, model[0].weight.data))
('hello', True)
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import secrets
import struct
from collections.abc import Mapping
from typing import Any

import numpy as np

from .. import nn
from ..errors import ModelFileError

__all__ = [
    "FORMAT_VERSION",
    "ModelFileError",
    "architecture_of",
    "build_from_architecture",
    "load",
    "load_weights",
    "load_with_metadata",
    "read_metadata",
    "read_safetensors",
    "save",
    "save_weights",
    "write_safetensors",
]

FORMAT_VERSION = 1
MAX_HEADER_BYTES = 100 * 1024 * 1024  # the safetensors library's own limit
MAX_DEPTH = 16
MAX_LAYERS = 10_000
_RESERVED = ("format", "format_version", "architecture", "chainrule_version")

_DTYPES: dict[str, np.dtype] = {
    "F16": np.dtype("<f2"), "F32": np.dtype("<f4"), "F64": np.dtype("<f8"),
    "I8": np.dtype("i1"), "I16": np.dtype("<i2"), "I32": np.dtype("<i4"),
    "I64": np.dtype("<i8"), "U8": np.dtype("u1"), "U16": np.dtype("<u2"),
    "U32": np.dtype("<u4"), "U64": np.dtype("<u8"), "BOOL": np.dtype("?"),
}
_CODES = {dt.newbyteorder("=").str: code for code, dt in _DTYPES.items()}




# -- the safetensors container ------------------------------------------------------------------
def _code_of(a: np.ndarray, name: str) -> str:
    code = _CODES.get(a.dtype.newbyteorder("=").str)
    if code is None:
        raise ModelFileError(f"cannot store tensor {name!r} of dtype {a.dtype}; supported: "
                             f"{', '.join(_DTYPES)}")
    return code


def _atomic_write(path: str, chunks: list[bytes]) -> None:
    """Write to a new temporary file beside ``path``, then rename it over ``path``: readers
    see the old file or the complete new one, never half of one."""
    tmp = f"{path}.{os.getpid()}-{secrets.token_hex(4)}.tmp"
    try:
        with open(tmp, "xb") as f:
            for chunk in chunks:
                f.write(chunk)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def write_safetensors(path: str | os.PathLike[str], tensors: Mapping[str, Any],
                      metadata: Mapping[str, str] | None = None) -> None:
    """Write arrays (and string metadata) as a safetensors file, atomically."""
    header: dict[str, Any] = {}
    if metadata:
        for k, v in metadata.items():
            if not isinstance(k, str) or not isinstance(v, str):
                raise ModelFileError(f"safetensors metadata must map strings to strings; "
                                     f"entry {k!r} is {type(v).__name__}")
        header["__metadata__"] = dict(metadata)
    blobs: list[bytes] = []
    offset = 0
    for name, value in tensors.items():
        if not isinstance(name, str) or name == "__metadata__":
            raise ModelFileError(f"invalid tensor name {name!r}")
        a = np.asarray(value)
        code = _code_of(a, name)
        raw = np.ascontiguousarray(a, dtype=_DTYPES[code]).tobytes()
        header[name] = {"dtype": code, "shape": list(a.shape),
                        "data_offsets": [offset, offset + len(raw)]}
        blobs.append(raw)
        offset += len(raw)
    text = json.dumps(header, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    text += b" " * (-len(text) % 8)  # pad so the data starts 8-byte aligned
    _atomic_write(os.fspath(path), [struct.pack("<Q", len(text)), text, *blobs])


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in pairs:
        if k in out:
            raise ModelFileError(f"the header names {k!r} twice")
        out[k] = v
    return out


def _parse_json(text: str | bytes, name: str, what: str, **kwargs: Any) -> Any:
    """``json.loads`` that answers every failure with a ModelFileError: invalid JSON, nesting
    too deep for the parser (RecursionError), integers too long to convert (ValueError)."""
    try:
        return json.loads(text, **kwargs)
    except json.JSONDecodeError as err:
        raise ModelFileError(f"{name}: {what} is not valid JSON ({err.msg} at byte "
                             f"{err.pos})") from None
    except RecursionError:
        raise ModelFileError(f"{name}: {what} is nested too deeply") from None
    except ValueError as err:  # e.g. an integer with more than 4300 digits
        raise ModelFileError(f"{name}: {what} holds a value that cannot be read: "
                             f"{str(err)[:120]}") from None


def _read_header(f: Any, name: str, size: int) -> tuple[dict[str, Any], int]:
    if size < 8:
        raise ModelFileError(f"{name}: {size} bytes is too short for a safetensors file "
                             "(truncated?)")
    (n,) = struct.unpack("<Q", f.read(8))
    if n > size - 8:
        raise ModelFileError(f"{name}: the header claims {n} bytes but the file has only "
                             f"{size - 8} after the length field (truncated or not a "
                             "safetensors file)")
    if n > MAX_HEADER_BYTES:
        raise ModelFileError(f"{name}: header of {n} bytes is larger than the "
                             f"{MAX_HEADER_BYTES}-byte limit")
    try:
        text = f.read(n).decode("utf-8")
    except UnicodeDecodeError:
        raise ModelFileError(f"{name}: the header is not UTF-8 text (not a safetensors "
                             "file?)") from None
    header = _parse_json(text, name, "the header", object_pairs_hook=_no_duplicates)
    if not isinstance(header, dict):
        raise ModelFileError(f"{name}: the header must be a JSON object")
    return header, 8 + n


def _check_entries(header: dict[str, Any], name: str, data_len: int
                   ) -> dict[str, tuple[np.dtype, tuple[int, ...], int, int]]:
    entries = {}
    for key, info in header.items():
        if key == "__metadata__":
            continue
        where = f"{name}: tensor {key!r}"
        if not isinstance(info, dict) or set(info) != {"dtype", "shape", "data_offsets"}:
            raise ModelFileError(f"{where}: entry must have exactly dtype, shape and "
                                 "data_offsets")
        code, shape, offsets = info["dtype"], info["shape"], info["data_offsets"]
        if not isinstance(code, str) or code not in _DTYPES:
            raise ModelFileError(f"{where}: unsupported dtype {code!r:.40}; supported: "
                                 f"{', '.join(_DTYPES)}")
        if not (isinstance(shape, list) and all(
                type(d) is int and d >= 0 for d in shape)) or len(shape) > 32:
            raise ModelFileError(f"{where}: shape must be a list of non-negative integers, "
                                 f"got {shape!r}")
        if not (isinstance(offsets, list) and len(offsets) == 2 and all(
                type(o) is int for o in offsets)):
            raise ModelFileError(f"{where}: data_offsets must be two integers, got "
                                 f"{offsets!r}")
        begin, end = offsets
        if not 0 <= begin <= end <= data_len:
            raise ModelFileError(f"{where}: data_offsets [{begin}, {end}] point outside the "
                                 f"{data_len} bytes of tensor data")
        dt = _DTYPES[code]
        if end - begin != math.prod(shape) * dt.itemsize:
            raise ModelFileError(f"{where}: shape {shape} of {code} needs "
                                 f"{math.prod(shape) * dt.itemsize} bytes but data_offsets "
                                 f"give {end - begin}")
        entries[key] = (dt, tuple(shape), begin, end)
    position = 0
    for key, (_, _, begin, end) in sorted(entries.items(), key=lambda kv: kv[1][2:]):
        if begin != position:
            kind = "overlaps another tensor" if begin < position else "leaves a gap"
            raise ModelFileError(f"{name}: tensor {key!r} {kind} (starts at byte {begin}, "
                                 f"expected {position})")
        position = end
    if position != data_len:
        raise ModelFileError(f"{name}: {data_len - position} bytes of data after the last "
                             "tensor (corrupted or tampered file)")
    return entries


def _metadata_of(header: dict[str, Any], name: str) -> dict[str, str]:
    meta = header.get("__metadata__", {})
    if not isinstance(meta, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in meta.items()):
        raise ModelFileError(f"{name}: __metadata__ must map strings to strings")
    return dict(meta)


def read_safetensors(path: str | os.PathLike[str]
                     ) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """Read every tensor and the string metadata of a safetensors file, checking it fully."""
    name = os.fspath(path)
    try:
        with open(name, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            header, start = _read_header(f, name, size)
            meta = _metadata_of(header, name)
            entries = _check_entries(header, name, size - start)
            data = f.read(size - start)
    except OSError as err:
        raise ModelFileError(f"cannot read {name}: {err.strerror or err}") from None
    if len(data) != size - start:
        raise ModelFileError(f"{name}: the file changed while it was read")
    tensors = {}
    for key, (dt, shape, begin, end) in entries.items():
        arr = np.frombuffer(data, dtype=dt, count=(end - begin) // dt.itemsize, offset=begin)
        tensors[key] = arr.astype(dt.newbyteorder("="), copy=True).reshape(shape)
    return tensors, meta


def read_metadata(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The metadata of a chainrule model file (JSON values decoded), without the weights."""
    name = os.fspath(path)
    try:
        with open(name, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            header, start = _read_header(f, name, size)
    except OSError as err:
        raise ModelFileError(f"cannot read {name}: {err.strerror or err}") from None
    meta = _metadata_of(header, name)
    _check_entries(header, name, size - start)
    return _decode_metadata(meta, name)


# -- architecture ---------------------------------------------------------------------------------
_SIMPLE = {"Tanh": nn.Tanh, "Sigmoid": nn.Sigmoid, "ReLU": nn.ReLU, "Identity": nn.Identity}


def architecture_of(model: nn.Module) -> dict[str, Any]:
    """Describe a Sequential of known layers as JSON-ready data.

    Known layers: Linear, Sequential, Tanh, Sigmoid, ReLU, Identity, LeakyReLU, Softmax,
    LogSoftmax, Dropout.  Anything else raises :class:`ModelFileError` (save the weights with
    :func:`save_weights` instead).
    """
    kind = type(model)
    if kind is nn.Linear:
        return {"type": "Linear", "in_features": model.in_features,
                "out_features": model.out_features, "bias": model.bias is not None,
                "dtype": str(model.weight.data.dtype)}
    if kind is nn.Sequential:
        return {"type": "Sequential", "layers": [architecture_of(m) for m in model]}
    if kind in _SIMPLE.values():
        return {"type": kind.__name__}
    if kind is nn.LeakyReLU:
        return {"type": "LeakyReLU", "negative_slope": float(model.negative_slope)}
    if kind in (nn.Softmax, nn.LogSoftmax):
        return {"type": kind.__name__, "axis": int(model.axis)}
    if kind is nn.Dropout:
        return {"type": "Dropout", "p": float(model.p)}
    raise ModelFileError(
        f"cannot describe a {kind.__name__} for saving: save() handles Sequential models of "
        "Linear, Tanh, Sigmoid, ReLU, Identity, LeakyReLU, Softmax, LogSoftmax and Dropout; "
        "for other models use save_weights(model.state_dict(), path)")


def _int(spec: dict[str, Any], key: str, where: str, low: int = 1) -> int:
    v = spec.get(key)
    if type(v) is not int or v < low:
        raise ModelFileError(f"{where}: {key} must be an integer >= {low}, got {v!r}")
    return v


def _float(spec: dict[str, Any], key: str, where: str, lo: float, hi: float) -> float:
    v = spec.get(key)
    if type(v) not in (int, float) or not lo <= v <= hi:
        raise ModelFileError(f"{where}: {key} must be a number in [{lo}, {hi}], got {v!r}")
    return float(v)


def _expected(spec: Any, prefix: str, out: dict[str, tuple[int, ...]], depth: int,
              count: list[int]) -> None:
    """Check a description and collect the parameter shapes it implies (no allocation)."""
    where = f"architecture {prefix.rstrip('.') or 'root'}"
    if depth > MAX_DEPTH:
        raise ModelFileError(f"{where}: nested deeper than {MAX_DEPTH} levels")
    count[0] += 1
    if count[0] > MAX_LAYERS:
        raise ModelFileError(f"architecture: more than {MAX_LAYERS} layers")
    if not isinstance(spec, dict) or not isinstance(spec.get("type"), str):
        raise ModelFileError(f"{where}: each layer must be an object with a 'type'")
    kind = spec["type"]
    if kind == "Sequential":
        layers = spec.get("layers")
        if not isinstance(layers, list):
            raise ModelFileError(f"{where}: Sequential needs a list of layers")
        for i, sub in enumerate(layers):
            _expected(sub, f"{prefix}{i}.", out, depth + 1, count)
    elif kind == "Linear":
        n_in = _int(spec, "in_features", where)
        n_out = _int(spec, "out_features", where)
        out[prefix + "weight"] = (n_out, n_in)
        if spec.get("bias", True) is not False:
            out[prefix + "bias"] = (n_out,)
    elif kind in _SIMPLE or kind in ("LeakyReLU", "Softmax", "LogSoftmax", "Dropout"):
        pass
    else:
        raise ModelFileError(f"{where}: unknown layer type {kind!r}; known: Sequential, "
                             f"Linear, {', '.join(_SIMPLE)}, LeakyReLU, Softmax, LogSoftmax, "
                             "Dropout")


def _build(spec: dict[str, Any], dtypes: dict[str, np.dtype], prefix: str) -> nn.Module:
    kind = spec["type"]
    where = f"architecture {prefix.rstrip('.') or 'root'}"
    if kind == "Sequential":
        return nn.Sequential(*[_build(s, dtypes, f"{prefix}{i}.")
                               for i, s in enumerate(spec["layers"])])
    if kind == "Linear":
        return nn.Linear(spec["in_features"], spec["out_features"],
                         bias=spec.get("bias", True) is not False, init="zeros",
                         dtype=dtypes.get(prefix + "weight", np.float32))
    if kind in _SIMPLE:
        return _SIMPLE[kind]()
    if kind == "LeakyReLU":
        return nn.LeakyReLU(_float(spec, "negative_slope", where, -1e6, 1e6))
    if kind in ("Softmax", "LogSoftmax"):
        axis = spec.get("axis", -1)
        if type(axis) is not int or not -32 <= axis < 32:
            raise ModelFileError(f"{where}: axis must be a small integer, got {axis!r}")
        return (nn.Softmax if kind == "Softmax" else nn.LogSoftmax)(axis)
    return nn.Dropout(_float(spec, "p", where, 0.0, 0.999999))


def build_from_architecture(arch: Any, tensors: Mapping[str, np.ndarray] | None = None,
                            name: str = "architecture") -> nn.Module:
    """Rebuild a model from :func:`architecture_of`'s description and, if given, load
    ``tensors`` into it after checking every name, shape and dtype."""
    shapes: dict[str, tuple[int, ...]] = {}
    _expected(arch, "", shapes, 0, [0])
    dtypes: dict[str, np.dtype] = {}
    if tensors is not None:
        missing = sorted(set(shapes) - set(tensors))
        extra = sorted(set(tensors) - set(shapes))
        if missing or extra:
            raise ModelFileError(f"{name}: the weights do not match the architecture"
                                 + (f"; missing {', '.join(missing)}" if missing else "")
                                 + (f"; unexpected {', '.join(extra)}" if extra else ""))
        for key, shape in shapes.items():
            t = tensors[key]
            if t.shape != shape:
                raise ModelFileError(f"{name}: tensor {key!r} has shape {list(t.shape)} but "
                                     f"the architecture needs {list(shape)}")
            if t.dtype.kind != "f":
                raise ModelFileError(f"{name}: tensor {key!r} has dtype {t.dtype}; model "
                                     "weights must be floating point")
            dtypes[key] = t.dtype
        for key in shapes:
            if key.endswith(".bias") or key == "bias":
                w = key[: -len("bias")] + "weight"
                if dtypes[key] != dtypes[w]:
                    raise ModelFileError(f"{name}: {key} is {dtypes[key]} but {w} is "
                                         f"{dtypes[w]}")
    elif shapes and math.prod(max(shapes.values(), key=math.prod)) > 10**9:
        raise ModelFileError(f"{name}: a layer with over 10^9 weights is not plausible")
    if not isinstance(arch, dict) or arch.get("type") != "Sequential":
        raise ModelFileError(f"{name}: the top level must be a Sequential")
    _check_chain(arch, name)
    model = _build(arch, dtypes, "")
    if tensors is not None:
        model.load_state_dict({k: tensors[k] for k in shapes})
    return model


def _check_chain(arch: dict[str, Any], name: str) -> None:
    """Consecutive Linear layers must agree on their sizes (in a flat Sequential)."""
    previous = None
    for i, spec in enumerate(arch["layers"]):
        if spec.get("type") == "Linear":
            if previous is not None and spec["in_features"] != previous:
                raise ModelFileError(f"{name}: layer {i} (Linear) takes {spec['in_features']} "
                                     f"inputs but the previous Linear gives {previous}")
            previous = spec["out_features"]
        elif spec.get("type") == "Sequential":
            previous = None


# -- models ---------------------------------------------------------------------------------------
def _json(value: Any, key: str) -> str:
    def default(o: Any) -> Any:
        if isinstance(o, np.ndarray):
            return o.tolist()
        if isinstance(o, np.generic):
            return o.item()
        if hasattr(o, "to_dict"):
            return o.to_dict()
        raise TypeError(f"{type(o).__name__} is not JSON-serialisable")

    try:
        return json.dumps(value, default=default, allow_nan=True)
    except (TypeError, ValueError) as err:
        raise ModelFileError(f"save: metadata {key!r} cannot be stored as JSON: {err}") from None


def _decode_metadata(meta: dict[str, str], name: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in meta.items():
        try:
            out[k] = json.loads(v)
        except RecursionError:
            raise ModelFileError(f"{name}: metadata {k!r} is nested too deeply") from None
        except ValueError:  # not JSON (JSONDecodeError) or an unreadable number
            out[k] = v  # a plain string written by another tool
    return out


def save(model: nn.Module, path: str | os.PathLike[str], **metadata: Any) -> None:
    """Save ``model`` (architecture and weights) and ``metadata`` to one safetensors file.

    Keyword arguments are stored as JSON (arrays become lists; objects with ``to_dict``, such
    as :class:`chainrule.data.StandardScaler`, are stored through it), e.g.
    ``save(model, "m.safetensors", preprocessing={...}, training={...})``.  The write is
    atomic.  ``chainrule.load(path)`` gives the model back.
    """
    clash = sorted(set(metadata) & set(_RESERVED))
    if clash:
        raise ModelFileError(f"save: metadata keys {', '.join(clash)} are reserved")
    from .. import __version__

    arch = architecture_of(model)
    entries = {"format": "chainrule", "format_version": str(FORMAT_VERSION),
               "chainrule_version": __version__,
               "architecture": json.dumps(arch, separators=(",", ":"))}
    for k, v in metadata.items():
        entries[k] = _json(v, k)
    write_safetensors(path, model.state_dict(), entries)


def _check_format(meta: dict[str, str], name: str) -> None:
    if meta.get("format") != "chainrule":
        raise ModelFileError(f"{name}: a safetensors file, but not a chainrule model (no "
                             "'format: chainrule' metadata); use read_safetensors for raw "
                             "tensors")
    try:
        version = int(meta.get("format_version", ""))
    except ValueError:
        raise ModelFileError(f"{name}: format_version {meta.get('format_version')!r} is not "
                             "an integer") from None
    if version > FORMAT_VERSION or version < 1:
        raise ModelFileError(f"{name}: format version {version} is not supported by this "
                             f"chainrule (it reads versions 1 to {FORMAT_VERSION}); upgrade "
                             "chainrule")


def load_with_metadata(path: str | os.PathLike[str]) -> tuple[nn.Module, dict[str, Any]]:
    """The model saved at ``path`` and its metadata (JSON values decoded)."""
    name = os.fspath(path)
    tensors, meta = read_safetensors(name)
    _check_format(meta, name)
    arch = _parse_json(meta.get("architecture", ""), name, "the architecture")
    model = build_from_architecture(arch, tensors, name)
    return model, _decode_metadata(meta, name)


def load(path: str | os.PathLike[str]) -> nn.Module:
    """The model saved at ``path`` by :func:`save` or ``Module.save``, ready to predict."""
    return load_with_metadata(path)[0]


def save_weights(state: Mapping[str, Any], path: str | os.PathLike[str],
                 **metadata: Any) -> None:
    """Save a dict of arrays (a ``state_dict``) with JSON metadata, for any model."""
    write_safetensors(path, {k: np.asarray(getattr(v, "data", v)) for k, v in state.items()},
                      {k: _json(v, k) for k, v in metadata.items()})


def load_weights(path: str | os.PathLike[str]) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """The arrays and decoded metadata written by :func:`save_weights`."""
    tensors, meta = read_safetensors(path)
    return tensors, _decode_metadata(meta, os.fspath(path))
