"""What a training run measured, epoch by epoch: :class:`History`.

>>> h = History()
>>> h.append(0, {"loss": 0.5, "lr": 0.1}); h.append(1, {"loss": 0.25, "lr": 0.1})
>>> h["loss"], h.epochs
([0.5, 0.25], [1, 2])
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np

from ..optim.monitor import Monitor

if TYPE_CHECKING:
    from ..errors import OptionWarning
    from .trainer import Trainer

__all__ = ["History"]


class History:
    """What training measured: ``history["loss"]`` is the list of per-epoch training losses.

    Keys are ``loss`` and ``val_loss``, ``accuracy`` and ``val_accuracy`` for classification,
    and ``lr``.  ``epochs`` lists the epoch numbers (from 1); ``stop_reason`` says why training
    ended early (None when it ran all epochs) and ``interrupted`` whether Ctrl-C ended it.
    """

    def __init__(self) -> None:
        self.history: dict[str, list[float]] = {}
        self.epochs: list[int] = []
        self.params: dict[str, Any] = {}
        self.stop_reason: str | None = None
        # stop_reason with the arguments it names kept as data (see chainrule.errors)
        self.stop_notice: OptionWarning | None = None
        self.interrupted = False
        self.trainer: Trainer | None = None

    def append(self, epoch: int, logs: dict[str, Any]) -> None:
        """Record the metrics of ``epoch`` (counted from 0)."""
        self.epochs.append(epoch + 1)
        n = len(self.epochs)
        history = self.history
        for key, value in logs.items():
            if isinstance(value, (int, float, np.floating)):
                column = history.get(key)
                if column is None:  # a metric first seen now: NaN for the epochs before
                    column = history[key] = [math.nan] * (n - 1)
                column.append(float(value))
        for column in history.values():  # a metric missing this epoch gets NaN
            if len(column) < n:
                column.append(math.nan)

    def extend(self, epoch: int, count: int, columns: dict[str, list[float]]) -> None:
        """Record ``count`` epochs from ``epoch`` on (counted from 0) at once, as
        :meth:`append` records them one by one: ``columns[key][i]`` is the number of epoch
        ``epoch + i``.

        >>> h = History(); h.append(0, {"loss": 1.0})
        >>> h.extend(1, 2, {"loss": [0.5, 0.25], "lr": [0.1, 0.1]})
        >>> h.epochs, h["loss"], h["lr"][1:]
        ([1, 2, 3], [1.0, 0.5, 0.25], [0.1, 0.1])
        """
        before = len(self.epochs)
        self.epochs.extend(range(epoch + 1, epoch + count + 1))
        history = self.history
        for key, values in columns.items():
            column = history.get(key)
            if column is None:
                column = history[key] = [math.nan] * before
            column.extend(map(float, values))
        for column in history.values():
            if len(column) < len(self.epochs):
                column.extend([math.nan] * (len(self.epochs) - len(column)))

    def __getitem__(self, key: str) -> list[float]:
        try:
            return self.history[key]
        except KeyError:
            raise KeyError(f"History has no {key!r}; it recorded "
                           f"{', '.join(self.history) or 'nothing'}") from None

    def __contains__(self, key: object) -> bool:
        return key in self.history

    def __len__(self) -> int:
        return len(self.epochs)

    def last(self) -> dict[str, float]:
        """The metrics of the last epoch."""
        return {k: v[-1] for k, v in self.history.items() if v}

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready copy (for checkpoints and model metadata)."""
        return {"epochs": list(self.epochs), "history": {k: list(v) for k, v in
                                                         self.history.items()},
                "stop_reason": self.stop_reason, "interrupted": self.interrupted}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> History:
        """Rebuild from :meth:`to_dict`'s output."""
        h = cls()
        h.epochs = [int(e) for e in d.get("epochs", [])]
        h.history = {str(k): [float(x) for x in v] for k, v in d.get("history", {}).items()}
        h.stop_reason = d.get("stop_reason")
        h.interrupted = bool(d.get("interrupted", False))
        return h

    @property
    def monitor(self) -> str | None:
        """The metric the best epoch is judged by: ``val_loss`` when validation was measured,
        else ``loss`` (early stopping's default), None when neither was recorded."""
        for key in ("val_loss", "loss"):
            if any(math.isfinite(v) for v in self.history.get(key, ())):
                return key
        return None

    @property
    def best_epoch(self) -> int | None:
        """The epoch number (from 1) with the lowest :attr:`monitor` value, the first one on
        ties, as :class:`~chainrule.training.EarlyStopping` picks it (None without one)."""
        key = self.monitor
        if key is None:
            return None
        rule, best = Monitor("min"), None  # "improved" is chainrule's one rule: strictly lower
        for epoch, value in zip(self.epochs, self.history[key]):
            if rule.update(value):
                best = epoch
        return best

    def _shown_rows(self, max_rows: int) -> list[int | None]:
        """Row indices to show, None for an elided run: the first and last few, and always
        the best epoch."""
        n = len(self.epochs)
        if n <= max_rows:
            return list(range(n))
        half = max(1, (max_rows - 2) // 2)
        keep = set(range(half)) | set(range(n - half, n))
        if self.best_epoch is not None:
            keep.add(self.epochs.index(self.best_epoch))
        rows: list[int | None] = []
        for i in sorted(keep):
            if rows and rows[-1] is not None and i > rows[-1] + 1:
                rows.append(None)
            rows.append(i)
        return rows

    def _repr_html_(self, max_rows: int = 20) -> str:
        """A table of the epochs' metrics for notebooks, the best epoch in bold and marked;
        long runs show their first and last epochs and the best one."""
        from ..tools.display import html_table  # tools stand beside training: import on use

        keys = list(self.history)
        best = self.best_epoch
        rows, marked = [], []
        for i in self._shown_rows(max_rows):
            if i is None:
                rows.append(["\u2026"] * (len(keys) + 2))
                continue
            if self.epochs[i] == best:
                marked.append(len(rows))
            rows.append([str(self.epochs[i])] + [_number(self.history[k][i]) for k in keys]
                        + ["\u25c0 best" if self.epochs[i] == best else ""])
        return html_table(["epoch", *keys, ""], rows, marked=marked, caption=self._summary())

    def _summary(self) -> str:
        text = f"{len(self)} epochs"
        best = self.best_epoch
        if best is not None:
            key = self.monitor or ""
            text += (f"; best {key} {self.history[key][self.epochs.index(best)]:.4g} at "
                     f"epoch {best}")
        if self.stop_reason:
            text += f"; {self.stop_reason}"
        elif self.interrupted:
            text += "; interrupted with Ctrl-C"
        return text

    def __repr__(self) -> str:
        last = ", ".join(f"{k} {v:.4g}" for k, v in self.last().items())
        return f"History({self._summary()}{'; last: ' + last if last else ''})"


def _number(value: float) -> str:
    return "" if math.isnan(value) else f"{value:.4g}"
