"""LivePlot: one figure updated in place where a notebook is detected (the detection faked,
the drawing and IPython's display machinery real), one line per epoch elsewhere."""

from __future__ import annotations

import io
import re

import numpy as np
import pytest

import chainrule as cr
from chainrule import nn
from chainrule.training import LivePlot, liveplot

PNG = b"\x89PNG\r\n\x1a\n"


def _fit(callback: LivePlot, epochs: int = 4):
    X = np.array([[0.0, 1.0], [1.0, 0.0], [1.0, 1.0], [0.0, 0.0]] * 5)
    y = np.array([1, 1, 0, 0] * 5)
    model = nn.Sequential(nn.Linear(2, 3, rng=0), nn.Tanh(), nn.Linear(3, 1, rng=1),
                          nn.Sigmoid())
    return cr.fit(model, X, y, epochs=epochs, batch_size=None, lr=0.1, verbose=0,
                  validation_data=(X[:4], y[:4]), callbacks=[callback])


def test_outside_a_notebook_each_epoch_is_one_line():
    stream = io.StringIO()
    history = _fit(LivePlot(stream=stream))
    lines = stream.getvalue().splitlines()
    assert [line.split("  ")[0] for line in lines] == [f"epoch {e}/4" for e in range(1, 5)]
    for line, loss, val_loss in zip(lines, history["loss"], history["val_loss"]):
        shown = dict(re.findall(r"(\w+) ([-\d.e]+)", line.split("  ", 1)[1]))
        assert float(shown["loss"]) == pytest.approx(loss, abs=5e-5)
        assert float(shown["val_loss"]) == pytest.approx(val_loss, abs=5e-5)
    assert not liveplot.in_notebook()  # pytest is no Jupyter kernel


class _Published:
    """Stands in for the kernel's channel: records what IPython would send to the page."""

    def __init__(self) -> None:
        self.messages: list[dict] = []

    def publish(self, data, metadata=None, source=None, *, transient=None, update=False,
                **kwargs) -> None:
        self.messages.append({"data": data, "transient": transient or {}, "update": update})

    def clear_output(self, wait=False) -> None:
        self.messages.append({"clear": True})


@pytest.fixture
def shell(monkeypatch, tmp_path):
    pytest.importorskip("matplotlib")
    pytest.importorskip("IPython")
    from IPython.core.interactiveshell import InteractiveShell

    monkeypatch.setenv("IPYTHONDIR", str(tmp_path))
    shell = InteractiveShell.instance()
    shell.display_pub = _Published()
    yield shell
    InteractiveShell.clear_instance()


def test_in_a_notebook_one_figure_is_redrawn_in_place(shell, monkeypatch):
    monkeypatch.setattr(liveplot, "in_notebook", lambda: True)
    stream = io.StringIO()
    callback = LivePlot(interval=0.0, stream=stream)
    history = _fit(callback, epochs=3)
    messages = shell.display_pub.messages
    assert stream.getvalue() == ""  # no lines where the figure is shown
    assert [m["update"] for m in messages] == [False, True, True]  # shown once, then updated
    ids = {m["transient"]["display_id"] for m in messages}
    assert len(ids) == 1 and None not in ids
    assert all(m["data"]["image/png"][:8] == PNG for m in messages)
    # The figure drawn holds the run's own numbers: the last one has every epoch.
    assert callback.history.epochs == history.epochs == [1, 2, 3]
    assert np.allclose(callback.history["val_loss"], history["val_loss"])


def test_a_fast_run_is_drawn_at_its_first_and_last_epoch(shell, monkeypatch):
    monkeypatch.setattr(liveplot, "in_notebook", lambda: True)
    _fit(LivePlot(interval=1e9), epochs=5)
    assert [m["update"] for m in shell.display_pub.messages] == [False, True]
