"""Training curves that redraw as training runs: :class:`LivePlot`.

In a Jupyter kernel (a notebook, JupyterLab, VS Code) the loss and metric curves of
:func:`chainrule.training.curves.plot_history` are drawn once and then updated in place, so
a cell shows one figure that grows; anywhere else (a terminal, a script, a log file) each
epoch is one printed line.  matplotlib and IPython are imported only when a figure is drawn.
"""

from __future__ import annotations

import math
import sys
import time
from typing import Any, TextIO

from .callback import Callback
from .curves import plot_history
from .history import History
from .progress import format_logs, in_notebook

__all__ = ["LivePlot", "in_notebook"]


class LivePlot(Callback):
    """Redraw the loss and metric curves (training and validation) after each epoch: in place
    in a notebook, one printed line per epoch elsewhere.

    ``interval`` is the least time in seconds between two redraws (a figure costs tens of
    milliseconds, more than an epoch of a small network); the last epoch is always drawn.
    ``stream`` is where the lines go outside a notebook (standard output by default).

    >>> import numpy as np
    >>> import chainrule as cr
    >>> from chainrule import nn
    >>> X, y = np.array([[0.0], [1.0]]), np.array([0, 1])
    >>> model = nn.Sequential(nn.Linear(1, 1, rng=0), nn.Sigmoid())
    >>> _ = cr.fit(model, X, y, epochs=2, batch_size=None, verbose=0, callbacks=[LivePlot()])
    epoch 1/2  loss ...
    epoch 2/2  loss ...
    """

    def __init__(self, interval: float = 0.5, title: str = "",
                 stream: TextIO | None = None) -> None:
        super().__init__()
        self.interval = float(interval)
        self.title = title
        self.stream = stream
        self.notebook = False
        self.history = History()
        self._handle: Any = None
        self._drawn_at = -math.inf
        self._undrawn = False

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        # A resumed run starts from the epochs it already has.
        self.history = History.from_dict(self.trainer.history.to_dict())
        self.notebook = in_notebook()
        self._handle, self._drawn_at, self._undrawn = None, -math.inf, False

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        logs = logs or {}
        self.history.append(epoch, logs)
        if not self.notebook:
            total = int(self.trainer.epochs)
            print(f"epoch {epoch + 1:>{len(str(total))}}/{total}  {format_logs(logs)}",
                  file=self.stream or sys.stdout, flush=True)
        elif time.perf_counter() - self._drawn_at >= self.interval:
            self._draw()
        else:
            self._undrawn = True

    def on_train_end(self, logs: dict[str, Any] | None = None) -> None:
        if self.notebook and self._undrawn:
            self._draw()

    def _draw(self) -> None:
        from IPython.display import display  # IPython is there only in a notebook

        figure = plot_history(self.history, title=self.title)
        if self._handle is None:
            self._handle = display(figure, display_id=True)
        else:
            self._handle.update(figure)
        self._drawn_at, self._undrawn = time.perf_counter(), False
