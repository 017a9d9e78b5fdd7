"""One training run of the playground: the data, the network, its optimizer and its history.

A :class:`Run` trains with chainrule's engine, one optimizer step per batch, and describes
itself as JSON-ready dictionaries for the page: the losses, the weights, the decision
boundary and every unit's output over the input plane (as bytes, base64-encoded), and what
:func:`chainrule.diagnose` finds.  The page never computes anything but pixels.

>>> from chainrule.playground.config import RunConfig
>>> run = Run(RunConfig(dataset="xor", n_samples=80, optimizer="adam", lr=0.05))
>>> done = run.train(5)
>>> run.step, len(run.history.steps), run.sizes
(5, 2, [2, 4, 1])
"""

from __future__ import annotations

import base64
import math
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .. import nn
from ..engine import no_grad, softmax, tensor
from ..tools.diagnose import diagnose
from .config import LIMITS, RunConfig
from .recipe import (
    Batches,
    build_loss,
    build_model,
    build_optimizer,
    layer_specs,
    n_outputs,
    prepare,
    resolve_output,
    targets,
)

__all__ = ["BOUNDARY_GRID", "UNIT_GRID", "History", "Run"]

BOUNDARY_GRID = 64  # decision-boundary image: 64 x 64 cells
UNIT_GRID = 32  # each unit's picture: every other cell of the same plane
MAX_HISTORY = 1000  # loss-curve points kept; beyond this every other one is dropped


@dataclass
class History:
    """The loss curves: the training and validation loss after each recorded step."""

    steps: list[int] = field(default_factory=list)
    train: list[float] = field(default_factory=list)
    val: list[float | None] = field(default_factory=list)

    def add(self, step: int, train: float, val: float | None) -> None:
        """Record one point, thinning old points so the curve stays at most MAX_HISTORY."""
        if self.steps and self.steps[-1] == step:
            self.train[-1], self.val[-1] = train, val
            return
        self.steps.append(step)
        self.train.append(train)
        self.val.append(val)
        if len(self.steps) > MAX_HISTORY:  # keep the first point, halve the rest
            for name in ("steps", "train", "val"):
                values = getattr(self, name)
                setattr(self, name, values[:1] + values[1:-1][1::2] + values[-1:])


def _finite(x: float) -> float | None:
    return x if math.isfinite(x) else None


def _bytes(values: np.ndarray) -> str:
    """Numbers in [0, 1] as base64 of one byte each (0..255)."""
    q = np.round(np.clip(np.nan_to_num(values, nan=0.5), 0.0, 1.0) * 255).astype(np.uint8)
    return base64.b64encode(q.tobytes()).decode("ascii")


class Run:
    """A network learning one data set, stepped by the page through the JSON API."""

    def __init__(self, cfg: RunConfig) -> None:
        self.cfg = cfg
        self.lock = threading.Lock()  # one request at a time works on a run
        self.data = prepare(cfg)
        self.n_classes = len(self.data.class_names)
        self.output = resolve_output(cfg, self.n_classes)
        self.n_out = n_outputs(self.output, self.n_classes)
        self.specs = layer_specs(cfg, self.data.X.shape[1], self.n_out, self.output)
        self.model = build_model(self.specs, cfg.seed)
        self.linears = [m for m in self.model if isinstance(m, nn.Linear)]
        self.sizes = [self.linears[0].in_features, *(m.out_features for m in self.linears)]
        self.loss_fn = build_loss(self.output)
        self.optimizer = build_optimizer(cfg, self.model)
        self.T_train = targets(self.data.y_train, self.output, self.n_out)
        self.T_val = targets(self.data.y_val, self.output, self.n_out)
        m = len(self.data.X_train)
        self.batches = Batches(m, None if cfg.optimizer == "gd" else cfg.batch_size, cfg.seed)
        self.step = 0
        self.last_rows: np.ndarray = np.arange(m)  # the batch the last step used
        self.diverged: str | None = None
        self.history = History()
        self.extent = self._extent()
        self.touched = time.monotonic()
        self._record()

    # -- training -------------------------------------------------------------------------------
    def train(self, steps: int, budget_s: float = 0.25) -> int:
        """Take up to ``steps`` optimizer steps (at most ``max_steps_per_request``, and only
        as many as fit in ``budget_s`` seconds); returns how many were taken."""
        steps = max(0, min(int(steps), LIMITS["max_steps_per_request"]))
        start = time.perf_counter()
        done = 0
        X, T = self.data.X_train, self.T_train
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            while done < steps and self.diverged is None:
                rows = self.batches.next()
                loss = self.loss_fn(self.model(tensor(X[rows])), T[rows])
                self.optimizer.zero_grad()
                loss.backward()
                self.optimizer.step()
                self.step += 1
                done += 1
                self.last_rows = rows
                if not math.isfinite(loss.item()):
                    self.diverged = (f"the loss became {loss.item()} at step {self.step}: the "
                                     "steps are too large; lower the learning rate and reset")
                if time.perf_counter() - start > budget_s:
                    break
        if done:
            self._record()
        return done

    def _outputs(self, X: np.ndarray) -> np.ndarray:
        with no_grad(), np.errstate(over="ignore", invalid="ignore"):
            return np.asarray(self.model(tensor(X)).data)

    def loss_of(self, X: np.ndarray, T: np.ndarray) -> float:
        """The loss on ``(X, T)`` with the current weights."""
        with no_grad(), np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            out = self.model(tensor(X))
            if not np.isfinite(out.data).all():
                # a diverged network's loss is no number (and a loss that checks its
                # probabilities would refuse NaN outputs, failing every later request)
                return math.nan
            return float(self.loss_fn(out, T).item())

    def classes(self, out: np.ndarray) -> np.ndarray:
        """Predicted class codes from the network's outputs."""
        if out.shape[1] == 1:
            return (out[:, 0] > 0.5).astype(np.int64)
        return out.argmax(axis=1)

    def _record(self) -> None:
        d = self.data
        val = self.loss_of(d.X_val, self.T_val) if len(d.X_val) else None
        self.history.add(self.step, self.loss_of(d.X_train, self.T_train), val)

    # -- what the page draws --------------------------------------------------------------------
    def _extent(self) -> list[float]:
        X = self.data.X
        lo, hi = X.min(axis=0), X.max(axis=0)
        pad = 0.08 * np.maximum(hi - lo, 1e-9)
        return [float(lo[0] - pad[0]), float(hi[0] + pad[0]),
                float(lo[1] - pad[1]), float(hi[1] + pad[1])]

    def plane(self, n: int) -> np.ndarray:
        """n x n points over the data's extent, row by row from the top (largest x2)."""
        x0, x1, y0, y1 = self.extent
        gx, gy = np.meshgrid(np.linspace(x0, x1, n), np.linspace(y1, y0, n))
        P = np.stack([gx.ravel(), gy.ravel()], axis=1)
        return self.data.scaler.transform(P) if self.data.scaler is not None else P

    def layer_outputs(self, X: np.ndarray) -> list[np.ndarray]:
        """Each layer's output A[l] for inputs X (rows): the hidden activations, then the
        output as probabilities (softmax for a softmax output)."""
        outs: list[np.ndarray] = []
        with no_grad(), np.errstate(over="ignore", invalid="ignore"):
            a = tensor(X)
            for i, module in enumerate(self.model):
                a = module(a)
                last_linear = module is self.linears[-1]
                next_is_act = i + 1 < len(self.model)
                if not isinstance(module, nn.Linear) or (last_linear and not next_is_act):
                    outs.append(np.asarray(a.data))
            if self.output == "softmax_ce":
                outs[-1] = np.asarray(softmax(tensor(outs[-1]), axis=-1).data)
        return outs

    def _unit_scale(self, a: np.ndarray, last: bool) -> np.ndarray:
        """Activations mapped to [0, 1] for colouring (0.5 is zero for tanh and ReLU)."""
        kind = self.output if last else self.cfg.activation
        if kind == "tanh":
            return (a + 1) / 2
        if kind in ("sigmoid", "sigmoid_bce", "softmax_ce", "linear_mse"):
            return a
        # the largest finite size per unit (a diverged unit's NaN or inf must not make it,
        # and np.nanmax warns on an all-NaN column)
        size = np.where(np.isfinite(a), np.abs(a), 0.0)
        peak = size.max(axis=0, keepdims=True) if a.size else 1.0
        return 0.5 + 0.5 * a / np.maximum(peak, 1e-12)

    def pictures(self) -> dict[str, Any]:
        """The decision boundary and every unit's output over the input plane."""
        n = BOUNDARY_GRID
        outs = self.layer_outputs(self.plane(n))
        out = outs[-1]
        boundary: dict[str, Any] = {"grid": n}
        if self.n_classes == 2:
            p = out[:, 0] if out.shape[1] == 1 else out[:, 1]
            boundary["p"] = _bytes(p)
        else:
            boundary["cls"] = base64.b64encode(out.argmax(axis=1).astype(np.uint8)
                                               .tobytes()).decode("ascii")
            boundary["conf"] = _bytes(out.max(axis=1))
        every = n // UNIT_GRID
        units = []
        for li, a in enumerate(outs):
            a = a.reshape(n, n, -1)[::every, ::every].reshape(UNIT_GRID * UNIT_GRID, -1)
            scaled = self._unit_scale(a, li == len(outs) - 1)
            units.append([_bytes(scaled[:, j]) for j in range(a.shape[1])])
        return {"boundary": boundary, "units": units, "unit_grid": UNIT_GRID}

    def findings(self) -> list[dict[str, Any]]:
        """What :func:`chainrule.diagnose` reports now, layer numbered as in W1, W2, ..."""
        if self.diverged:
            return []
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            report = diagnose(self.model, self.data.X_train, self.T_train,
                                 loss_fn=self.loss_fn)
        found = []
        for number, layer in enumerate(report.layers, start=1):
            for f in layer.findings:
                found.append({"kind": f.kind, "layer": number, "units": list(f.units),
                              "message": f"W{number}: {f.message}", "hint": f.hint})
        return found

    def state(self) -> dict[str, Any]:
        """Everything the page redraws after a step, as JSON-ready values."""
        d = self.data
        out_tr = self._outputs(d.X_train)
        acc = float(np.mean(self.classes(out_tr) == d.y_train))
        val_acc = None
        if len(d.X_val):
            val_acc = float(np.mean(self.classes(self._outputs(d.X_val)) == d.y_val))
        h = self.history
        return {
            "step": self.step,
            "epoch": self.batches.done(self.step),
            "loss": _finite(h.train[-1]),
            "val_loss": None if h.val[-1] is None else _finite(h.val[-1]),
            "accuracy": acc,
            "val_accuracy": val_acc,
            "diverged": self.diverged,
            "history": {"steps": h.steps, "train": [_finite(v) for v in h.train],
                        "val": [None if v is None else _finite(v) for v in h.val]},
            "weights": [np.nan_to_num(m.weight.data).tolist() for m in self.linears],
            "biases": [np.nan_to_num(m.bias.data).tolist() for m in self.linears],
            "findings": self.findings(),
            **self.pictures(),
        }

    def describe(self) -> dict[str, Any]:
        """What does not change while training: the config, the layers and the points."""
        d = self.data
        split = np.zeros(len(d.X), dtype=np.int64)
        split[d.val_rows] = 1
        train_index = np.full(len(d.X), -1, dtype=np.int64)
        train_index[d.train_rows] = np.arange(len(d.train_rows))
        return {
            "config": self.cfg.public(),
            "sizes": self.sizes,
            "activation": self.cfg.activation,
            "output": self.output,
            "class_names": d.class_names,
            "feature_names": d.feature_names,
            "extent": self.extent,
            "points": [[float(x), float(y), int(c), int(s)]
                       for (x, y), c, s in zip(d.X, d.y, split)],
            "train_index": train_index.tolist(),  # a point's row in X_train, or -1
            "m_train": len(d.X_train),
            "m_val": len(d.X_val),
        }
