"""The epoch loop: shuffle, walk the batches, step, sum the metrics, call the callbacks.

One epoch shuffles the example order (from the trainer's generator), walks it in
mini-batches, and for each batch runs forward, loss, ``backward()`` and ``optimizer.step()``,
the course's four steps.  The epoch's training loss and metrics are sums over the batches as
they were computed (before each update, as Keras reports them) turned into means at the end;
validation numbers are computed after the epoch under :func:`chainrule.no_grad`.

The loop talks to other MPI ranks only through the trainer's communicator (see
:mod:`chainrule.distributed`), whose single-process form does nothing: every rank runs the
same number of steps, a rank whose shard is used up joins each gradient reduction with no
examples, and a stop asked for on any rank is carried by the next reduction to all of them.
Buffers (BatchNorm's running statistics) are updated by each rank from its own batches during
an epoch and replaced by their mean over the ranks at its end (:func:`average_buffers`), so
every rank validates, checkpoints and ends with the same model.

A layer that normalises with its batch's own statistics in training (BatchNorm) cannot take a
batch of one row, so for a model holding one (its ``min_train_batch`` is 2) a last batch of
one row is merged into the batch before it (:func:`steps_per_epoch`): every row is still seen
once an epoch, as with PyTorch's default ``drop_last=False``, and the epoch has one step
fewer.  The rule depends only on the rows, the batch size and the model, so a checkpoint's
position inside an epoch means the same batch when it is resumed.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from ..engine import Tensor
from .callback import Callback
from .epoch_kernel import EpochKernel
from .guard import NonFiniteGuard
from .preparation import RunData
from .state import Position, RunState
from .step import StepOutcome, TrainStep
from .tally import Scoring, Tally, relative_weights

__all__ = ["EpochLoop", "InterruptError", "average_buffers", "batch_rows", "min_train_batch",
           "steps_per_epoch"]

Array = np.ndarray


class InterruptError(Exception):
    """Raised inside the loop to end training at a consistent point (after a whole step)."""


def steps_per_epoch(n: int, batch_size: int, min_batch: int = 1) -> int:
    """The steps one epoch over ``n`` rows takes in batches of ``batch_size``: one per
    batch, except that a last batch smaller than ``min_batch`` rows (a layer such as BatchNorm
    cannot train on it) is merged into the one before.

    >>> steps_per_epoch(65, 32), steps_per_epoch(65, 32, min_batch=2)   # 32+32+1 or 32+33
    (3, 2)
    """
    if n == 0:
        return 0
    steps = -(-n // batch_size)
    last = n - (steps - 1) * batch_size
    return steps - 1 if steps > 1 and last < min_batch else steps


def batch_rows(batch: int, n: int, batch_size: int, steps: int) -> tuple[int, int]:
    """``(start, stop)`` of batch number ``batch`` of an epoch of ``steps`` steps over ``n``
    rows (:func:`steps_per_epoch`): the last step takes every row left, and a step past this
    rank's rows (another rank has more) takes none."""
    if batch >= steps:
        return n, n
    start = batch * batch_size
    return start, n if batch == steps - 1 else start + batch_size


def min_train_batch(model: Any) -> int:
    """The fewest rows a training batch of ``model`` may hold: the largest
    ``min_train_batch`` a layer declares (BatchNorm: 2), else 1."""
    return max((getattr(m, "min_train_batch", 1) for m in model.modules()), default=1)


def average_buffers(model: Any, comm: Any) -> None:
    """Under MPI, replace every floating buffer of ``model`` (BatchNorm's ``running_mean``
    and ``running_var``) by its plain mean over the ranks, each rank counting once, in one
    reduction.  Between these calls each rank updates its own copy from its own batches by
    PyTorch's rule, as one process would; integer buffers are left as they are."""
    if comm.size == 1:
        return
    buffers = [b for _, b in model.named_buffers() if b is not None and b.dtype.kind == "f"]
    if not buffers:  # every rank holds the same model, so every rank skips together
        return
    total = comm.sum(np.concatenate([b.ravel().astype(np.float64) for b in buffers]))
    offset = 0
    for b in buffers:
        b[...] = (total[offset:offset + b.size] / comm.size).reshape(b.shape)
        offset += b.size


class EpochLoop:
    """The epochs of one ``fit`` over prepared ``data``: owns the batching (order, rows,
    steps per epoch) and moves the run's ``state`` forward, calling ``step`` once a batch and
    the ``callbacks`` at their points.

    ``scoring`` makes the run's :class:`~chainrule.training.tally.Scoring` from the
    training targets (on the first epoch: the metrics are read then), ``validate`` gives
    the validation numbers after each epoch, and ``save_checkpoint`` (with
    ``checkpoint_every``) writes the run between epochs.
    """

    def __init__(self, step: TrainStep, state: RunState, data: RunData, *,
                 callbacks: list[Any], comm: Any, shuffle: bool,
                 scoring: Callable[[Array], Scoring],
                 validate: Callable[[], dict[str, float]],
                 save_checkpoint: Callable[[], None] | None = None,
                 checkpoint_every: int = 1) -> None:
        self.step, self.state, self.data = step, state, data
        self.callbacks, self.comm, self.shuffle = callbacks, comm, shuffle
        self.make_scoring, self.validate = scoring, validate
        self.scoring: Scoring | None = None
        self.save_checkpoint, self.checkpoint_every = save_checkpoint, checkpoint_every
        n = len(data.X)
        self.device = step.model.device  # each batch moves there once (no-op on the CPU)
        self.full = Tensor(data.X, device=self.device) if data.batch_size == n and n \
            else None
        self.w = relative_weights(data.w, comm)
        self.own_steps = steps_per_epoch(n, data.batch_size, min_train_batch(step.model))
        self.steps = comm.max(self.own_steps)  # a rank whose rows run out joins with none
        self.fast = EpochKernel.for_run(step, data, callbacks, comm, self.own_steps) \
            if self.steps else None  # fit(compile=True): whole epochs in one call
        # The model is switched to training at each epoch's start; where its layers are all
        # in training already (nothing but this loop ran since) that walk is skipped, unless
        # a callback (which may do anything to the model) runs between epochs.
        self._layers = None if callbacks else list(step.model.modules())
        # Nothing between two epochs needs Python (no validation, checkpoint, or callback at
        # an epoch's start or end): the kernel may run several epochs in one call.
        self.quiet = self.fast is not None and data.Xv is None and save_checkpoint is None \
            and comm.size == 1 and not any(
                type(cb).on_epoch_begin is not Callback.on_epoch_begin
                or type(cb).on_epoch_end is not Callback.on_epoch_end for cb in callbacks)

    def _train_mode(self) -> None:
        layers = self._layers
        if layers is None or not all(m.training for m in layers):
            self.step.model.train()

    def run(self) -> None:
        """Train until the state's ``epoch`` reaches its ``epochs`` or something stops it."""
        state = self.state
        while state.running:
            if self.quiet and self._run_epochs():
                continue
            epoch = state.epoch
            logs = self.run_epoch(epoch)
            state.end_epoch()
            for cb in self.callbacks:
                cb.on_epoch_end(epoch, logs)
            state.history.append(epoch, logs)
            if self.comm.any(state.stop_training):
                state.stop()
            if (self.save_checkpoint is not None and state.epoch % self.checkpoint_every == 0
                    and state.epoch < state.epochs and not state.stop_training
                    and self.comm.is_chief):
                self.save_checkpoint()
            if state.stop_requested:
                raise InterruptError

    def _run_epochs(self) -> bool:
        """Several whole epochs in one call of the kernel, recorded as the epochs run one by
        one record them (their shuffled orders drawn first from the same generator, in the
        same order); False (nothing done) where it cannot run them (the loop then runs one
        epoch as usual: the first step that makes an optimizer's state, say)."""
        state, fast, n = self.state, self.fast, len(self.data.X)
        left = state.epochs - state.epoch
        if fast is None or left < 2 or state.position is not None \
                or state.target_scaler is not None:
            return False
        count = fast.epochs_per_call(left)
        if count < 2:
            return False
        if self.scoring is None:
            self.scoring = self.make_scoring(self.data.y_raw)
        drawn = self.shuffle and self.data.batch_size < n
        before = state.rng.bit_generator.state if drawn else None
        orders = np.stack([state.rng.permutation(n) for _ in range(count)]) if drawn \
            else None
        lr = self.step.optimizer.lr
        self._train_mode()
        state.in_step = True
        done = fast.run_epochs(count, orders, self.scoring)
        ran = 0 if done is None else done.whole + (done.last is not None)
        if drawn and ran < count:  # the generator where the epochs that ran leave it
            state.rng.bit_generator.state = before
            for _ in range(ran):
                state.rng.permutation(n)
        if done is None:
            state.in_step = False
            return False
        epoch = state.epoch
        state.history.extend(epoch, done.whole, {**done.columns, "lr": [lr] * done.whole})
        state.end_epoch(done.whole)
        if done.last is not None:  # the guard stopped the next epoch: as run_epoch ends it
            tally, stopped, outcome = done.last
            assert outcome is not None
            self._stop_nonfinite(state.epoch, stopped, outcome)
            logs: dict[str, Any] = tally.results(self.comm)
            logs["lr"] = lr
            epoch = state.epoch
            state.end_epoch()
            state.history.append(epoch, logs)
        state.in_step = False
        if state.stop_requested:
            raise InterruptError
        return True

    def _batch(self, order: Array | None, rows: tuple[int, int]
               ) -> tuple[Tensor, Array, Array, Array | None, Array | None]:
        """The batch's inputs, targets (as the loss sees them and in their own units),
        weights and true classes."""
        data, scoring = self.data, self.scoring
        assert scoring is not None
        if self.full is not None:
            return self.full, data.y, data.y_raw, self.w, scoring.classes()
        idx: Any = slice(*rows) if order is None else order[rows[0]:rows[1]]
        w = None if self.w is None else self.w[idx]
        return (Tensor(data.X[idx], device=self.device), data.y[idx], data.y_raw[idx], w,
                scoring.classes(idx))

    def _start_epoch(self, epoch: int) -> tuple[Position, Tally]:
        state = self.state
        if self.scoring is None:
            self.scoring = self.make_scoring(self.data.y_raw)
        tally = self.scoring.tally()
        pos, state.position = state.position, None
        if pos is None:  # a new epoch
            for cb in self.callbacks:
                cb.on_epoch_begin(epoch, {})
            pos = Position(0, state.rng.bit_generator.state, self.step.optimizer.lr)
        else:  # resuming inside an epoch: draw the same order again and skip ahead
            state.rng.bit_generator.state = pos.rng
            if pos.tally is not None:
                tally.load(pos.tally)
        return pos, tally

    def _stop_nonfinite(self, epoch: int, batch: int, done: StepOutcome) -> None:
        self.state.stop_nonfinite(epoch, batch, done.nonfinite, NonFiniteGuard.message(
            epoch, batch, done.nonfinite, done.xb, self.step.optimizer.lr))

    def run_epoch(self, epoch: int) -> dict[str, Any]:
        """One epoch of ``steps`` steps (over every rank), ``own_steps`` of them with rows of
        this rank; returns its logs."""
        state = self.state
        pos, tally = self._start_epoch(epoch)
        n, bs = len(self.data.X), self.data.batch_size
        self._train_mode()
        order = state.rng.permutation(n) if self.shuffle and bs < n else None
        for batch in range(pos.batch, self.steps):
            if self.fast is not None and batch <= pos.batch + 1:  # (after one step that
                # makes the optimizer's state, where it has none yet)
                state.in_step = True
                ran = self.fast.run(batch, order, tally, state.target_scaler is not None,
                                    self.scoring)
                if ran is not None:
                    stopped, done = ran
                    if done is not None:
                        self._stop_nonfinite(epoch, stopped, done)
                        break
                    state.position = Position(stopped, pos.rng, pos.lr, n, bs,
                                              tally.to_dict())
                    state.in_step = False
                    if state.stop_requested:
                        raise InterruptError
                    break
            state.in_step = True
            xb, yb, yr, wb, classes = self._batch(order,
                                                  batch_rows(batch, n, bs, self.own_steps))
            done = self.step(xb, yb, yr, wb, tally, state.stop_training, state.target_scaler,
                             classes)
            if done.stop_asked:
                state.stop()
                break
            if done.nonfinite is not None:
                self._stop_nonfinite(epoch, batch, done)
                break
            state.position = Position(batch + 1, pos.rng, pos.lr, n, bs, tally.to_dict())
            state.in_step = False
            for cb in self.callbacks:
                cb.on_batch_end(batch, {"loss": done.loss, "size": len(yb)})
            if state.stop_requested:
                raise InterruptError
        state.in_step = False
        state.position = None
        average_buffers(self.step.model, self.comm)
        logs: dict[str, Any] = tally.results(self.comm)
        if self.data.Xv is not None:  # the model is finite even after the guard stopped
            logs.update(self.validate())
        logs["lr"] = pos.lr
        return logs
