"""Pictures of training: loss and accuracy curves, decision boundaries, confusion matrices.

Needs matplotlib (``pip install chainrule[plot]``), imported only when a plot is drawn.  The
figures are drawn with the Agg backend through matplotlib's object API, so drawing never opens
a window or changes the backend a notebook or script is using.  Each function writes a PNG
file when given a ``path`` and returns the path; without one it returns the matplotlib
``Figure``, which a notebook shows inline.
"""

from __future__ import annotations

import functools
import io
import math
import os
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from .errors import PlotError

if TYPE_CHECKING:
    from matplotlib.figure import Figure

SavePath = str | os.PathLike[str] | None
"""Where a plot is written as PNG; None returns the Figure instead."""

__all__ = [
    "PlotError",
    "have_matplotlib",
    "plot_confusion_matrix",
    "plot_decision_boundary",
    "plot_history",
]

def have_matplotlib() -> bool:
    """Whether matplotlib can be imported."""
    import importlib.util

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


def _figure(width: float, height: float) -> Figure:
    """A new Agg figure (no window, and the backend of pyplot is left alone)."""
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
    except ImportError:
        raise PlotError("plots need matplotlib: pip install matplotlib (or chainrule[plot])"
                        ) from None
    fig = _figure_class()(figsize=(width, height), dpi=120, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _finish(fig: Figure, path: SavePath) -> Figure | str:
    """The figure itself without a path (a notebook shows it inline), else the PNG written."""
    if path is None:
        return fig
    path = os.fspath(path)
    fig.savefig(path)
    return path


def plot_history(history: Any, path: SavePath = None, title: str = "") -> Figure | str:
    """Loss and every metric measured (accuracy, r2, ...) per epoch, training and validation:
    a PNG file at ``path``, or the Figure when no path is given.

    ``history`` is a :class:`chainrule.training.History` or a dict of lists.  Long runs (the
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
    fig = _figure(5.2 * cols, 3.8 * rows)
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
    return _finish(fig, path)


def _grows(key: str) -> bool:
    """Whether a larger value of metric ``key`` is better, as the metric table says (losses
    and unknown names: smaller is better)."""
    from .training.metrics import METRICS  # the table that knows each metric's direction

    metric = METRICS.get(key)
    return metric is not None and metric.greater_is_better


def plot_decision_boundary(predict: Callable[[np.ndarray], np.ndarray], X: np.ndarray,
                           y: np.ndarray, path: SavePath = None, *,
                           class_names: Sequence[str] | None = None, title: str = "",
                           resolution: int = 300) -> Figure | str:
    """Colour the plane by ``predict`` (rows of 2-D points -> class labels) and draw the
    points of ``X`` coloured by ``y`` on top: a PNG file at ``path``, or the Figure."""
    X = np.asarray(X, dtype=float)
    y = np.asarray(y).reshape(-1)
    if X.ndim != 2 or X.shape[1] != 2:
        raise PlotError(f"decision boundaries need 2-D inputs, got X of shape {X.shape}")
    pad = 0.08 * (X.max(axis=0) - X.min(axis=0)) + 1e-9
    lo, hi = X.min(axis=0) - pad, X.max(axis=0) + pad
    gx, gy = np.meshgrid(np.linspace(lo[0], hi[0], resolution),
                         np.linspace(lo[1], hi[1], resolution))
    grid = np.column_stack([gx.ravel(), gy.ravel()])
    zz = np.asarray(predict(grid)).reshape(gx.shape)
    classes = np.unique(np.concatenate([np.unique(y), np.unique(zz)])).astype(int)
    k = int(classes.max()) + 1 if classes.size else 1
    from matplotlib.colors import ListedColormap

    palette = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2",
               "#7f7f7f", "#bcbd22", "#17becf"]
    colours = [palette[i % len(palette)] for i in range(k)]
    fig = _figure(5.6, 5.0)
    ax = fig.subplots()
    ax.contourf(gx, gy, zz, levels=np.arange(k + 1) - 0.5, cmap=ListedColormap(colours),
                alpha=0.25)
    if k > 1:
        ax.contour(gx, gy, zz, levels=np.arange(k - 1) + 0.5, colors="black", linewidths=0.8)
    names = list(class_names) if class_names is not None else [str(i) for i in range(k)]
    for c in np.unique(y).astype(int):
        pts = X[y == c]
        ax.scatter(pts[:, 0], pts[:, 1], s=14, color=colours[c], edgecolor="white",
                   linewidths=0.4, label=names[c] if c < len(names) else str(c))
    ax.set_xlim(lo[0], hi[0])
    ax.set_ylim(lo[1], hi[1])
    ax.set_xlabel("$x_1$")
    ax.set_ylabel("$x_2$")
    ax.set_title(title or "Decision boundary")
    ax.legend(title="class", frameon=True, fontsize=8, loc="best")
    return _finish(fig, path)


def plot_confusion_matrix(y_true: Sequence[int], y_pred: Sequence[int],
                          path: SavePath = None, *,
                          class_names: Sequence[str] | None = None,
                          title: str = "") -> Figure | str:
    """Counts of (true class, predicted class) as a labelled heat map: a PNG file at
    ``path``, or the Figure."""
    t = np.asarray(y_true).reshape(-1).astype(int)
    p = np.asarray(y_pred).reshape(-1).astype(int)
    if t.shape != p.shape or t.size == 0:
        raise PlotError(f"confusion matrix: y_true and y_pred must be equally long and not "
                        f"empty, got {t.size} and {p.size}")
    k = max(int(t.max()), int(p.max())) + 1
    if class_names is not None:
        k = max(k, len(class_names))
    names = list(class_names) if class_names is not None else [str(i) for i in range(k)]
    m = np.zeros((k, k), dtype=int)
    np.add.at(m, (t, p), 1)
    size = min(12.0, 2.5 + 0.55 * k)
    fig = _figure(size + 1.0, size)
    ax = fig.subplots()
    im = ax.imshow(m, cmap="Blues")
    fig.colorbar(im, ax=ax, shrink=0.8)
    ax.set_xticks(range(k), labels=names, rotation=45 if max(map(len, names)) > 3 else 0,
                  ha="right" if max(map(len, names)) > 3 else "center")
    ax.set_yticks(range(k), labels=names)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    accuracy = float(np.trace(m)) / max(1, m.sum())
    ax.set_title(title or f"Confusion matrix (accuracy {accuracy:.1%})")
    if k <= 25:
        threshold = m.max() / 2 if m.max() else math.inf
        for i in range(k):
            for j in range(k):
                ax.text(j, i, str(m[i, j]), ha="center", va="center", fontsize=9,
                        color="white" if m[i, j] > threshold else "black")
    return _finish(fig, path)
