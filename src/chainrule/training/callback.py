"""The :class:`Callback` base class: code that runs at fixed points of :func:`chainrule.fit`.

A callback overrides any of ``on_train_begin``, ``on_epoch_begin``, ``on_batch_end``,
``on_epoch_end`` and ``on_train_end``.  It reaches the running training through
``self.trainer`` (``model``, ``optimizer``, ``history``, ``epoch``) and asks it to stop by
setting ``self.trainer.stop_training = True`` (with ``stop_reason`` saying why).

``logs`` at the end of an epoch hold that epoch's numbers: ``loss`` and, where measured,
``accuracy``, ``val_loss``, ``val_accuracy`` and ``lr``.  The callbacks chainrule ships are in
:mod:`chainrule.training.callbacks`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:
    from ..nn import Module
    from .trainer import Trainer

__all__ = ["Callback", "Logs"]

Logs = dict[str, Any]


class Callback:
    """Base class: every hook does nothing until overridden.

    Two class attributes tell the trainer how to run a callback: ``chief_only`` (it writes
    files, so under MPI only rank 0 runs it) and ``needs_guard`` (it turns the non-finite
    guard on, as :class:`~chainrule.training.TerminateOnNaN` does).
    """

    chief_only: ClassVar[bool] = False
    needs_guard: ClassVar[bool] = False
    trainer: Trainer

    def set_trainer(self, trainer: Trainer) -> None:
        """Called by the trainer before training starts."""
        self.trainer = trainer

    @property
    def model(self) -> Module:
        """The model being trained."""
        return self.trainer.model

    def on_train_begin(self, logs: Logs | None = None) -> None:
        """Before the first epoch."""

    def on_train_end(self, logs: Logs | None = None) -> None:
        """After the last epoch, also after an early stop or Ctrl-C."""

    def on_epoch_begin(self, epoch: int, logs: Logs | None = None) -> None:
        """Before epoch ``epoch`` (counted from 0)."""

    def on_epoch_end(self, epoch: int, logs: Logs | None = None) -> None:
        """After epoch ``epoch`` with its metrics in ``logs``."""

    def on_batch_end(self, batch: int, logs: Logs | None = None) -> None:
        """After each optimizer step; ``logs`` hold the batch's ``loss`` and ``size``."""
