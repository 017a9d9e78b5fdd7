"""One training step: forward, loss, ``backward()``, the gradient reduction, the guard, and
``optimizer.step()``, the course's four steps with what keeps them safe around them.

:class:`TrainStep` holds what every step of a run uses (the model, the loss, the optimizer,
the non-finite guard, the communicator, the compiled plan if any) and is called once per
batch by the epoch loop (:mod:`chainrule.training.loop`); it reports what happened as a
:class:`StepOutcome` and leaves the run's state to the loop.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from .. import optim
from ..engine import Tensor, no_grad
from ..nn.utils import clip_grad_norm_
from .compiled import CompiledGradients
from .guard import NonFiniteGuard
from .tally import Tally, batch_loss
from .targets import TargetScaler

__all__ = ["StepOutcome", "TrainStep"]

Array = np.ndarray


@dataclass(frozen=True)
class StepOutcome:
    """What one step did: the batch's ``loss`` (in the target's units), or why training stops
    instead: a stop another rank asked for (``stop_asked``), or the guard's finding
    (``nonfinite``, with the batch ``xb`` it came from)."""

    loss: float | None = None
    stop_asked: bool = False
    nonfinite: str | None = None
    xb: Tensor | None = None


class TrainStep:
    """The update of one batch, with every run-long part it needs."""

    def __init__(self, model: Any, loss_fn: Any, optimizer: optim.Optimizer,
                 guard: NonFiniteGuard, comm: Any, compiled: CompiledGradients | None = None,
                 clip_grad_norm: float | None = None) -> None:
        self.model = model
        self.loss_fn = loss_fn
        self.optimizer = optimizer
        self.guard = guard
        self.comm = comm
        self.compiled = compiled
        self.clip_grad_norm = clip_grad_norm

    def __call__(self, xb: Tensor, yb: Array, yr: Array, wb: Array | None, tally: Tally,
                 stop: bool, scaler: TargetScaler | None = None,
                 classes: Array | None = None) -> StepOutcome:
        """One step on this rank's batch (possibly empty); ``yr`` are the targets in their
        own units (``classes`` their true classes, where known), ``stop`` whether this rank
        asks every rank to stop, ``scaler`` the target standardisation in use.  The batch's
        outputs go into ``tally``."""
        opt = self.optimizer
        opt.zero_grad()
        out = None
        value = 0.0
        if len(yb) and (wb is None or wb.max() > 0):  # rows of weight 0 carry no gradient
            fast = self.compiled.plan(self.model, self.loss_fn, xb, yb) \
                if self.compiled is not None and wb is None else None
            if fast is not None:
                value, out = self.compiled.run(fast, xb, yb)
            else:
                out = self.model(xb)
                loss = batch_loss(self.loss_fn, out, yb, wb)
                loss.backward()
                value = float(loss.item())
        weight = float(len(yb) if wb is None else wb.sum())
        reduced = self.comm.average_gradients(self.guard.tensors, weight, value, stop)
        if reduced.stop:  # a callback on some rank asked to stop after the previous step
            return StepOutcome(stop_asked=True)
        note = f" on {reduced.nonfinite} of {self.comm.size} ranks" if reduced.nonfinite \
            else ""
        what = self.guard.check_before(reduced.loss, xb, note)
        if what is None and self.clip_grad_norm is not None:
            clip_grad_norm_(self.guard.tensors, self.clip_grad_norm)
        if what is None:
            what = self.guard.step(opt.step)
        if what is not None:
            return StepOutcome(nonfinite=what, xb=xb)
        if out is None:
            return StepOutcome(loss=reduced.loss)
        outputs = out.numpy()  # the one read back per step: metrics are summed on the host
        if scaler is not None:  # report the loss in the target's own units
            outputs = scaler.inverse(outputs)
            with no_grad():
                host = Tensor(outputs.astype(out.numpy().dtype), device="cpu")
                value = float(batch_loss(self.loss_fn, host, yr, wb).item())
        tally.add(value, weight, outputs, yr, wb, classes)
        return StepOutcome(loss=value)
