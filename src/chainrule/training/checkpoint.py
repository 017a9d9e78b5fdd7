"""Checkpoints: a whole training run in one file, written atomically, to resume exactly.

A checkpoint is a safetensors file (see :mod:`chainrule.tools.saving`) holding

- the model's parameters as ``model.<dotted name>``;
- the optimizer's buffers (momenta, averages) as ``optimizer.<i>.<buffer>``;
- JSON metadata ``format: chainrule-checkpoint`` and ``trainer``: the optimizer's learning
  rate and step count, the shuffling generator's state, the seed, the epoch, the history, and,
  when training stopped inside an epoch, the position in it (the batch reached, the generator
  state the epoch's order was drawn from, and the running sums of its metrics).

The write goes to a temporary file beside the target, is flushed and ``fsync``-ed, then
renamed over the target with ``os.replace``: a crash at any moment leaves either the previous
checkpoint or the new one, never a broken file.  Reading checks everything with the same
validating reader that loads model files, so a checkpoint from elsewhere is as safe to open
as a model file.

Not in a checkpoint: callbacks' own state (early-stopping counters, learning-rate schedules
other than the optimizer's current ``lr``), and the data, which must be passed again.
"""

from __future__ import annotations

import json
import os
from typing import Any

import numpy as np

__all__ = ["CHECKPOINT_FORMAT", "read_checkpoint", "write_checkpoint"]

CHECKPOINT_FORMAT = "chainrule-checkpoint"
CHECKPOINT_VERSION = 1


def write_checkpoint(path: str | os.PathLike[str], state: dict[str, Any]) -> None:
    """Write a :meth:`Trainer.state_dict` (plus any JSON-ready extras) to ``path`` atomically."""
    from ..tools.saving import write_safetensors  # saving stands beside training

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

    Raises :class:`~chainrule.tools.saving.ModelFileError` for anything that is not a
    readable chainrule checkpoint.
    """
    from ..tools.saving import ModelFileError, read_safetensors

    name = os.fspath(path)
    tensors, meta = read_safetensors(name)
    if meta.get("format") != CHECKPOINT_FORMAT:
        raise ModelFileError(f"{name}: not a chainrule checkpoint (format "
                             f"{meta.get('format')!r}); checkpoints are written by "
                             "Trainer.save_checkpoint or fit(checkpoint=...)")
    if meta.get("format_version") != str(CHECKPOINT_VERSION):
        raise ModelFileError(f"{name}: checkpoint version {meta.get('format_version')!r} is "
                             f"not supported (this chainrule reads version "
                             f"{CHECKPOINT_VERSION})")
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
        raise ModelFileError(f"{name}: the checkpoint's optimizer state is damaged")
    buffers: list[dict[str, np.ndarray]] = [{} for _ in range(n_params)]
    model: dict[str, np.ndarray] = {}
    for key, value in tensors.items():
        if key.startswith("model."):
            model[key[len("model."):]] = value
            continue
        parts = key.split(".", 2)
        if len(parts) != 3 or parts[0] != "optimizer" or not parts[1].isdigit() or \
                int(parts[1]) >= n_params:
            raise ModelFileError(f"{name}: unexpected tensor {key!r} in the checkpoint")
        buffers[int(parts[1])][parts[2]] = value
    opt["state"] = buffers
    return {**rest, "model": model, "optimizer": opt}
