"""chainrule model files: a safetensors file whose metadata says what network it holds.

The metadata entries are JSON strings: ``format`` ("chainrule"), ``format_version``,
``chainrule_version``, ``architecture`` (the network's description: ``{"type": name,
**config}`` per layer, containers holding their layers), and whatever the caller stored
(preprocessing, label names, training configuration...).  Nothing from the file is ever
unpickled or evaluated.

This module reads and writes that envelope; it knows nothing of layers.  Rebuilding the
network from the description is :mod:`chainrule.tools.saving`'s job.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import ModelFileError
from .safetensors import Header, open_safetensors, parse_json, read_header, write_safetensors
from .text import printable

__all__ = ["FORMAT", "FORMAT_VERSION", "MAX_DEPTH", "MAX_LAYERS", "RESERVED", "ModelHeader",
           "check_extent", "decode_metadata", "encode_metadata", "open_model_file",
           "read_model_header", "write_model_file"]

FORMAT = "chainrule"
FORMAT_VERSION = 1
RESERVED = ("format", "format_version", "architecture", "chainrule_version")
MAX_DEPTH = 16
MAX_LAYERS = 10_000


@dataclass(frozen=True)
class ModelHeader:
    """A model file's checked header: the architecture and the decoded metadata."""

    header: Header
    architecture: dict[str, Any]
    metadata: dict[str, Any]


def encode_metadata(value: Any, key: str) -> str:
    """``value`` as JSON text (arrays become lists, objects with ``to_dict`` go through it)."""
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
        raise ModelFileError(f"save: metadata {printable(key)} cannot be stored as JSON: "
                             f"{err}") from None


def decode_metadata(meta: Mapping[str, str], name: str) -> dict[str, Any]:
    """Each metadata value decoded from JSON; a value that is not JSON stays a string."""
    out: dict[str, Any] = {}
    for k, v in meta.items():
        try:
            out[k] = json.loads(v)
        except RecursionError:
            raise ModelFileError(f"{name}: metadata {printable(k)} is nested too "
                                 "deeply") from None
        except ValueError:  # not JSON (JSONDecodeError) or an unreadable number
            out[k] = v  # a plain string written by another tool
    return out


def write_model_file(path: str | os.PathLike[str], architecture: dict[str, Any],
                     tensors: Mapping[str, np.ndarray], metadata: Mapping[str, Any],
                     chainrule_version: str) -> None:
    """Write a model file atomically; ``metadata`` values are stored as JSON."""
    clash = sorted(set(metadata) & set(RESERVED))
    if clash:
        raise ModelFileError(f"save: metadata keys {', '.join(clash)} are reserved")
    entries = {"format": FORMAT, "format_version": str(FORMAT_VERSION),
               "chainrule_version": chainrule_version,
               "architecture": json.dumps(architecture, separators=(",", ":"))}
    for k, v in metadata.items():
        entries[k] = encode_metadata(v, k)
    write_safetensors(path, tensors, entries)


def read_model_header(path: str | os.PathLike[str]) -> ModelHeader:
    """Read and check a model file's header (format, version, architecture); no weights."""
    return _check_model_header(read_header(path))


@contextlib.contextmanager
def open_model_file(path: str | os.PathLike[str]) -> Iterator[ModelHeader]:
    """:func:`read_model_header` with the file held open until the block ends, so that
    :func:`~chainrule.io.read_tensors` on its header reads the same version of the file even
    while another process replaces it (see :func:`~chainrule.io.open_safetensors`)."""
    with open_safetensors(path) as header:
        yield _check_model_header(header)


def _check_model_header(header: Header) -> ModelHeader:
    name, meta = header.path, header.metadata
    if meta.get("format") != FORMAT:
        raise ModelFileError(f"{name}: a safetensors file, but not a chainrule model (no "
                             "'format: chainrule' metadata); use read_safetensors for raw "
                             "tensors")
    version_text = meta.get("format_version", "")
    try:
        version = int(version_text) if len(version_text) < 20 else None
    except ValueError:
        version = None
    if version is None:
        raise ModelFileError(f"{name}: format_version {printable(version_text)} is not an "
                             "integer")
    if not 1 <= version <= FORMAT_VERSION:
        raise ModelFileError(f"{name}: format version {version} is not supported by this "
                             f"chainrule (it reads versions 1 to {FORMAT_VERSION}); upgrade "
                             "chainrule")
    arch = parse_json(meta.get("architecture", ""), name, "the architecture")
    if not isinstance(arch, dict):
        raise ModelFileError(f"{name}: the architecture must be a JSON object describing a "
                             f"layer, got {printable(arch, 80)}")
    check_extent(arch, name)
    return ModelHeader(header, arch, decode_metadata(meta, name))


def check_extent(arch: Any, name: str) -> None:
    """Refuse a description of more than MAX_LAYERS layers or nested over MAX_DEPTH deep (a
    layer is an object with a "type"); walked without recursion, so a deep file cannot
    exhaust the stack."""
    stack: list[tuple[Any, int, str]] = [(arch, 0, "root")]
    layers = 0
    while stack:
        obj, depth, where = stack.pop()
        if isinstance(obj, dict):
            if "type" in obj:
                depth += 1
                layers += 1
                if depth > MAX_DEPTH:
                    raise ModelFileError(f"{name}: architecture {where}: nested deeper than "
                                         f"{MAX_DEPTH} levels")
                if layers > MAX_LAYERS:
                    raise ModelFileError(f"{name}: architecture: more than {MAX_LAYERS} "
                                         "layers")
            stack.extend((v, depth, where) for v in obj.values())
        elif isinstance(obj, list):
            stack.extend((v, depth, f"{where}.{i}" if where != "root" else str(i))
                         for i, v in enumerate(obj))
