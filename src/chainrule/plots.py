"""Pictures of training: loss and accuracy curves, decision boundaries, confusion matrices.

Needs matplotlib (``pip install chainrule[plot]``), imported only when a plot is drawn.  The
figures are drawn with the Agg backend through matplotlib's object API, so drawing never opens
a window or changes the backend a notebook or script is using.  Each function writes a PNG
file when given a ``path`` and returns the path; without one it returns the matplotlib
``Figure``, which a notebook shows inline.

The training curves, :func:`plot_history`, live with training
(:mod:`chainrule.training.curves`), where :class:`~chainrule.training.LivePlot` draws them as a
run goes; the plots here draw on the same figure.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import numpy as np

from .errors import PlotError
from .training.curves import SavePath, figure, finish, have_matplotlib, plot_history

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = [
    "PlotError",
    "have_matplotlib",
    "plot_confusion_matrix",
    "plot_decision_boundary",
    "plot_history",
]


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
    fig = figure(5.6, 5.0)
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
    return finish(fig, path)


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
    fig = figure(size + 1.0, size)
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
    return finish(fig, path)
