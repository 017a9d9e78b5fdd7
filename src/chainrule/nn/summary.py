"""A Keras-like summary of a network: its layers, their output shapes and parameter counts.

:meth:`Module.summary` returns a :class:`Summary`; printing it gives a text table and a
notebook shows it as an HTML table.  Output shapes come from running a batch of one zero
example through the model in evaluation mode with no graph recorded, so batch statistics,
dropout and training flags are left as they were.

>>> from chainrule import nn
>>> model = nn.Sequential(nn.Linear(2, 4, rng=0), nn.Tanh(), nn.Linear(4, 1, rng=1))
>>> print(model.summary(input_shape=(2,)))
Model: Sequential
Layer (type)  Output shape  Params
==================================
0 (Linear)    (None, 4)         12
1 (Tanh)      (None, 4)          0
2 (Linear)    (None, 1)          5
==================================
Total params: 17
Trainable params: 17
Non-trainable params: 0
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from html import escape
from typing import TYPE_CHECKING, Any

import numpy as np

from ..engine import ShapeError, Tensor, no_grad
from ._arrays import as_array_like, dtype_name

if TYPE_CHECKING:
    from .module import Module

__all__ = ["LayerRow", "Summary", "summarize"]


@dataclass(frozen=True)
class LayerRow:
    """One line of the summary: the layer's dotted name, its class, the shape of its output
    (None when no input shape was given or the layer was not called) and its parameters."""

    name: str
    kind: str
    output_shape: tuple[Any, ...] | None
    params: int


@dataclass(frozen=True, repr=False)
class Summary:
    """What :meth:`Module.summary` describes; ``str()`` is a text table, ``_repr_html_`` an
    HTML one.  ``total`` equals ``model.num_parameters()``."""

    model: str
    rows: tuple[LayerRow, ...]
    total: int
    trainable: int
    input_shape: tuple[Any, ...] | None

    def _cells(self) -> tuple[list[str], list[list[str]]]:
        header = ["Layer (type)"] + (["Output shape"] if self.input_shape else []) + ["Params"]
        rows = []
        for r in self.rows:
            shape = [] if not self.input_shape else [
                _shape_text(r.output_shape) if r.output_shape is not None else "-"]
            rows.append([f"{r.name} ({r.kind})", *shape, f"{r.params:,}"])
        return header, rows

    def _footer(self) -> list[str]:
        return [f"Total params: {self.total:,}", f"Trainable params: {self.trainable:,}",
                f"Non-trainable params: {self.total - self.trainable:,}"]

    def __str__(self) -> str:
        header, rows = self._cells()
        widths = [max(len(line[i]) for line in [header, *rows]) for i in range(len(header))]

        def line(cells: Sequence[str]) -> str:
            text = [c.ljust(w + 2) for c, w in zip(cells[:-1], widths)]
            return ("".join(text) + cells[-1].rjust(widths[-1])).rstrip()

        rule = "=" * len(line(header))
        return "\n".join([f"Model: {self.model}", line(header), rule, *map(line, rows), rule,
                          *self._footer()])

    __repr__ = __str__

    def _repr_html_(self) -> str:
        header, rows = self._cells()
        head = "".join(f"<th>{escape(h)}</th>" for h in header)
        body = "".join("<tr>" + "".join(f"<td>{escape(c)}</td>" for c in row) + "</tr>"
                       for row in rows)
        foot = "".join(f'<tr><td colspan="{len(header)}"><b>{escape(t)}</b></td></tr>'
                       for t in self._footer())
        return (f'<table class="chainrule"><caption>{escape(self.model)}</caption>'
                f"<thead><tr>{head}</tr></thead><tbody>{body}</tbody>"
                f"<tfoot>{foot}</tfoot></table>")


def _shape_text(shape: tuple[Any, ...]) -> str:
    if shape and isinstance(shape[0], tuple):  # a layer with several outputs
        return ", ".join(_shape_text(s) for s in shape)
    return "(" + ", ".join("None" if d is None else str(d) for d in shape) + \
        ("," if len(shape) == 1 else "") + ")"


def _layers(model: Module) -> list[tuple[str, Module]]:
    """The layers a summary lists: modules without submodules, and containers that hold
    parameters of their own."""
    out = []
    for name, mod in model.named_modules():
        leaf = next(mod.children(), None) is None
        if (leaf and mod is not model) or next(mod.named_parameters(recurse=False), None):
            out.append((name or type(mod).__name__, mod))
    return out or [(type(model).__name__, model)]


def _batch_shape(out: Any) -> tuple[Any, ...]:
    if isinstance(out, (tuple, list)):
        return tuple(_batch_shape(o) for o in out)
    shape = tuple(out.data.shape if isinstance(out, Tensor) else np.shape(out))
    return (None, *shape[1:])


@contextmanager
def _evaluating(model: Module) -> Iterator[None]:
    """Evaluation mode with no graph, every module's own training flag put back after."""
    flags = [(mod, mod.training) for mod in model.modules()]
    model.eval()
    try:
        with no_grad():
            yield
    finally:
        for mod, flag in flags:
            object.__setattr__(mod, "training", flag)


def _output_shapes(model: Module, layers: list[tuple[str, Module]],
                   input_shape: tuple[int, ...]) -> dict[int, tuple[Any, ...]]:
    """Run a zero example through ``model`` and note each layer's output shape.

    Each layer's ``forward`` is wrapped on the instance for the duration of the call (an
    instance attribute shadows the class's method, and containers call ``forward``), so any
    network is measured, not only a Sequential.
    """
    params = model.parameters()
    dtype = dtype_name(params[0].data.dtype) if params else "float32"
    shapes: dict[int, tuple[Any, ...]] = {}
    current: list[str] = []

    def wrap(name: str, mod: Module) -> Any:
        inner = mod.forward

        def forward(*args: Any, **kwargs: Any) -> Any:
            current.append(name)
            out = inner(*args, **kwargs)
            current.pop()
            shapes[id(mod)] = _batch_shape(out)
            return out
        return forward

    patched = []
    for name, mod in layers:
        patched.append((mod, mod.__dict__.get("forward")))
        object.__setattr__(mod, "forward", wrap(name, mod))
    try:
        with _evaluating(model):
            zeros = np.zeros((1, *input_shape), dtype=dtype)
            model(Tensor(as_array_like(zeros, params[0].data) if params else zeros))
    except Exception as err:
        kind = type(dict(layers)[current[-1]]).__name__ if current else ""
        # A Sequential already names the failing layer in its message; say it only once.
        where = f" in layer {current[-1]} ({kind})" if current and f"({kind}):" not in str(
            err) else ""
        raise ShapeError(f"summary: a zero batch of shape {(1, *input_shape)} failed{where}: "
                         f"{err}; pass input_shape as one example's shape, without the batch "
                         "(e.g. (1, 28, 28) for 28x28 grey images)") from err
    finally:
        for mod, own in patched:
            mod.__dict__.pop("forward")
            if own is not None:
                mod.__dict__["forward"] = own
    return shapes


def _example_shape(input_shape: Any) -> tuple[int, ...]:
    """One example's shape from ``input_shape`` (a leading None for the batch is dropped)."""
    dims = (input_shape,) if isinstance(input_shape, (int, np.integer)) else input_shape
    try:
        dims = tuple(dims)
    except TypeError:
        dims = None
    if dims and dims[0] is None:
        dims = dims[1:]
    if not dims or not all(isinstance(d, (int, np.integer)) and not isinstance(d, bool)
                           and d > 0 for d in dims):
        raise ShapeError(f"summary: input_shape must be one example's sizes, positive "
                         f"integers such as (784,) or (1, 28, 28), got {input_shape!r}")
    return tuple(int(d) for d in dims)


def summarize(model: Module,
              input_shape: int | Sequence[int | None] | None = None) -> Summary:
    """The :class:`Summary` of ``model``; with ``input_shape`` (one example's shape, or a
    shape whose first entry is None for the batch) it lists each layer's output shape."""
    layers = _layers(model)
    shape = None
    shapes: dict[int, tuple[Any, ...]] = {}
    if input_shape is not None:
        dims = _example_shape(input_shape)
        shape = (None, *dims)
        shapes = _output_shapes(model, layers, shape[1:])
    seen: set[int] = set()
    rows = []
    for name, mod in layers:
        # Only the layer's own parameters: a container's submodules have rows of their own.
        # A shared parameter is counted once, where first met, so the rows add up to the total.
        own = [p for _, p in mod.named_parameters(recurse=False) if id(p) not in seen]
        seen.update(id(p) for p in own)
        rows.append(LayerRow(name, type(mod).__name__, shapes.get(id(mod)),
                             sum(p.data.size for p in own)))
    params = model.parameters()
    return Summary(type(model).__name__, tuple(rows), sum(p.data.size for p in params),
                   sum(p.data.size for p in params if p.requires_grad), shape)
