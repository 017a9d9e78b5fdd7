"""Export a run: the model file (the one ``chainrule train`` writes, readable by
``chainrule evaluate``, ``predict`` and ``info``) and a Python script that rebuilds the data
and the network and trains it the same way, step for step.
"""

from __future__ import annotations

import os
import tempfile
from typing import Any

from ..tools.saving import save
from .recipe import data_call, loss_call, optimizer_call, targets_source
from .session import Run

__all__ = ["model_bytes", "python_code"]


def _metadata(run: Run) -> dict[str, Any]:
    d, cfg = run.data, run.cfg
    preprocessing = {"task": "classification", "target": "label",
                     "feature_names": d.feature_names, "class_names": d.class_names,
                     "scaler": d.scaler.to_dict() if d.scaler is not None else None}
    loss = {"sigmoid_bce": "bce", "softmax_ce": "cross_entropy", "linear_mse": "mse"}
    training = {"data": cfg.csv_name if cfg.dataset == "csv" else cfg.dataset,
                "loss": loss[run.output], "optimizer": cfg.optimizer, "lr": cfg.lr,
                "steps": run.step, "epochs_run": run.batches.done(run.step),
                "batch_size": run.batches.batch_size, "hidden_layers": cfg.hidden,
                "activation": cfg.activation, "init": cfg.init, "seed": cfg.seed,
                "val_split": cfg.val_split, "standardize": cfg.standardize,
                "made_by": "chainrule playground"}
    return {"preprocessing": preprocessing, "training": training}


def model_bytes(run: Run) -> bytes:
    """The trained network as a chainrule model file (safetensors), with its metadata."""
    fd, path = tempfile.mkstemp(suffix=".safetensors")
    os.close(fd)
    try:
        save(run.model, path, **_metadata(run))
        with open(path, "rb") as f:
            return f.read()
    finally:
        os.unlink(path)


def _data_lines(run: Run) -> list[str]:
    cfg = run.cfg
    if cfg.dataset == "csv":
        name = os.path.basename(cfg.csv_name) or "data.csv"
        return [f"# your file, with the columns {', '.join(run.data.feature_names)} and the "
                "label last",
                f"ds = load_csv({name!r}, target={_csv_target(run)!r}, "
                "task='classification')",
                "X, y = ds.X, ds.y"]
    fn, kwargs = data_call(cfg)
    args = ", ".join(f"{k}={v!r}" for k, v in kwargs.items())
    return [f"X, y = {fn}({args})", "y = np.asarray(y).reshape(-1).astype(np.int64)"]


def _csv_target(run: Run) -> str:
    text = run.cfg.csv or ""
    first = text.lstrip("\ufeff").splitlines()[0] if text.strip() else ""
    return first.split(",")[-1].strip().strip('"')


def python_code(run: Run) -> str:
    """A script that rebuilds and trains this run's network (same data, weights, batches)."""
    cfg = run.cfg
    imports = "load_csv, " if cfg.dataset == "csv" else f"{data_call(cfg)[0]}, "
    if run.output == "linear_mse" and run.n_out > 1:
        imports += "one_hot, "
    if cfg.standardize:
        imports += "StandardScaler, "
    full = run.batches.batch_size is None
    lines = [
        '"""Rebuild and train the network from the chainrule playground.',
        "",
        f"{'-'.join(map(str, run.sizes))} network, {cfg.activation} hidden units, "
        f"{run.output.replace('_', ' + ')}; {cfg.optimizer} with learning rate {cfg.lr:g}"
        f"{'' if full else f', batches of {run.batches.batch_size}'}; {run.step} steps.",
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
            f"train_rows, val_rows, _, _ = train_test_split(rows, y, test_size={cfg.val_split!r}, "
            f"stratify=True, seed={cfg.seed})",
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
    lines += ["", "", f"rng = np.random.default_rng({cfg.seed})", "model = nn.Sequential("]
    lines += [f"    {spec.source()}," for spec in run.specs]
    lines += [
        ")",
        f"loss_fn = {loss_call(run.output)}",
        f"T_train = {targets_source(run.output, run.n_out)}",
        f"optimizer = {optimizer_call(cfg)}",
        "",
        f"steps = {run.step}",
    ]
    if full:
        lines += [
            "for step in range(steps):  # batch gradient descent: every example, every step",
            "    loss = loss_fn(model(cr.tensor(X_train)), T_train)",
        ]
    else:
        lines += [
            f"batch_size, m = {run.batches.batch_size}, len(X_train)",
            f"batch_rng = np.random.default_rng({cfg.seed + 1})",
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
        f"save(model, 'model.safetensors', preprocessing={meta['preprocessing']!r},",
        f"     training={meta['training']!r})",
        "",
    ]
    return "\n".join(lines)
