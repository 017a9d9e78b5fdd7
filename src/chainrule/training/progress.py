"""Showing training progress: a bar on a terminal, plain lines otherwise, nothing at verbose=0.

The bar uses ``tqdm.auto`` when tqdm is installed (``pip install tqdm``): a text bar on a
terminal, tqdm's widget in a Jupyter kernel (with ipywidgets; its text bar without).  Without
tqdm, or when the output is neither (a log file, a CI job), progress is one line per epoch.
Runs of many short epochs (the course's 2-4-1 network takes 10,000 full-batch steps) print at
most about ``max_lines`` evenly spaced lines, always including the first and the last epoch.
"""

from __future__ import annotations

import math
import os
import sys
import time
import warnings
from typing import Any, TextIO

from .callback import Callback

__all__ = ["ProgressLogger", "format_logs", "in_notebook", "warn_user"]


def format_logs(logs: dict[str, float]) -> str:
    """``loss 0.1234  accuracy 0.9500`` from a dict of metrics (lr shown in short form)."""
    parts = []
    for k, v in logs.items():
        if k == "lr":
            parts.append(f"lr {v:.3g}")
        elif isinstance(v, float):
            parts.append(f"{k} {v:.4f}")
    return "  ".join(parts)


def in_notebook() -> bool:
    """Whether this code runs in a Jupyter kernel, which can show a figure and replace it.

    A plain terminal IPython has no kernel, so it gets lines like a script.
    """
    ipython = sys.modules.get("IPython")  # a kernel has imported it; do not import it here
    if ipython is None:
        return False
    shell = ipython.get_ipython()
    return shell is not None and getattr(shell, "kernel", None) is not None


class ProgressLogger(Callback):
    """Progress display used by :func:`chainrule.fit` for ``verbose`` 1 (bar on a terminal)
    and 2 (always lines)."""

    def __init__(self, verbose: int = 1, stream: TextIO | None = None, max_lines: int = 20,
                 use_bar: bool | None = None) -> None:
        super().__init__()
        self.verbose = verbose
        self.stream = stream if stream is not None else sys.stdout
        self.max_lines = max_lines
        self.use_bar = use_bar
        self._bar: Any = None
        self._start = 0.0

    def _want_bar(self) -> bool:
        if self.use_bar is not None:
            return self.use_bar
        isatty = getattr(self.stream, "isatty", None)
        return self.verbose == 1 and (bool(isatty and isatty()) or (
            self.stream is sys.stdout and in_notebook()))

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        self._start = time.perf_counter()
        self.epochs = int(self.trainer.epochs)
        self.every = max(1, math.ceil(self.epochs / self.max_lines))
        self._bar = None
        if self._want_bar():
            try:
                from tqdm.auto import tqdm
            except ImportError:
                tqdm = None
            if tqdm is not None:
                try:
                    self._bar = tqdm(total=self.epochs, initial=self.trainer.epoch,
                                     file=self.stream, unit="epoch", dynamic_ncols=True,
                                     leave=True)
                except ImportError:  # tqdm's notebook widget without ipywidgets: lines
                    self._bar = None

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        logs = logs or {}
        if self._bar is not None:
            self._bar.update(1)
            self._bar.set_postfix_str(format_logs(logs), refresh=False)
            return
        last = epoch + 1 == self.epochs
        if epoch % self.every == 0 or last or self.trainer.stop_training:
            width = len(str(self.epochs))
            print(f"epoch {epoch + 1:>{width}}/{self.epochs}  {format_logs(logs)}",
                  file=self.stream, flush=True)

    def on_train_end(self, logs: dict[str, Any] | None = None) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None
        seconds = time.perf_counter() - self._start
        note = ""
        if self.trainer.interrupted:
            note = " (interrupted with Ctrl-C; the model keeps its weights so far)"
        elif self.trainer.stop_reason:
            note = f" ({self.trainer.stop_reason})"
        print(f"trained {self.trainer.epochs_run} epochs in {seconds:.1f} s{note}",
              file=self.stream, flush=True)


# chainrule's own files: a warning points at the first frame outside them
_PACKAGE_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def warn_user(message: str | Warning) -> None:
    """A warning pointing at the caller's line outside chainrule, however deep the library's
    own calls are: a UserWarning for a message, or the warning itself (an
    :class:`~chainrule.errors.OptionWarning`) under its own category."""
    frame, level = sys._getframe(1), 2
    while frame is not None and frame.f_code.co_filename.startswith(_PACKAGE_ROOT):
        frame, level = frame.f_back, level + 1
    if isinstance(message, Warning):
        warnings.warn(message, stacklevel=level)
    else:
        warnings.warn(message, UserWarning, stacklevel=level)
