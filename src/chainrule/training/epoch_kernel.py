"""``fit(compile=True)``'s fast path: the rest of an epoch in one call of the step kernel.

Stepped from Python, a small network's epoch is mostly the loop's own bookkeeping: the
batch's rows, the guard's checks, the optimizer's ``step()``, the metrics' sums, a few
microseconds each, for arithmetic that takes as long.  Where a run needs none of that between
batches, :class:`EpochKernel` hands the epoch's remaining batches to
:func:`chainrule.training.kernel_loops.train_epoch`, which gathers each batch's rows,
computes forward, loss and backward, checks as the non-finite guard does, and applies the
optimizer's update, batch after batch, in the same order and by the same formulas as the
steps it replaces.  The metrics are sums over rows, so the epoch's outputs are added to the
tally once.

It runs when numba is installed, the step itself can be compiled
(:mod:`chainrule.training.flat` takes the plan and the optimizer) and nothing happens between
two batches that it would skip: one process (no gradient averaging), no gradient clipping,
no sample weights, targets in their own units (no ``standardize_target``), no callback with
an ``on_batch_end``, and every label one of the classes.  Otherwise (and for a batch before
the optimizer has made its state) the loop steps batch by batch as before.

Where nothing needs Python between two epochs either (no validation, no checkpoint, no
callback at an epoch's start or end), :meth:`EpochKernel.run_epochs` runs several whole
epochs in one call (:func:`chainrule.training.kernel_loops.train_epochs`), keeping each
epoch's outputs for its metrics: at most :data:`EPOCH_OUTPUTS` numbers a call.  On the
course's 2-4-1 network (400 rows, full batch) an epoch took about 40 us of bookkeeping
around a 10 us kernel call; run 2,000 at a time it costs about 9 us in all.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from ..engine import Tensor
from . import kernel
from .callback import Callback
from .compiled import CompiledGradients
from .flat import FlatStep, KernelRefusedError
from .plan import Plan
from .preparation import RunData
from .step import StepOutcome, TrainStep
from .tally import Scoring, Tally
from .tasks import output_width

__all__ = ["EPOCH_OUTPUTS", "EpochKernel", "EpochsDone"]

EPOCH_OUTPUTS = 2**20  # the most outputs (rows x outputs x epochs) one run_epochs keeps


class EpochsDone(NamedTuple):
    """What :meth:`EpochKernel.run_epochs` ran: ``whole`` epochs, their numbers as
    ``columns`` (each metric's list, an entry an epoch, as History records them), and, where
    the guard stopped the next one, ``last``: its tally so far, the batch it stopped at and
    the guard's outcome."""

    whole: int
    columns: dict[str, list[float]]
    last: tuple[Tally, int, StepOutcome | None] | None


class EpochKernel:
    """The step kernel over whole epochs of one ``fit``, for the batches of ``data``."""

    def __init__(self, step: TrainStep, compiled: CompiledGradients, data: RunData,
                 steps: int) -> None:
        self.step, self.compiled, self.data = step, compiled, data
        n, size = len(data.X), data.batch_size
        # where each of the epoch's ``steps`` batches starts (the last takes every row left,
        # as loop.batch_rows says), and where the last one ends
        self.starts = np.minimum(np.arange(steps + 1, dtype=np.int64) * size, n)
        self.starts[-1] = n
        self.sizes = np.diff(self.starts)
        self.in_order = np.arange(len(data.X), dtype=np.int64)  # the order without shuffling
        self._scales: dict[int, np.ndarray] = {}  # per plan (its id): each batch's loss scale
        self._arrays: tuple[Any, ...] | None = None

    @classmethod
    def for_run(cls, step: TrainStep, data: RunData, callbacks: list[Any], comm: Any,
                steps: int) -> EpochKernel | None:
        """The fast path for this run, or None where something must happen between batches
        (see the module's notes)."""
        if step.compiled is None or kernel.kernels() is None or comm.size != 1 \
                or step.clip_grad_norm is not None or data.w is not None or not len(data.X):
            return None
        if any(type(cb).on_batch_end is not Callback.on_batch_end for cb in callbacks):
            return None
        return cls(step, step.compiled, data, steps)

    def _flat(self, plan: Plan, x_shape: tuple[int, ...],
              y_shape: tuple[int, ...]) -> FlatStep | None:
        kept = self.compiled.stepping  # kept with the plans, for the next fit() too
        flat = kept.get(id(plan), False)
        if flat is False or (flat is not None and flat.optimizer is not self.step.optimizer):
            if not kernel.takes(plan, x_shape[0]):  # wide layers: the NumPy plan is faster
                kept[id(plan)] = None
                return None
            try:
                flat = FlatStep(plan, self.step.optimizer, x_shape, y_shape)
            except KernelRefusedError:  # the loop's own steps still use the gradients kernel
                flat = None
            kept[id(plan)] = flat
        return flat

    def _ready(self, first_rows: Any) -> tuple[FlatStep, np.ndarray, np.ndarray,
                                                np.ndarray] | None:
        """The flat step for the batch of ``first_rows`` (the plan captured or checked on
        it), the rows as the kernel reads them and each batch's loss scale; None where the
        kernel cannot run."""
        step, data = self.step, self.data
        xb, yb = Tensor(data.X[first_rows]), data.y[first_rows]
        plan = self.compiled.plan(step.model, step.loss_fn, xb, yb)
        if plan is None or plan.dtype != data.X.dtype:
            return None
        flat = self._flat(plan, xb.shape, yb.shape)
        if flat is None:
            return None
        X, y = self._data(plan)
        if y is None:
            return None
        scales = self._scales.get(id(plan))
        if scales is None:
            sizes, batch = np.unique(self.sizes, return_inverse=True)  # (two sizes at most)
            scales = self._scales[id(plan)] = np.array(
                [plan.loss_scale((int(m), flat.n_out)) for m in sizes], dtype=np.float64)[batch]
        return flat, X, y, scales

    def _first_rows(self, first: int, order: np.ndarray | None) -> Any:
        """The rows of batch ``first``, or None where it is the last, smaller batch (its own
        step, so that the kernel is laid out for whole batches)."""
        data, start, stop = self.data, self.starts[first], self.starts[first + 1]
        if data.batch_size < len(data.X) and stop - start != data.batch_size:
            return None
        return slice(start, stop) if order is None else order[start:stop]

    def run(self, first: int, order: np.ndarray | None, tally: Tally, scaled: bool,
            scoring: Scoring) -> tuple[int, StepOutcome | None] | None:
        """Batches ``first``... (of the rows in ``order``, None: as they are) in one call,
        their numbers summed in ``tally`` (by ``scoring``'s true classes); returns the batch
        it stopped at and, where the guard stopped it, the outcome to report; None (nothing
        done) where the kernel cannot run them now."""
        if scaled or first >= len(self.sizes):
            return None
        first_rows = self._first_rows(first, order)
        ready = None if first_rows is None else self._ready(first_rows)
        if ready is None:
            return None
        flat, X, y, scales = ready
        idx = self.in_order if order is None else order.astype(np.int64, copy=False)
        run = flat.run_epoch(X, y, idx, self.starts, scales, first, self.step.guard.enabled,
                             order is None)
        if run is None:
            return None
        self._add(tally, scoring, run.losses, run.outputs, idx, order is None, first, run.stop)
        return run.stop, self._outcome(flat, run.code, run.losses, idx, run.stop)

    def _add(self, tally: Tally, scoring: Scoring, losses: np.ndarray, outputs: np.ndarray,
             idx: np.ndarray, in_order: bool, first: int, stop: int) -> None:
        """Add batches ``first`` to ``stop`` (their losses and outputs) to ``tally``."""
        sizes = self.sizes[first:stop]
        if len(sizes):
            done = slice(self.starts[first], self.starts[stop])
            value = float(losses[first:stop] @ sizes) / float(sizes.sum())
            rows = done if in_order else idx[done]
            tally.add(value, float(sizes.sum()), outputs[done], self.data.y_raw[rows], None,
                      scoring.classes(rows))

    def _outcome(self, flat: FlatStep, code: int, losses: np.ndarray, idx: np.ndarray,
                 stop: int) -> StepOutcome | None:
        """What the guard says of batch ``stop`` where the kernel stopped there (``code``
        1 or 2, see :class:`~chainrule.training.flat.EpochRun`); None for code 0."""
        if code == 0:
            return None
        step = self.step
        bad = Tensor(self.data.X[idx[self.starts[stop]:self.starts[stop + 1]]])
        if code == 1:
            what = step.guard.check_before(float(losses[stop]), bad)
        else:
            what = step.guard.overflowed(flat.restore)
        return StepOutcome(nonfinite=what, xb=bad)

    def epochs_per_call(self, left: int) -> int:
        """How many of the ``left`` epochs :meth:`run_epochs` takes in one call: their
        outputs (kept for the metrics) stay within about 2**20 numbers, so the memory is
        bounded and a call lasts a few tens of milliseconds on the networks it runs."""
        width = output_width(self.step.model)
        if width is None:
            return 1
        return max(1, min(left, EPOCH_OUTPUTS // max(1, len(self.data.X) * width)))

    def run_epochs(self, epochs: int, orders: np.ndarray | None,
                   scoring: Scoring) -> EpochsDone | None:
        """``epochs`` whole epochs in one call, epoch ``e`` over the rows ``orders[e]``
        (None: in order); None (nothing done) where the kernel cannot run them now."""
        first_rows = self._first_rows(0, None if orders is None else orders[0])
        ready = None if first_rows is None else self._ready(first_rows)
        if ready is None:
            return None
        flat, X, y, scales = ready
        idx = self.in_order[None] if orders is None else orders.astype(np.int64, copy=False)
        run = flat.run_epochs(X, y, idx, self.starts, scales, epochs, self.step.guard.enabled,
                              orders is None)
        if run is None:
            return None
        whole = run.epoch
        rows = None if orders is None else idx[:whole]
        sizes = self.sizes
        weight = float(sizes.sum())
        if len(sizes) == 1:  # one batch an epoch: its loss times its rows, as _add sums it
            values = run.losses[:whole, 0] * float(sizes[0]) / weight
        else:
            values = np.array([float(run.losses[e] @ sizes) / weight for e in range(whole)])
        columns = scoring.epoch_columns(values, weight, run.outputs[:whole], rows)
        last = None
        if run.code != 0:  # the guard stopped epoch ``whole`` at batch ``run.stop``
            tally = scoring.tally()
            order = idx[0] if orders is None else idx[whole]
            self._add(tally, scoring, run.losses[whole], run.outputs[whole], order,
                      orders is None, 0, run.stop)
            last = (tally, run.stop,
                    self._outcome(flat, run.code, run.losses[whole], order, run.stop))
        return EpochsDone(whole, columns, last)

    def _data(self, plan: Plan) -> tuple[np.ndarray, np.ndarray | None]:
        """The training rows as the kernel reads them (made once): the inputs C-ordered in
        the plan's dtype, the class labels (None where one is not a class) or the targets."""
        if self._arrays is None or self._arrays[0] is not plan.dtype:
            data = self.data
            X = np.ascontiguousarray(data.X, dtype=plan.dtype)
            if plan.labels:
                y = np.ascontiguousarray(data.y, dtype=np.int64)
                classes = plan.acts[-1].shape[1]
                if y.ndim != 1 or (len(y) and (y.min() < 0 or y.max() >= classes)):
                    y = None
            else:
                y = np.ascontiguousarray(data.y, dtype=plan.dtype)
            self._arrays = (plan.dtype, X, y)
        return self._arrays[1], self._arrays[2]
