"""Plots are written as PNG files with a path, are returned as Figures (shown inline by a
notebook) without one, and fail clearly without matplotlib or with bad input."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("matplotlib")

from chainrule import plots
from chainrule.training import History

PNG = b"\x89PNG\r\n\x1a\n"


def _history(n: int) -> History:
    h = History()
    for e in range(n):
        h.append(e, {"loss": 1 / (e + 1), "accuracy": 1 - 0.5 / (e + 1),
                     "val_loss": 1.2 / (e + 1), "val_accuracy": 1 - 0.6 / (e + 1)})
    return h


@pytest.mark.parametrize("n", [5, 3000])
def test_history_plot(tmp_path: Path, n: int) -> None:
    path = plots.plot_history(_history(n), tmp_path / "loss.png", title="t")
    assert Path(path).read_bytes()[:8] == PNG
    assert plots.plot_history({"loss": [1.0, 0.5]}, tmp_path / "plain.png").endswith(".png")
    with pytest.raises(plots.PlotError, match="no 'loss'"):
        plots.plot_history({}, tmp_path / "x.png")


def test_decision_boundary_and_confusion_matrix(tmp_path: Path) -> None:
    X = np.random.default_rng(0).normal(size=(50, 2))
    y = (X[:, 0] > 0).astype(int)
    seen = {}

    def predict(G):
        seen["shape"] = G.shape
        return (G[:, 0] > 0).astype(int)

    plots.plot_decision_boundary(predict, X, y, tmp_path / "db.png", class_names=["a", "b"],
                                 resolution=50)
    assert seen["shape"] == (2500, 2) and (tmp_path / "db.png").read_bytes()[:8] == PNG
    with pytest.raises(plots.PlotError, match="2-D inputs"):
        plots.plot_decision_boundary(predict, np.zeros((4, 3)), y[:4], tmp_path / "no.png")
    plots.plot_confusion_matrix([0, 1, 2, 2], [0, 2, 2, 2], tmp_path / "cm.png",
                                class_names=["setosa", "versicolor", "virginica"])
    assert (tmp_path / "cm.png").read_bytes()[:8] == PNG
    with pytest.raises(plots.PlotError, match="equally long"):
        plots.plot_confusion_matrix([0, 1], [0], tmp_path / "cm2.png")


def test_without_a_path_each_plot_returns_its_figure() -> None:
    from matplotlib.figure import Figure

    h = _history(5)
    fig = plots.plot_history(h)
    assert isinstance(fig, Figure)
    loss, accuracy = fig.axes[:2]
    assert [ax.get_title() for ax in (loss, accuracy)] == ["Loss", "Accuracy"]
    drawn = {line.get_label(): line.get_ydata() for line in loss.get_lines()}
    assert np.allclose(drawn["training"], h.history["loss"])
    assert np.allclose(drawn["validation"], h.history["val_loss"])
    assert fig._repr_png_()[:8] == PNG  # what a notebook displays, pyplot or not

    X = np.array([[0.0, 0.0], [1.0, 1.0], [0.0, 1.0]])
    fig = plots.plot_decision_boundary(lambda G: (G[:, 0] > 0.5).astype(int), X,
                                       np.array([0, 1, 0]), resolution=20)
    assert isinstance(fig, Figure) and fig.axes[0].get_title() == "Decision boundary"

    fig = plots.plot_confusion_matrix([0, 1, 1, 1], [0, 1, 0, 1])
    assert isinstance(fig, Figure)
    counts = fig.axes[0].get_images()[0].get_array()
    # true 0 -> predicted 0 once; true 1 -> predicted 0 once, 1 twice (counted by hand)
    assert np.array_equal(counts, [[1, 0], [1, 2]])
    assert "75.0%" in fig.axes[0].get_title()


def test_drawing_does_not_touch_pyplot() -> None:
    plots.plot_history({"loss": [1.0, 0.5]})
    if "matplotlib.pyplot" in sys.modules:  # another test imported it: no figure registered
        assert not sys.modules["matplotlib.pyplot"].get_fignums()


def test_missing_matplotlib_is_a_clear_error(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)
    monkeypatch.setitem(sys.modules, "matplotlib.backends.backend_agg", None)
    with pytest.raises(plots.PlotError, match="pip install matplotlib"):
        plots.plot_history({"loss": [1.0]}, tmp_path / "x.png")


def test_every_measured_metric_gets_a_panel_with_its_best_validation_marked() -> None:
    curves = {"loss": [1.0, 0.5, 0.4], "val_loss": [1.0, 0.6, 0.5], "lr": [0.1] * 3,
              "mae": [3.0, 2.0, 1.0], "val_mae": [3.0, 1.0, 2.0],
              "r2": [0.1, 0.5, 0.9], "val_r2": [0.2, 0.6, 0.4]}
    fig = plots.plot_history(curves)
    assert [ax.get_title() for ax in fig.axes] == ["Loss", "MAE", "R2"]  # no lr panel
    marks = {ax.get_title(): ax.collections[0].get_offsets()[0].tolist() for ax in fig.axes}
    # lowest val_loss and val_mae, highest val_r2, each read off the lists above
    assert marks == {"Loss": [3, 0.5], "MAE": [2, 1.0], "R2": [2, 0.6]}


def test_training_draws_its_curves_without_importing_the_plots() -> None:
    # plots -> training.curves, never back: LivePlot draws with training.curves, and a
    # lazy import of chainrule.plots inside training would make the two one import circle
    import ast

    from chainrule import training

    package = Path(training.__file__).parent
    for path in sorted(package.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom):
                names = [f"{'.' * node.level}{node.module or ''}.{a.name}" for a in node.names]
            elif isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            else:
                continue
            assert not any(n.endswith("plots") or ".plots." in n or n == "..plots"
                           for n in names), f"{path.name} imports the plots: {names}"
    assert plots.plot_history is training.curves.plot_history
