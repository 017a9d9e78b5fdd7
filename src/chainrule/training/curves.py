"""Training curves: loss and every metric per epoch, and the figure every chainrule plot is
drawn on.

:func:`plot_history` draws a :class:`~chainrule.training.History` (or a dict of lists), for
:class:`~chainrule.training.LivePlot` while training and for :mod:`chainrule.plots` after it;
:func:`figure` and :func:`finish` give the other plots the same canvas and the same rule for
``path``.  Needs matplotlib (``pip install chainrule[plot]``), imported only when a figure is
drawn, through the Agg backend and matplotlib's object API, so drawing never opens a window or
changes the backend a notebook or script is using.
"""

from __future__ import annotations

import functools
import importlib.util
import io
import math
import os
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import PlotError
from .metrics import METRICS

if TYPE_CHECKING:
    from matplotlib.figure import Figure

SavePath = str | os.PathLike[str] | None
"""Where a plot is written as PNG; None returns the Figure instead."""

__all__ = ["SavePath", "figure", "finish", "have_matplotlib", "plot_history"]


def have_matplotlib() -> bool:
    """Whether matplotlib can be imported."""
    return importlib.util.find_spec("matplotlib") is not None


@functools.cache
def _figure_class() -> type[Figure]:
    from matplotlib.figure import Figure

    class InlineFigure(Figure):
        """A Figure that a notebook shows as PNG even where pyplot was never imported (IPython
        registers its own Figure display only when pyplot's inline backend starts)."""

        def _repr_png_(self) -> bytes:
            buffer = io.BytesIO()
            self.savefig(buffer, format="png")
            return buffer.getvalue()

    return InlineFigure


def figure(width: float, height: float) -> Figure:
    """A new Agg figure (no window, and the backend of pyplot is left alone)."""
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
    except ImportError:
        raise PlotError("plots need matplotlib: pip install matplotlib (or chainrule[plot])"
                        ) from None
    fig = _figure_class()(figsize=(width, height), dpi=120, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def finish(fig: Figure, path: SavePath) -> Figure | str:
    """The figure itself without a path (a notebook shows it inline), else the PNG written."""
    if path is None:
        return fig
    path = os.fspath(path)
    fig.savefig(path)
    return path


def plot_history(history: Any, path: SavePath = None, title: str = "") -> Figure | str:
    """Loss and every metric measured (accuracy, r2, ...) per epoch, training and validation:
    a PNG file at ``path``, or the Figure when no path is given.

    ``history`` is a :class:`~chainrule.training.History` or a dict of lists.  Long runs (the
    course's 2-4-1 network trains for 10,000 epochs) are drawn as lines without markers; the
    loss axis turns logarithmic when the loss falls by more than a factor of 100.  The best
    validation value of each panel is marked.
    """
    curves: Mapping[str, Sequence[float]] = getattr(history, "history", history)
    if "loss" not in curves or not len(curves["loss"]):
        raise PlotError("plot_history: the history has no 'loss' values to draw")
    epochs = list(getattr(history, "epochs", [])) or list(range(1, len(curves["loss"]) + 1))
    panels = ["loss"] + [k for k in curves if k not in ("loss", "lr") and not
                         k.startswith("val_")]
    cols = min(3, len(panels))
    rows = math.ceil(len(panels) / cols)
    fig = figure(5.2 * cols, 3.8 * rows)
    axes = fig.subplots(rows, cols, squeeze=False).ravel()
    for spare in axes[len(panels):]:
        fig.delaxes(spare)
    marker = "o" if len(epochs) <= 30 else None
    from matplotlib.ticker import MaxNLocator

    for ax, key in zip(axes, panels):
        # Short metric names are abbreviations (mse, rmse, mae, r2).
        label = key.upper() if len(key) <= 4 and key != "loss" else key.replace("_", " ")
        train = np.asarray(curves[key], dtype=float)
        ax.plot(epochs, train, color="tab:blue", marker=marker, ms=3, lw=1.6, label="training")
        val = curves.get(f"val_{key}")
        if val is not None and np.isfinite(np.asarray(val, dtype=float)).any():
            ax.plot(epochs, val, color="tab:orange", marker=marker, ms=3, lw=1.6,
                    label="validation")
            best = int(np.nanargmax(val) if _grows(key) else np.nanargmin(val))
            ax.scatter([epochs[best]], [val[best]], color="tab:orange", zorder=3, s=30,
                       edgecolor="black", linewidths=0.6,
                       label=f"best validation {val[best]:.3g} (epoch {epochs[best]})")
        if key == "loss":
            finite = train[np.isfinite(train) & (train > 0)]
            if finite.size and finite.max() / max(finite.min(), 1e-300) > 100:
                ax.set_yscale("log")
        elif key == "accuracy":
            ax.set_ylim(min(0.5, float(np.nanmin(train)) - 0.02), 1.005)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_xlabel("epoch")
        ax.set_ylabel(label.lower())
        ax.set_title(label[0].upper() + label[1:])
        ax.grid(True, alpha=0.3)
        ax.legend(frameon=False, fontsize=8)
    if title:
        fig.suptitle(title)
    return finish(fig, path)


def _grows(key: str) -> bool:
    """Whether a larger value of metric ``key`` is better, as the metric table says (losses
    and unknown names: smaller is better)."""
    metric = METRICS.get(key)
    return metric is not None and metric.greater_is_better
