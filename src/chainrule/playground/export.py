"""Export a run: the model file (the one ``chainrule train`` writes, readable by
``chainrule evaluate``, ``predict`` and ``info``) and a Python script that rebuilds the data
and the network and trains it the same way, step for step.
"""

from __future__ import annotations

import math
import os
import tempfile
from typing import Any

import numpy as np

from ..errors import ChainruleError, ConfigError, ModelFileError
from ..tools.saving import save
from .config import ACTIVATIONS, OPTIMIZERS, OUTPUTS
from .recipe import OUTPUT_LOSSES, data_call, loss_call, optimizer_call, targets_source
from .session import Run

__all__ = ["literal", "model_bytes", "python_code", "unsavable"]


def _metadata(run: Run) -> dict[str, Any]:
    d, cfg = run.data, run.cfg
    preprocessing = {"task": "classification", "target": d.target,
                     "feature_names": d.feature_names, "class_names": d.class_names,
                     "scaler": d.scaler.to_dict() if d.scaler is not None else None}
    training = {"data": cfg.csv_name if cfg.dataset == "csv" else cfg.dataset,
                "loss": OUTPUT_LOSSES[run.output], "optimizer": cfg.optimizer, "lr": cfg.lr,
                "steps": run.step, "epochs_run": run.batches.done(run.step),
                "batch_size": run.batches.batch_size, "hidden_layers": cfg.hidden,
                "activation": cfg.activation, "init": cfg.init, "seed": cfg.seed,
                "val_split": cfg.val_split, "standardize": cfg.standardize,
                "made_by": "chainrule playground"}
    return {"preprocessing": preprocessing, "training": training}


def unsavable(run: Run) -> str | None:
    """Why this run's network cannot be saved (weights that are not finite numbers, which
    ``chainrule.load`` refuses), or None when it can."""
    bad = [p for p in run.model.parameters() if not np.isfinite(p.data).all()]
    if not bad:
        return None
    why = run.diverged or f"its weights stopped being finite numbers by step {run.step}"
    return (f"this run diverged ({why}), so there is no model to save: a model file with "
            "non-finite weights is refused when loaded; lower the learning rate, reset and "
            "train again")


def model_bytes(run: Run) -> bytes:
    """The trained network as a chainrule model file (safetensors), with its metadata.

    A diverged network (see :func:`unsavable`) is refused with a ModelFileError.
    """
    problem = unsavable(run)
    if problem:
        raise ModelFileError(problem)
    with tempfile.TemporaryDirectory(prefix="chainrule-playground-") as folder:
        path = os.path.join(folder, "model.safetensors")
        try:
            save(run.model, path, **_metadata(run))
        except ChainruleError as err:  # name the download, not the server's temporary file
            raise type(err)(str(err).replace(path, "model.safetensors")) from None
        with open(path, "rb") as f:
            return f.read()


def literal(value: Any) -> str:
    """``value`` as Python source that evaluates back to it: the only way a name from the
    data (a column, a class, the file's name) enters the exported code.

    Only JSON-like values are written (str, int, float, bool, None, lists, tuples and dicts
    of them); a ``str`` always becomes one ``repr()`` literal, whatever characters it holds.

    >>> print(literal({"names": ["a#b", "x\\ny"], "lr": 0.5, "n": 3}))
    {'names': ['a#b', 'x\\ny'], 'lr': 0.5, 'n': 3}
    """
    if value is None or isinstance(value, (bool, str)):
        return repr(value)
    if isinstance(value, (int, np.integer)):
        return repr(int(value))
    if isinstance(value, (float, np.floating)):
        x = float(value)
        return repr(x) if math.isfinite(x) else f"float({str(x)!r})"
    if isinstance(value, (list, tuple)):
        items = "".join(f"{literal(v)}, " for v in value)
        return f"[{items[:-2]}]" if isinstance(value, list) else f"({items.rstrip()})"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{literal(k)}: {literal(v)}" for k, v in value.items()) + "}"
    raise TypeError(f"cannot write a {type(value).__name__} into the exported code")


def _file_name(run: Run) -> str:
    """The uploaded file's name for ``load_csv``: its last path part, or data.csv where
    that would not name a file here (empty, a dot name, control characters)."""
    name = os.path.basename(run.cfg.csv_name.replace("\\", "/"))
    if name in ("", ".", "..") or not name.isprintable():
        return "data.csv"
    return name


def _data_lines(run: Run) -> list[str]:
    cfg = run.cfg
    if cfg.dataset == "csv":
        return ["# your file: the feature columns and then the label column, named as below",
                f"csv_file = {literal(_file_name(run))}",
                f"feature_names = {literal(list(run.data.feature_names))}",
                f"label = {literal(run.data.target)}",
                "ds = load_csv(csv_file, target=label, features=feature_names, "
                "task='classification')",
                "X, y = ds.X, ds.y"]
    fn, kwargs = data_call(cfg)
    args = ", ".join(f"{k}={literal(v)}" for k, v in kwargs.items())
    return [f"X, y = {_known(fn, _GENERATORS)}({args})",
            "y = np.asarray(y).reshape(-1).astype(np.int64)"]


_GENERATORS = ("make_flower", "make_spirals", "make_blobs", "make_moons", "make_circles",
               "make_xor")


def _known(name: str, table: Any) -> str:
    """``name`` when it is one of ``table``'s (fixed) names; bare text in the code comes only
    from such tables."""
    if name not in table:
        raise ConfigError(f"cannot export {name!r}: not one of {', '.join(table)}")
    return name


def python_code(run: Run) -> str:
    """A script that rebuilds and trains this run's network (same data, weights, batches).

    Names from the data reach the script only as string literals (:func:`literal`); the
    rest of its text is fixed or comes from the playground's own tables and numbers.
    """
    cfg = run.cfg
    activation = _known(cfg.activation, ACTIVATIONS)
    optimizer = _known(cfg.optimizer, OPTIMIZERS)
    output = _known(run.output, OUTPUTS)
    imports = "load_csv, " if cfg.dataset == "csv" else f"{data_call(cfg)[0]}, "
    if output == "linear_mse" and run.n_out > 1:
        imports += "one_hot, "
    if cfg.standardize:
        imports += "StandardScaler, "
    batch_size = run.batches.batch_size
    full = batch_size is None
    seed, steps = int(cfg.seed), int(run.step)
    lines = [
        '"""Rebuild and train the network from the chainrule playground.',
        "",
        f"{'-'.join(str(int(n)) for n in run.sizes)} network, {activation} hidden units, "
        f"{output.replace('_', ' + ')}; {optimizer} with learning rate {float(cfg.lr):g}"
        f"{'' if full else f', batches of {int(batch_size)}'}; {steps} steps.",
        '"""',
        "",
        "import numpy as np",
        "",
        "import chainrule as cr",
        "from chainrule import nn",
        "from chainrule.tools.saving import save",
        f"from chainrule.data import {imports}train_test_split",
        "",
        *_data_lines(run),
    ]
    if cfg.val_split > 0:
        lines += [
            "rows = np.arange(len(X))",
            f"train_rows, val_rows, _, _ = train_test_split(rows, y, "
            f"test_size={literal(float(cfg.val_split))}, stratify=True, seed={literal(seed)})",
        ]
    else:
        lines += ["train_rows = np.arange(len(X))  # no validation split"]
    lines += ["X_train, y_train = X[train_rows], y[train_rows]"]
    if cfg.standardize:
        lines += ["scaler = StandardScaler().fit(X_train)",
                  "X_train = scaler.transform(X_train)"]
    if cfg.init == "constant":
        lines += ["", "",
                  "def all_half(weight, rng=None):",
                  "    # every weight 0.5, biases 0: all hidden units start (and stay) equal",
                  "    return nn.init.constant_(weight, 0.5)"]
    lines += ["", "", f"rng = np.random.default_rng({literal(seed)})", "model = nn.Sequential("]
    lines += [f"    {spec.source()}," for spec in run.specs]
    lines += [
        ")",
        f"loss_fn = {loss_call(output)}",
        f"T_train = {targets_source(output, int(run.n_out))}",
        f"optimizer = {optimizer_call(cfg)}",
        "",
        f"steps = {literal(steps)}",
    ]
    if full:
        lines += [
            "for step in range(steps):  # batch gradient descent: every example, every step",
            "    loss = loss_fn(model(cr.tensor(X_train)), T_train)",
        ]
    else:
        lines += [
            f"batch_size, m = {literal(int(batch_size))}, len(X_train)",
            f"batch_rng = np.random.default_rng({literal(seed + 1)})",
            "pos = m",
            "for step in range(steps):  # mini-batches from a fresh shuffle each epoch",
            "    if pos >= m:",
            "        order, pos = batch_rng.permutation(m), 0",
            "    rows = order[pos:pos + batch_size]",
            "    pos += batch_size",
            "    loss = loss_fn(model(cr.tensor(X_train[rows])), T_train[rows])",
        ]
    meta = _metadata(run)
    lines += [
        "    optimizer.zero_grad()",
        "    loss.backward()",
        "    optimizer.step()",
        "",
        "with cr.no_grad():",
        "    print('training loss', loss_fn(model(cr.tensor(X_train)), T_train).item())",
        f"save(model, 'model.safetensors', preprocessing={literal(meta['preprocessing'])},",
        f"     training={literal(meta['training'])})",
        "",
    ]
    return "\n".join(lines)
