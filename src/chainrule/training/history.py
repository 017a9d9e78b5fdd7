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

if TYPE_CHECKING:
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
        self.interrupted = False
        self.trainer: Trainer | None = None

    def append(self, epoch: int, logs: dict[str, Any]) -> None:
        """Record the metrics of ``epoch`` (counted from 0)."""
        self.epochs.append(epoch + 1)
        for key, value in logs.items():
            if isinstance(value, (int, float, np.floating)):
                column = self.history.setdefault(key, [math.nan] * (len(self.epochs) - 1))
                column.append(float(value))
        for column in self.history.values():  # a metric missing this epoch gets NaN
            if len(column) < len(self.epochs):
                column.append(math.nan)

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

    def __repr__(self) -> str:
        last = ", ".join(f"{k}={v:.4g}" for k, v in self.last().items())
        return f"History({len(self)} epochs{': ' + last if last else ''})"
