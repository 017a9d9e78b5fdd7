"""Saving a model to one file, and loading it back without executing anything from the file.

The file is a safetensors file (:mod:`chainrule.io`) whose metadata holds the network's
description: each layer's ``{"type": name, **layer.get_config()}``.  Loading looks each name
up in the layer table (:mod:`chainrule.nn.registry`) and calls the class's ``from_config``;
no layer needs code here.

Everything read is checked before it is used, in an order that bounds the cost of a hostile
file: the header against the file size; the description's size; the network is built under
an allocation limit of the values the file holds; the file's tensor names, shapes and dtypes
against the network, before any array is read; then the arrays, which must be finite.  A
layer that can never run on the network's inputs (``Softmax(axis=31)`` after a dense layer)
is refused too.  Every failure raises :class:`ModelFileError` saying what is wrong, quoting
at most 200 characters of the file, with control characters escaped.

>>> import tempfile, os, numpy as np, chainrule as cr
>>> from chainrule import nn
>>> model = nn.Sequential(nn.Linear(2, 4, rng=0), nn.Tanh(), nn.Linear(4, 1, rng=1))
>>> path = os.path.join(tempfile.mkdtemp(), "model.safetensors")
>>> save(model, path, note="hello")
>>> loaded, meta = load_with_metadata(path)
>>> meta["note"], bool(np.array_equal(loaded[0].weight.data, model[0].weight.data))
('hello', True)
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import numpy as np

from .. import nn
from ..errors import ChainruleError, ConfigError, ModelFileError
from ..io import (
    FORMAT_VERSION,
    Header,
    check_extent,
    decode_metadata,
    encode_metadata,
    escape_controls,
    open_model_file,
    printable,
    read_header,
    read_safetensors,
    read_tensors,
    write_model_file,
    write_safetensors,
)
from ..version import __version__

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

_SHOWN = 10  # names listed in a mismatch message


def architecture_of(model: nn.Module) -> dict[str, Any]:
    """The network as JSON-ready data: ``{"type": name, **get_config()}``, nested.

    Raises :class:`ModelFileError` when a layer cannot describe itself (save its weights
    with :func:`save_weights` instead, or give the class ``get_config``/``from_config``).
    """
    try:
        return nn.registry.config_of(model)
    except ChainruleError as err:
        raise ModelFileError(f"cannot describe a {type(model).__name__} for saving: {err}; "
                             "for such models use save_weights(model.state_dict(), path)"
                             ) from None


def save(model: nn.Module, path: str | os.PathLike[str], **metadata: Any) -> None:
    """Save ``model`` (architecture, weights and buffers) and ``metadata`` to one file.

    Keyword arguments are stored as JSON (arrays become lists; objects with ``to_dict``, such
    as :class:`chainrule.data.StandardScaler`, are stored through it), e.g.
    ``save(model, "m.safetensors", preprocessing={...}, training={...})``.  The write is
    atomic.  :func:`load` gives the model back.

    Args:
        model: The network to save (any ``nn.Module`` whose layers are in the layer table).
        path: The file to write (``.safetensors``).
        **metadata: JSON-ready values stored beside the weights (preprocessing, class names).

    Raises:
        FileWriteError: The file cannot be written (missing folder, disk full, no permission).
    """
    if not isinstance(model, nn.Module):
        raise ConfigError(f"save: the first argument must be a model (a chainrule.nn.Module), "
                          f"got {type(model).__name__}; call save(model, path)")
    write_model_file(path, architecture_of(model), model.state_dict(), metadata, __version__)


nn.Module._saver = save  # the deprecated ``model.save`` delegates here


def read_metadata(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The metadata of a chainrule model file (JSON values decoded), without the weights."""
    header = read_header(path)
    return decode_metadata(header.metadata, header.path)


def load_with_metadata(path: str | os.PathLike[str]) -> tuple[nn.Module, dict[str, Any]]:
    """The model saved at ``path`` and its metadata (JSON values decoded)."""
    if not isinstance(path, (str, os.PathLike)):
        raise ModelFileError(f"load: path must be a str or os.PathLike, got "
                             f"{type(path).__name__}")
    with open_model_file(path) as model_header:  # header and weights from one version
        model = _build(model_header.architecture, model_header.header)
    return model, model_header.metadata


def load(path: str | os.PathLike[str]) -> nn.Module:
    """The model saved at ``path`` by :func:`save`, ready to predict.

    Args:
        path: A file written by :func:`save` (or by ``chainrule train``).

    Returns:
        The model with its weights and buffers (in training mode, as built: call ``eval()``
        before predicting with dropout or batch normalisation).

    Raises:
        ModelFileError: The file is malformed, truncated, of an unknown layer, or holds weights
            that do not fit the architecture.
    """
    return load_with_metadata(path)[0]


def build_from_architecture(arch: Any, tensors: Mapping[str, np.ndarray] | None = None,
                            name: str = "architecture") -> nn.Module:
    """Rebuild a model from :func:`architecture_of`'s description and, if given, load
    ``tensors`` into it after checking every name, shape and dtype (each layer takes the
    dtype of its tensors)."""
    if not isinstance(arch, dict):
        raise ModelFileError(f"{name}: the architecture must be an object describing a layer")
    check_extent(arch, name)
    if tensors is None:
        return _describe(arch, name, None)[0]
    arrays = {k: np.asarray(v) for k, v in tensors.items()}
    model, expected = _describe(arch, name, sum(a.size for a in arrays.values()))
    _match(expected, {k: (a.dtype, a.shape) for k, a in arrays.items()}, name)
    return _fill(model, arrays, name)


# -- building ---------------------------------------------------------------------------------
def _build(arch: dict[str, Any], header: Header) -> nn.Module:
    name = header.path
    budget = sum(info.size for info in header.tensors.values())
    model, expected = _describe(arch, name, budget)
    _match(expected, {k: (info.dtype, info.shape) for k, info in header.tensors.items()},
           name)
    return _fill(model, read_tensors(header, expected), name)


def _describe(arch: dict[str, Any], name: str, budget: int | None
              ) -> tuple[nn.Module, dict[str, tuple[int, ...]]]:
    """The network the description asks for (weights unset) and the shape of each of its
    tensors.  Allocation is limited to ``budget`` values: a file cannot ask for more weights
    than it holds."""
    try:
        if budget is None:
            model = nn.registry.from_config(arch)
        else:
            with nn.module.allocation_limit(budget):
                model = nn.registry.from_config(arch)
        model.output_shape(None)
    except ModelFileError:
        raise
    except (ChainruleError, TypeError, ValueError, OverflowError) as err:
        raise ModelFileError(f"{name}: the architecture cannot be built: "
                             f"{_cap(str(err))}") from None
    expected = {k: p.data.shape for k, p in model.named_parameters()}
    expected.update((k, b.shape) for k, b in model.named_buffers())
    return model, expected


def _match(expected: dict[str, tuple[int, ...]],
           found: Mapping[str, tuple[np.dtype, tuple[int, ...]]], name: str) -> None:
    """The file's tensors are exactly the network's, with the same shapes, floating point."""
    missing = [k for k in expected if k not in found]
    extra = [k for k in found if k not in expected]
    if missing or extra:
        raise ModelFileError(f"{name}: the weights do not match the architecture"
                             + (f"; missing {_list(missing)}" if missing else "")
                             + (f"; unexpected {_list(extra)}" if extra else ""))
    for key, shape in expected.items():
        dtype, got = found[key]
        if tuple(got) != shape:
            raise ModelFileError(f"{name}: tensor {printable(key)} has shape {list(got)} but "
                                 f"the architecture needs {list(shape)}")
        if np.dtype(dtype).kind != "f":
            raise ModelFileError(f"{name}: tensor {printable(key)} has dtype "
                                 f"{np.dtype(dtype).newbyteorder('=')}; model weights must be "
                                 "floating point")


def _fill(model: nn.Module, arrays: Mapping[str, np.ndarray], name: str) -> nn.Module:
    """Copy checked arrays into ``model``; each layer takes its tensors' one dtype."""
    for key, a in arrays.items():
        if not np.isfinite(a).all():
            bad = int(np.size(a) - np.isfinite(a).sum())
            raise ModelFileError(f"{name}: tensor {printable(key)} holds {bad} non-finite "
                                 "values (NaN or infinity); the model cannot predict from it")
    refused = nn.normalization.invalid_buffer(model, arrays)  # each layer's own rule
    if refused is not None:
        key, why = refused
        raise ModelFileError(f"{name}: buffer {printable(key)} {why}; the file was edited or "
                             "damaged, and the model would predict NaN from it")
    for prefix, module in model.named_modules():
        own = [k for k, _ in module.named_parameters(recurse=False)]
        own += [k for k, _ in module.named_buffers(recurse=False)]
        keys = [f"{prefix}.{k}" if prefix else k for k in own]
        dtypes = {arrays[k].dtype for k in keys if arrays[k].dtype.kind == "f"}
        if len(dtypes) > 1:
            first = arrays[keys[0]].dtype
            odd = next(k for k in keys if arrays[k].dtype != first)
            raise ModelFileError(f"{name}: {_list([odd])} is {arrays[odd].dtype} but "
                                 f"{_list([keys[0]])} is {first}")
        if dtypes:
            module.to(dtypes.pop(), recurse=False)
    model.load_state_dict(dict(arrays))
    return model


def _list(names: list[str]) -> str:
    shown = ", ".join(printable(k)[1:-1] if k.isprintable() else printable(k)
                      for k in names[:_SHOWN])
    return shown + (f" ... ({len(names)} in all)" if len(names) > _SHOWN else "")


def _cap(text: str, limit: int = 300) -> str:
    """An error's text for a message: control characters escaped (it may quote a name read
    from the file), at most ``limit`` characters."""
    text = escape_controls(text)
    return text if len(text) <= limit else text[:limit] + "..."


# -- weights only -------------------------------------------------------------------------------
def save_weights(state: Mapping[str, Any], path: str | os.PathLike[str],
                 **metadata: Any) -> None:
    """Save a dict of arrays (a ``state_dict``) with JSON metadata, for any model."""
    if not isinstance(state, Mapping):
        hint = " (call save_weights(model.state_dict(), path), or save(model, path))" \
            if isinstance(state, nn.Module) else ""
        raise ConfigError(f"save_weights: the first argument must be a dict of arrays such as "
                          f"model.state_dict(), got {type(state).__name__}{hint}")
    write_safetensors(path, {k: np.asarray(getattr(v, "data", v)) for k, v in state.items()},
                      {k: encode_metadata(v, k) for k, v in metadata.items()})


def load_weights(path: str | os.PathLike[str]) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """The arrays and decoded metadata written by :func:`save_weights`."""
    tensors, meta = read_safetensors(path)
    return tensors, decode_metadata(meta, os.fspath(path))
