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
"""

from __future__ import annotations

from typing import Any

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

__all__ = ["EpochKernel"]


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

    def run(self, first: int, order: np.ndarray | None, tally: Tally, scaled: bool,
            scoring: Scoring) -> tuple[int, StepOutcome | None] | None:
        """Batches ``first``... (of the rows in ``order``, None: as they are) in one call,
        their numbers summed in ``tally`` (by ``scoring``'s true classes); returns the batch
        it stopped at and, where the guard stopped it, the outcome to report; None (nothing
        done) where the kernel cannot run them now."""
        step, data, starts = self.step, self.data, self.starts
        if scaled or first >= len(self.sizes):
            return None
        start, stop = starts[first], starts[first + 1]
        if data.batch_size < len(data.X) and stop - start != data.batch_size:
            return None  # the last, smaller batch alone: its own step
        first_rows = slice(start, stop) if order is None else order[start:stop]
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
        idx = self.in_order if order is None else order.astype(np.int64, copy=False)
        run = flat.run_epoch(X, y, idx, self.starts, scales, first, step.guard.enabled)
        if run is None:
            return None
        done = slice(starts[first], starts[run.stop])
        sizes = self.sizes[first:run.stop]
        if len(sizes):
            value = float(run.losses[first:run.stop] @ sizes) / float(sizes.sum())
            rows = done if order is None else idx[done]
            tally.add(value, float(sizes.sum()), run.outputs[done], data.y_raw[rows], None,
                      scoring.classes(rows))
        if run.code == 0:
            return run.stop, None
        bad = Tensor(data.X[idx[starts[run.stop]:starts[run.stop + 1]]])
        if run.code == 1:
            what = step.guard.check_before(float(run.losses[run.stop]), bad)
        else:
            what = step.guard.overflowed(flat.restore)
        return run.stop, StepOutcome(nonfinite=what, xb=bad)

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
