"""Checkpoints: a whole training run in one file, written atomically, to resume exactly.

A checkpoint is a safetensors file (the container of :mod:`chainrule.io`) holding

- the model's parameters as ``model.<dotted name>``;
- the optimizer's buffers (momenta, averages) as ``optimizer.<i>.<buffer>``;
- JSON metadata ``format: chainrule-checkpoint`` and ``trainer``: the optimizer's settings
  and step counts, the shuffling generator's state, the seed, the epoch, the history, the
  data it was trained on (the number of training rows, the global batch size and a cheap
  fingerprint of the rows), the target standardisation if any, and, when training stopped
  inside an epoch, the position in it (the batch reached, the generator state the epoch's
  order was drawn from, and the running sums of its metrics).

The write goes to a temporary file beside the target, is flushed and ``fsync``-ed, then
renamed over the target with ``os.replace``: a crash at any moment leaves either the previous
checkpoint or the new one, never a broken file.  Reading checks the container with the same
validating reader that loads model files, and then every field of the trainer's state (a
:class:`~chainrule.errors.ModelFileError` names the first one out of range), so a checkpoint
from elsewhere is as safe to open as a model file.  Resuming with other data or another batch
size is refused.

Not in a checkpoint: callbacks' own state (early-stopping counters, learning-rate schedules
other than the optimizer's current ``lr``), and the data, which must be passed again.
"""

from __future__ import annotations

import itertools
import json
import math
import os
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import ConfigError, ModelFileError
from ..io import check_file_name, printable, read_safetensors, write_safetensors
from ..nn.normalization import invalid_buffer
from .fingerprint import fingerprint  # what a checkpoint records of its data

if TYPE_CHECKING:
    from ..nn import Module
    from ..optim import Optimizer
    from .state import RunState

__all__ = ["CHECKPOINT_FORMAT", "check_state", "fingerprint", "read_checkpoint",
           "write_checkpoint"]

CHECKPOINT_FORMAT = "chainrule-checkpoint"
CHECKPOINT_VERSION = 2
READABLE_VERSIONS = ("1", "2")
MAX_COUNT = 2**62  # step counts beyond this are edits, not training
MAX_NAME = 200  # a metric's name
MAX_TEXT = 2000  # the reason training stopped


# -- the file ------------------------------------------------------------------------------------
def write_checkpoint(path: str | os.PathLike[str], state: dict[str, Any]) -> None:
    """Write a :meth:`Trainer.state_dict` (plus any JSON-ready extras) to ``path`` atomically."""
    tensors: dict[str, np.ndarray] = {f"model.{k}": v for k, v in state["model"].items()}
    opt = dict(state["optimizer"])
    for i, buffers in enumerate(opt.pop("state")):
        for key, value in buffers.items():
            tensors[f"optimizer.{i}.{key}"] = np.asarray(value)
    rest = {k: v for k, v in state.items() if k not in ("model", "optimizer")}
    rest["optimizer"] = {**opt, "n_params": len(state["optimizer"]["state"])}
    meta = {"format": CHECKPOINT_FORMAT, "format_version": str(CHECKPOINT_VERSION),
            "trainer": json.dumps(rest, allow_nan=True)}
    write_safetensors(path, tensors, meta)


def read_checkpoint(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read what :func:`write_checkpoint` wrote, checking it; the inverse of that function.

    Raises :class:`~chainrule.errors.ModelFileError` for anything that is not a readable
    chainrule checkpoint, naming the first field that is out of range.
    """
    name = check_file_name(path, "read", ModelFileError)
    tensors, meta = read_safetensors(name)
    if meta.get("format") != CHECKPOINT_FORMAT:
        raise ModelFileError(f"{name}: not a chainrule checkpoint (format "
                             f"{printable(meta.get('format'), 80)}); checkpoints are written by "
                             "Trainer.save_checkpoint or fit(checkpoint=...)")
    version = meta.get("format_version")
    if version not in READABLE_VERSIONS:
        raise ModelFileError(f"{name}: checkpoint version {printable(version, 20)} is not "
                             f"supported (this chainrule reads versions "
                             f"{', '.join(READABLE_VERSIONS)})")
    try:
        rest = json.loads(meta.get("trainer", ""))
    except (ValueError, RecursionError):
        raise ModelFileError(f"{name}: the checkpoint's trainer state is not valid "
                             "JSON") from None
    needed = {"optimizer": dict, "rng": dict, "epoch": int, "history": dict}
    if not isinstance(rest, dict) or any(not isinstance(rest.get(k), t)
                                         for k, t in needed.items()):
        raise ModelFileError(f"{name}: the checkpoint's trainer state must hold "
                             f"{', '.join(needed)}")
    opt = rest.pop("optimizer")
    n_params = opt.pop("n_params", None)
    if type(n_params) is not int or not 0 <= n_params <= len(tensors) + 10_000:
        raise ModelFileError(f"{name}: the checkpoint's field optimizer.n_params must be the "
                             f"number of parameters, got {str(n_params)[:40]}")
    buffers: list[dict[str, np.ndarray]] = [{} for _ in range(n_params)]
    model: dict[str, np.ndarray] = {}
    for key, value in tensors.items():
        if key.startswith("model."):
            model[key[len("model."):]] = value
            continue
        parts = key.split(".", 2)
        if len(parts) != 3 or parts[0] != "optimizer" or not parts[1].isdigit() or \
                int(parts[1]) >= n_params:
            raise ModelFileError(f"{name}: unexpected tensor {printable(key, 80)} in the "
                                 "checkpoint")
        buffers[int(parts[1])][parts[2]] = value
    for key, value in model.items():  # as a model file: non-finite weights are refused
        if value.dtype.kind == "f" and not np.isfinite(value).all():
            shown = printable("model." + key)
            raise ModelFileError(f"{name}: the checkpoint's tensor {shown} holds "
                                 "non-finite values (NaN or infinity); use an intact checkpoint "
                                 "or start afresh without resume")
    opt["state"] = buffers
    state = {**rest, "model": model, "optimizer": opt}
    check_state(state, name, version == "1")
    return state


# -- checking every field ------------------------------------------------------------------------
def _bad(name: str, field: str, expected: str, value: Any) -> ModelFileError:
    shown = printable(value, 80)
    return ModelFileError(f"{name}: the checkpoint's field {field} must be {expected}, got "
                          f"{shown}; the file was edited or damaged (start afresh without "
                          "resume, or use an intact checkpoint)")


def _int(value: Any, low: int = 0) -> bool:
    return type(value) is int and value >= low


def _positive(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and \
        math.isfinite(value) and value > 0


def _rng_state(value: Any, name: str, field: str) -> None:
    if not isinstance(value, dict) or value.get("has_uint32", 0) not in (0, 1):
        raise _bad(name, field, "a random generator state", value)
    try:
        probe = np.random.default_rng(0)
        probe.bit_generator.state = value
    except (TypeError, ValueError, KeyError, OverflowError):
        raise _bad(name, field, "a random generator state (NumPy's PCG64)", value) from None


def _check_optimizer(opt: dict[str, Any], name: str) -> None:
    if not _positive(opt.get("lr")):
        raise _bad(name, "optimizer.lr", "a positive finite learning rate", opt.get("lr"))
    if "initial_lr" in opt and not _positive(opt["initial_lr"]):
        raise _bad(name, "optimizer.initial_lr", "a positive finite learning rate",
                   opt["initial_lr"])
    if not _int(opt.get("step_count")) or opt["step_count"] > MAX_COUNT:
        raise _bad(name, "optimizer.step_count", "an integer from 0 to 2**62",
                   opt.get("step_count"))
    for i, group in enumerate(opt.get("param_groups") or []):
        if not isinstance(group, dict) or not _positive(group.get("lr")):
            raise _bad(name, f"optimizer.param_groups[{i}].lr", "a positive finite learning "
                       "rate", group.get("lr") if isinstance(group, dict) else group)


def _check_history(h: dict[str, Any], name: str) -> None:
    epochs = h.get("epochs", [])
    if not isinstance(epochs, list) or not all(_int(e, 1) for e in epochs) or any(
            b <= a for a, b in itertools.pairwise(epochs)):
        raise _bad(name, "history.epochs", "increasing epoch numbers from 1", epochs)
    columns = h.get("history", {})
    if not isinstance(columns, dict):
        raise _bad(name, "history.history", "a table of metric columns", columns)
    for key, column in columns.items():
        if not (isinstance(key, str) and 0 < len(key) <= MAX_NAME and key.isprintable()):
            raise _bad(name, "history.history", f"metric names of at most {MAX_NAME} printable "
                       "characters", key)
        if not isinstance(column, list) or len(column) != len(epochs) or not all(
                isinstance(v, (int, float)) and not isinstance(v, bool) for v in column):
            raise _bad(name, f"history.history[{key[:40]!r}]",
                       f"{len(epochs)} numbers (one per epoch)", column)
    reason = h.get("stop_reason")
    if reason is not None and not (isinstance(reason, str) and len(reason) <= MAX_TEXT
                                   and reason.isprintable()):
        raise _bad(name, "history.stop_reason", f"null or at most {MAX_TEXT} printable "
                   "characters", reason)
    if not isinstance(h.get("interrupted", False), bool):
        raise _bad(name, "history.interrupted", "true or false", h["interrupted"])


def _check_position(pos: Any, name: str, old: bool) -> None:
    if pos is None:
        return
    if old:
        raise ModelFileError(f"{name}: this checkpoint was written inside an epoch by an older "
                             "chainrule, whose position records this version cannot continue; "
                             "resume it with that version, or start afresh")
    if not isinstance(pos, dict):
        raise _bad(name, "position", "null or the position inside an epoch", pos)
    for key in ("batch", "samples", "batch_size"):
        if not _int(pos.get(key), 1):
            raise _bad(name, f"position.{key}", "an integer >= 1", pos.get(key))
    if not _positive(pos.get("lr")):
        raise _bad(name, "position.lr", "a positive finite learning rate", pos.get("lr"))
    _rng_state(pos.get("rng"), name, "position.rng")
    tally = pos.get("tally")
    if not isinstance(tally, dict) or not isinstance(tally.get("stats"), dict):
        raise _bad(name, "position.tally", "the running sums of the epoch", tally)
    for key in ("loss", "weight"):
        v = tally.get(key)
        if not isinstance(v, (int, float)) or isinstance(v, bool) or not math.isfinite(v) \
                or (key == "weight" and v < 0):
            raise _bad(name, f"position.tally.{key}", "a finite number", v)
    for key, stats in tally["stats"].items():
        if not isinstance(stats, list) or not all(
                isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
                for v in stats):
            raise _bad(name, f"position.tally.stats[{key[:40]!r}]", "a list of finite numbers",
                       stats)


def _check_extras(state: dict[str, Any], name: str) -> None:
    data = state.get("data")
    if data is not None and (not isinstance(data, dict) or not _int(data.get("rows")) or not
                             _int(data.get("batch_size"), 1) or not _int(data.get("fingerprint"))):
        raise _bad(name, "data", "the rows, batch size and fingerprint of the training data",
                   data)
    scaler = state.get("target_scaler")
    if scaler is not None:
        ok = isinstance(scaler, dict) and all(
            isinstance(scaler.get(k), list) and scaler[k] and all(
                isinstance(v, (int, float)) and math.isfinite(v) for v in scaler[k])
            for k in ("mean", "scale"))
        if not ok or len(scaler["mean"]) != len(scaler["scale"]) or any(
                v <= 0 for v in scaler["scale"]):
            raise _bad(name, "target_scaler", "finite means and positive scales", scaler)
    if not isinstance(state.get("target_folded", False), bool):
        raise _bad(name, "target_folded", "true or false", state["target_folded"])
    seed = state.get("seed")
    if seed is not None and not _int(seed):
        raise _bad(name, "seed", "an integer >= 0 or null", seed)
    if state.get("optimizer_type") is not None and not isinstance(state["optimizer_type"], str):
        raise _bad(name, "optimizer_type", "an optimizer's name", state["optimizer_type"])


def check_state(state: dict[str, Any], name: str, old: bool = False) -> None:
    """Check every field of a trainer state read from ``name``; ModelFileError names the
    first one out of range (``old``: written by format version 1)."""
    if not _int(state.get("epoch")):
        raise _bad(name, "epoch", "an integer >= 0", state.get("epoch"))
    _rng_state(state.get("rng"), name, "rng")
    _check_optimizer(state["optimizer"], name)
    _check_history(state["history"], name)
    epochs = state["history"].get("epochs", [])
    if epochs and epochs[-1] != state["epoch"]:  # a hand-driven Trainer may keep no history
        raise _bad(name, "epoch", f"the last epoch of the history ({epochs[-1]})",
                   state["epoch"])
    _check_position(state.get("position"), name, old)
    _check_extras(state, name)


# -- the trainer's side --------------------------------------------------------------------------
def trainer_state(model: Module, optimizer: Optimizer, run: RunState) -> dict[str, Any]:
    """What :meth:`Trainer.state_dict` returns: the model's and the optimizer's state and the
    run's (:meth:`RunState.to_dict`)."""
    return {"model": model.state_dict(), "optimizer": optimizer.state_dict(),
            "optimizer_type": type(optimizer).__name__, **run.to_dict()}


def _same_optimizer(state: dict[str, Any], optimizer: Optimizer) -> None:
    kind = state.get("optimizer_type")
    if kind is not None and kind != type(optimizer).__name__:
        raise ConfigError(f"the saved run used the {kind} optimizer but this trainer has "
                          f"{type(optimizer).__name__}; use the same optimizer")


def load_trainer_state(model: Module, optimizer: Optimizer, run: RunState,
                       state: dict[str, Any]) -> None:
    """What :meth:`Trainer.load_state_dict` does (the state is trusted: see
    :func:`load_into` for files)."""
    _same_optimizer(state, optimizer)
    model.load_state_dict(state["model"])
    optimizer.load_state_dict(state["optimizer"])
    run.load_dict(state)


def load_into(model: Module, optimizer: Optimizer, run: RunState,
              path: str | os.PathLike[str]) -> str:
    """What :meth:`Trainer.load_checkpoint` does; returns the file's name."""
    name = check_file_name(path, "read", ModelFileError)
    state = read_checkpoint(name)
    own = {k: np.shape(v) for k, v in model.state_dict().items()}  # buffers too
    saved = {k: v.shape for k, v in state["model"].items()}
    if own != saved:
        missing = sorted(set(own) - set(saved))
        extra = sorted(set(saved) - set(own))
        shapes = [f"{k} {list(saved[k])} vs {list(own[k])}" for k in own
                  if k in saved and saved[k] != own[k]]
        raise ConfigError(f"{name} is a checkpoint of another model: " + "; ".join(filter(None, [
            f"missing {', '.join(missing)}" if missing else "",
            f"unexpected {', '.join(extra)}"[:300] if extra else "",
            f"shapes differ: {', '.join(shapes)}" if shapes else ""])))
    refused = invalid_buffer(model, state["model"])  # each layer's own rule
    if refused is not None:
        raise ModelFileError(f"{name}: the checkpoint's buffer {printable('model.' + refused[0])} "
                             f"{refused[1]}; use an intact checkpoint or start afresh without "
                             "resume")
    _same_optimizer(state, optimizer)
    try:
        load_trainer_state(model, optimizer, run, state)
    except (ConfigError, KeyError, TypeError, ValueError, OverflowError) as err:
        raise ModelFileError(f"{name}: the checkpoint's state cannot be restored: "
                             f"{str(err)[:300]}") from None
    return name
