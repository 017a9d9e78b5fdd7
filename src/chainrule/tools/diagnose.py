"""Diagnose a network: symmetric hidden units, dead ReLUs, vanishing or exploding gradients.

The course explains why some networks cannot learn.  If every weight starts at the same value,
all hidden units compute the same function, receive the same gradient, and stay equal
forever: the layer acts as a single unit.  If a ReLU unit's input is negative for every
example, no gradient reaches it and it never recovers.  And the delta recursion multiplies
by W^T and g'(z) once per layer, so gradients can shrink to nothing or blow up.
:func:`diagnose` runs one forward and backward pass on your data and reports each of these,
layer by layer, with a hint in plain words.

>>> import numpy as np, chainrule as cr
>>> from chainrule import nn
>>> model = nn.Sequential(nn.Linear(2, 3, dtype=np.float64), nn.Tanh(),
...                       nn.Linear(3, 1, dtype=np.float64), nn.Sigmoid())
>>> for p in model.parameters():
...     _ = nn.init.constant_(p, 0.5)
>>> X = np.random.default_rng(0).normal(size=(20, 2)); y = (X[:, :1] > 0) * 1.0
>>> report = cr.diagnose(model, X, y)
>>> report.flagged("symmetry"), report.layers[0].identical_groups
(True, [(0, 1, 2)])
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..data.checks import check_features
from ..engine import Tensor
from ..engine.backend import dtype_name
from ..engine.devices import to_numpy
from ..nn import CrossEntropyLoss, Linear, Module, ReLU, Sequential, losses
from ..nn.conv import Conv2d
from ..training.tasks import default_loss
from .display import html_table

__all__ = ["Diagnosis", "Finding", "LayerReport", "diagnose"]

KINDS = ("symmetry", "dead_relu", "vanishing", "exploding")


@dataclass
class Finding:
    """One problem in one layer: what was seen (``message``) and what to try (``hint``)."""

    layer: str
    kind: str  # one of 'symmetry', 'dead_relu', 'vanishing', 'exploding'
    units: tuple[int, ...]
    message: str
    hint: str

    def __str__(self) -> str:
        return f"[{self.kind}] {self.layer}: {self.message}\n    hint: {self.hint}"


@dataclass
class LayerReport:
    """What :func:`diagnose` measured for one Linear or Conv2d layer (a convolution's units
    are its output channels, each one filter)."""

    name: str
    layer: str  # the layer's repr, e.g. 'Linear(2, 4)'
    weight_grad_norm: float  # ||dJ/dW||
    delta_norm: float | None  # ||dJ/dz|| of the layer's output (the course's delta), if seen
    identical_groups: list[tuple[int, ...]] = field(default_factory=list)
    dead_units: tuple[int, ...] = ()
    findings: list[Finding] = field(default_factory=list)


@dataclass(repr=False)
class Diagnosis:
    """The report of :func:`diagnose`; ``print()`` it, or test ``ok`` and ``flagged(kind)``."""

    loss: float
    layers: list[LayerReport]

    @property
    def findings(self) -> list[Finding]:
        return [f for layer in self.layers for f in layer.findings]

    @property
    def ok(self) -> bool:
        """True when nothing was flagged."""
        return not self.findings

    def flagged(self, kind: str) -> bool:
        """Whether any layer has a finding of ``kind`` ('symmetry', 'dead_relu', ...)."""
        if kind not in KINDS:
            raise ValueError(f"unknown finding kind {kind!r}; choose one of {', '.join(KINDS)}")
        return any(f.kind == kind for f in self.findings)

    def __str__(self) -> str:
        lines = [f"diagnose: loss {self.loss:.6g}"]
        for r in self.layers:
            delta = "" if r.delta_norm is None else f", ||dJ/dz|| {r.delta_norm:.3g}"
            lines.append(f"  {r.name} {r.layer}: ||dJ/dW|| {r.weight_grad_norm:.3g}{delta}")
        findings = self.findings
        lines.append("no problems found" if not findings else f"{len(findings)} problem(s):")
        lines.extend(f"  {f}".replace("\n", "\n  ") for f in findings)
        return "\n".join(lines)

    def __repr__(self) -> str:
        return str(self)

    def _repr_html_(self) -> str:
        """Notebooks show a table of the layers and one row per finding with its hint."""
        layers = html_table(
            ("layer", "", "||dJ/dW||", "||dJ/dz||"),
            [(r.name, r.layer, f"{r.weight_grad_norm:.3g}",
              "" if r.delta_norm is None else f"{r.delta_norm:.3g}") for r in self.layers],
            caption=f"diagnose: loss {self.loss:.6g}")
        findings = self.findings
        if not findings:
            return layers + "<p>No problems found.</p>"
        return layers + html_table(("layer", "problem", "what was seen", "what to try"),
                                   [(f.layer, f.kind, f.message, f.hint) for f in findings],
                                   caption=f"{len(findings)} problem(s)")


def _flatten(model: Module) -> list[Module]:
    if isinstance(model, Sequential):
        return [m for child in model for m in _flatten(child)]
    return [model]


def _width(m: Module) -> int:
    """Units of a Linear layer (outputs) or a convolution (output channels)."""
    return int(m.out_features if isinstance(m, Linear) else m.out_channels)


def _unit_columns(z: np.ndarray, m: Module) -> np.ndarray:
    """A layer's outputs with one column per unit: a convolution's channel axis (1) is
    moved last, so every position of every example becomes a row."""
    if isinstance(m, Conv2d):
        z = np.moveaxis(z, 1, -1)
    return z.reshape(-1, z.shape[-1])


def _identical_rows(W: np.ndarray, b: np.ndarray | None, atol: float) -> list[tuple[int, ...]]:
    """Groups (of two or more) of units whose incoming weights and bias agree within atol."""
    W = W.reshape(len(W), -1)  # a convolution's filters as rows
    rows = W if b is None else np.concatenate([W, b[:, None]], axis=1)
    tol = atol * max(1.0, float(np.max(np.abs(rows))) if rows.size else 1.0)
    groups: list[tuple[int, ...]] = []
    taken = np.zeros(len(rows), dtype=bool)
    for i in range(len(rows)):
        if taken[i]:
            continue
        same = np.all(np.abs(rows - rows[i]) <= tol, axis=1) & ~taken
        if same.sum() > 1:
            members = tuple(int(j) for j in np.flatnonzero(same))
            groups.append(members)
            taken[list(members)] = True
    return groups


def _units(units: tuple[int, ...]) -> str:
    shown = ", ".join(map(str, units[:12]))
    return shown + (", ..." if len(units) > 12 else "")


def diagnose(model: Module, X: Any, y: Any, loss_fn: Callable[[Tensor, Any], Tensor] | None = None,
             vanish: float = 1e-6, explode: float = 1e3, rel_vanish: float = 1e-4,
             atol: float = 1e-6) -> Diagnosis:
    """Run ``model`` on ``(X, y)`` once, forward and backward, and report per Linear and
    Conv2d layer (``X`` holds rows, or examples of any shape on axis 0, such as images
    (n, channels, height, width)):

    * **symmetry**: units (a convolution's filters) whose incoming weights and bias are
      identical (within ``atol``, relative to the largest weight), so they compute the same
      function;
    * **dead_relu**: units feeding a ReLU whose input is <= 0 for every example in X (for a
      convolution: at every position);
    * **vanishing**: ||dJ/dW|| below ``vanish``, or below ``rel_vanish`` times the largest
      layer's norm;
    * **exploding**: ||dJ/dW|| above ``explode``, or not finite.

    ``loss_fn`` defaults to the loss ``fit`` picks (BCELoss after a final Sigmoid,
    CrossEntropyLoss for integer labels of shape (N,), and MSELoss otherwise).  The model's
    ``.grad`` are left as they were.

    Args:
        model: The network to examine.
        X: The inputs, examples on axis 0.
        y: The targets.
        loss_fn: The loss; by default the one ``fit`` picks for this output.
        vanish: The gradient norm below which a layer's gradients vanish.
        explode: The gradient norm above which they explode.
        rel_vanish: The fraction of the largest layer's norm below which they vanish.
        atol: How close two units' weights must be, relative to the largest weight, to count as
            identical.

    Returns:
        The report: ``print()`` it, or read ``.ok``, ``.findings`` and ``.layers``.
    """
    layers = _flatten(model)
    y_arr = np.asarray(y.data if isinstance(y, Tensor) else y)
    loss_fn = loss_fn or losses.get(default_loss(model, y_arr))()

    saved = [(p, p.grad) for p in model.parameters()]
    linears: list[tuple[int, Module, Tensor | None, bool]] = []
    if not isinstance(X, Tensor):  # NaN, 1-D or text inputs: the trainer's clear errors
        params = model.parameters()
        X = check_features(X, nd=True)
        X = X.astype(dtype_name(params[0].data.dtype) if params else X.dtype, copy=False)
    try:
        for p, _ in saved:
            p.grad = None
        x: Any = X if isinstance(X, Tensor) else Tensor(np.asarray(X), device=model.device)
        if len(layers) == 1 and not isinstance(layers[0], Linear):
            out = model(x)  # not a Sequential: no per-layer outputs, but weights and grads
            linears = [(i, m, None, False) for i, m in enumerate(model.modules())
                       if isinstance(m, (Linear, Conv2d))]
        else:
            for i, m in enumerate(layers):
                x = m(x)
                if isinstance(m, (Linear, Conv2d)):
                    if x.requires_grad:
                        x.retain_grad()
                    feeds_relu = i + 1 < len(layers) and isinstance(layers[i + 1], ReLU)
                    linears.append((i, m, x, feeds_relu))
            out = x
        if isinstance(loss_fn, CrossEntropyLoss) or y_arr.shape == out.data.shape:
            target = y_arr
        else:
            target = y_arr.reshape(out.data.shape)
        loss = loss_fn(out, target)
        loss.backward()

        reports = []
        for i, m, z, feeds_relu in linears:
            W, b = m.weight, m.bias  # read on the host: a report, not a step
            gW = to_numpy(W.grad) if W.grad is not None else np.zeros(W.shape)
            norm = float(np.linalg.norm(gW))
            delta = None if z is None or z.grad is None else float(
                np.linalg.norm(to_numpy(z.grad)))
            name = f"layer {i}"
            r = LayerReport(name, repr(m), norm, delta)
            if _width(m) > 1:
                r.identical_groups = _identical_rows(W.numpy(), None if b is None else b.numpy(),
                                                     atol)
            if feeds_relu and z is not None:
                zd = _unit_columns(z.numpy(), m)
                r.dead_units = tuple(int(j) for j in np.flatnonzero(np.all(zd <= 0, axis=0)))
            reports.append(r)
    finally:
        for p, g in saved:
            p.grad = g

    largest = max((r.weight_grad_norm for r in reports if np.isfinite(r.weight_grad_norm)),
                  default=0.0)
    for r, (_, m, _, _) in zip(reports, linears):
        for group in r.identical_groups:
            acts = "the whole layer acts as one unit" if len(group) == _width(m) else \
                f"these {len(group)} act as one unit"
            r.findings.append(Finding(
                r.name, "symmetry", group,
                f"units {_units(group)} of {_width(m)} have identical incoming weights "
                f"and bias: they compute the same function and get the same gradient, so "
                f"{acts}",
                "gradient descent cannot make equal units differ; initialise the weights "
                "randomly (nn.Linear's default, or init='xavier_uniform'), not to a constant"))
        if r.dead_units:
            r.findings.append(Finding(
                r.name, "dead_relu", r.dead_units,
                f"{len(r.dead_units)} of {_width(m)} ReLU units (units "
                f"{_units(r.dead_units)}) output 0 for every example, so no gradient reaches "
                "their weights",
                "they will not recover by themselves; lower the learning rate, use He "
                "initialisation (init='kaiming_normal'), a small positive bias, or LeakyReLU"))
        g = r.weight_grad_norm
        if not np.isfinite(g) or g > explode:
            r.findings.append(Finding(
                r.name, "exploding", (),
                f"the weight gradient norm is {g:.3g} (limit {explode:g})",
                "steps this large overshoot; lower the learning rate, scale the inputs, use "
                "smaller initial weights or clip the gradient norm"))
        elif g < vanish or (len(reports) > 1 and g < rel_vanish * largest):
            r.findings.append(Finding(
                r.name, "vanishing", (),
                f"the weight gradient norm is {g:.3g} (largest layer: {largest:.3g}), so this "
                "layer barely learns",
                "each layer back multiplies the delta by W^T and g'(z); saturated sigmoid or "
                "tanh units, tiny or zero weights, or many layers shrink it. Try ReLU, "
                "xavier/kaiming initialisation and inputs scaled to unit size"))
    return Diagnosis(float(loss.item()), reports)
