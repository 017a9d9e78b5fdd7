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

import math
from typing import TYPE_CHECKING, Any

import numpy as np

from ..engine import Tensor, no_grad
from .metrics import Metric
from .targets import weighted_loss
from .tasks import Task

if TYPE_CHECKING:
    from .preparation import RunData
    from .trainer import Trainer

__all__ = ["Tally", "average_buffers", "batch_rows", "evaluate_arrays", "relative_weights",
           "run_epochs", "steps_per_epoch"]

Array = np.ndarray


class InterruptError(Exception):
    """Raised inside the loop to end training at a consistent point (after a whole step)."""


class Tally:
    """Running sums of one pass over data: the weighted loss, the total weight, and each
    metric's additive statistics.  Turned into means over every rank by :meth:`results`."""

    def __init__(self, metrics: list[Metric], task: Task, y: Array) -> None:
        self.metrics = metrics
        self.task = task
        self.loss = 0.0
        self.weight = 0.0
        # Zero rows give zero statistics of the right length, so a rank with no rows still
        # sends a buffer of the same size as the others.
        self.stats = {m.name: np.asarray(m.stats(*self._pair(m, y[:0], y[:0]), None),
                                         dtype=np.float64) for m in metrics}

    def _pair(self, m: Metric, out: Array, y: Array) -> tuple[Array, Array]:
        if m.needs == "values":
            return y, out
        true = self.task.target_classes(y)
        if m.needs == "classes":
            return true, self.task.classes(out) if len(out) else true
        return true, self.task.probabilities(out) if len(out) else np.zeros(0)

    def add(self, loss: float, weight: float, out: Array, y: Array, w: Array | None) -> None:
        """Add one batch: its mean ``loss`` over ``weight``, and its outputs for the metrics."""
        self.loss += loss * weight
        self.weight += weight
        for m in self.metrics:
            self.stats[m.name] += m.stats(*self._pair(m, out, y), w)

    def results(self, comm: Any, prefix: str = "") -> dict[str, float]:
        """``loss`` and each metric (prefixed), over every rank, in one reduction."""
        flat = np.concatenate([[self.loss, self.weight], *self.stats.values()])
        total = comm.sum(flat)
        logs = {prefix + "loss": float(total[0] / total[1]) if total[1] > 0 else math.nan}
        offset = 2
        for m in self.metrics:
            n = len(self.stats[m.name])
            logs[prefix + m.name] = float(m.result(total[offset:offset + n]))
            offset += n
        return logs

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (for a checkpoint taken inside an epoch)."""
        return {"loss": self.loss, "weight": self.weight,
                "stats": {k: v.tolist() for k, v in self.stats.items()}}

    def load(self, d: dict[str, Any]) -> None:
        """Continue from :meth:`to_dict`'s output."""
        self.loss, self.weight = float(d["loss"]), float(d["weight"])
        for k, v in d["stats"].items():
            if k in self.stats:
                self.stats[k] = np.asarray(v, dtype=np.float64)


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


def relative_weights(w: Array | None, comm: Any) -> Array | None:
    """Sample weights divided by their largest over every rank (every rank must call it).
    The weighted mean loss and every metric are ratios of weighted sums, so this changes no
    result, and weights of 1e308 no longer overflow a float32 loss or a batch's sum."""
    top = max(comm.gather(float(w.max()) if w is not None and len(w) else 0.0))
    return w if w is None or top <= 0 else w / top


def _batch(data: RunData, order: Array | None, rows: tuple[int, int],
           full: Tensor | None) -> tuple[Tensor, Array, Array, Array | None]:
    if full is not None:
        return full, data.y, data.y_raw, data.w
    idx: Any = slice(*rows) if order is None else order[rows[0]:rows[1]]
    w = None if data.w is None else data.w[idx]
    return Tensor(data.X[idx]), data.y[idx], data.y_raw[idx], w


def _train_step(t: Trainer, xb: Tensor, yb: Array, yr: Array, wb: Array | None,
                tally: Tally, epoch: int, batch: int) -> float | None:
    """One step on this rank's batch (possibly empty); returns the batch's loss, or None when
    training stops."""
    opt = t.optimizer
    opt.zero_grad()
    out = None
    value = 0.0
    if len(yb) and (wb is None or wb.max() > 0):  # rows of weight 0 carry no gradient
        fast = t.compiled.plan(t.model, t.loss_fn, xb, yb) if t.compiled is not None and \
            wb is None else None
        if fast is not None:
            value, out = t.compiled.run(fast, xb, yb)
        else:
            out = t.model(xb)
            loss = _batch_loss(t, out, yb, wb)
            loss.backward()
            value = float(loss.item())
    weight = float(len(yb) if wb is None else wb.sum())
    reduced = t.comm.average_gradients(t.guard.tensors, weight, value, t.stop_training)
    if reduced.stop:  # a callback on some rank asked to stop after the previous step
        t.stop_training = True
        return None
    note = f" on {reduced.nonfinite} of {t.comm.size} ranks" if reduced.nonfinite else ""
    what = t.guard.check_before(reduced.loss, xb, note)
    if what is None and t.clip_grad_norm is not None:
        from ..nn.utils import clip_grad_norm_

        clip_grad_norm_(t.guard.tensors, t.clip_grad_norm)
    if what is None:
        what = t.guard.step(opt.step)
    if what is not None:
        t.stop_nonfinite(epoch, batch, what, xb)
        return None
    if out is None:
        return reduced.loss
    outputs = out.data if t.target_scaler is None else t.target_scaler.inverse(out.data)
    if t.target_scaler is not None:  # report the loss in the target's own units
        with no_grad():
            value = _loss_value(t, Tensor(outputs.astype(out.data.dtype)), yr, wb)
    tally.add(value, weight, outputs, yr, wb)
    return value


def _batch_loss(t: Trainer, out: Tensor, y: Array, w: Array | None) -> Tensor:
    """The batch's (weighted) mean loss.  The weights are divided by the batch's largest
    first: the weighted mean does not change, and in the float32 loss a batch whose weights
    are all tiny next to another batch's (1 beside 1e308) keeps them apart from 0."""
    return t.loss_fn(out, y) if w is None else weighted_loss(t.loss_fn, out, y, w / w.max())


def _loss_value(t: Trainer, out: Tensor, y: Array, w: Array | None) -> float:
    loss = _batch_loss(t, out, y, w)
    return float(loss.item())


def _start_epoch(t: Trainer, data: RunData, epoch: int) -> tuple[dict[str, Any], Tally]:
    tally = Tally(t.metric_list, t.task, data.y_raw)
    pos, t._position = t._position, None
    if pos is None:  # a new epoch
        for cb in t.callbacks:
            cb.on_epoch_begin(epoch, {})
        pos = {"batch": 0, "rng": t.rng.bit_generator.state, "lr": t.optimizer.lr}
    else:  # resuming inside an epoch: draw the same order again and skip ahead
        t.rng.bit_generator.state = pos["rng"]
        tally.load(pos["tally"])
    return pos, tally


def average_buffers(t: Trainer) -> None:
    """Under MPI, replace every floating buffer of the model (BatchNorm's ``running_mean``
    and ``running_var``) by its plain mean over the ranks, each rank counting once, in one
    reduction.  Between these calls each rank updates its own copy from its own batches by
    PyTorch's rule, as one process would; integer buffers are left as they are."""
    if t.comm.size == 1:
        return
    buffers = [b for _, b in t.model.named_buffers() if b is not None and b.dtype.kind == "f"]
    if not buffers:  # every rank holds the same model, so every rank skips together
        return
    total = t.comm.sum(np.concatenate([b.ravel().astype(np.float64) for b in buffers]))
    offset = 0
    for b in buffers:
        b[...] = (total[offset:offset + b.size] / t.comm.size).reshape(b.shape)
        offset += b.size


def _run_epoch(t: Trainer, data: RunData, full: Tensor | None, epoch: int,
               own_steps: int) -> dict[str, Any]:
    """One epoch of ``data.steps`` steps (over every rank), ``own_steps`` of them with rows of
    this rank."""
    pos, tally = _start_epoch(t, data, epoch)
    n, bs = len(data.X), data.batch_size
    t.model.train()
    order = t.rng.permutation(n) if t.shuffle and bs < n else None
    for batch in range(pos["batch"], data.steps):
        t._in_step = True
        xb, yb, yr, wb = _batch(data, order, batch_rows(batch, n, bs, own_steps), full)
        value = _train_step(t, xb, yb, yr, wb, tally, epoch, batch)
        if value is None:
            break
        t._position = {"batch": batch + 1, "rng": pos["rng"], "lr": pos["lr"], "samples": n,
                       "batch_size": bs, "tally": tally.to_dict()}
        t._in_step = False
        for cb in t.callbacks:
            cb.on_batch_end(batch, {"loss": value, "size": len(yb)})
        if t._stop_requested:
            raise InterruptError
    t._in_step = False
    t._position = None
    average_buffers(t)
    logs: dict[str, Any] = tally.results(t.comm)
    if data.Xv is not None:  # the model is finite even after the guard stopped the epoch
        logs.update(t.evaluate_prepared(data.Xv, data.yv, data.wv, "val_"))
    logs["lr"] = pos["lr"]
    return logs


def evaluate_arrays(t: Trainer, X: Array, y: Array, w: Array | None, prefix: str = "",
                    batch_size: int = 4096) -> dict[str, float]:
    """Loss and metrics of ``t.model`` on checked arrays, under ``no_grad``, over every
    rank (outputs in the target's units while a target scaler is in use)."""
    tally = Tally(t.metric_list, t.task, y)
    w = relative_weights(w, t.comm)
    scaler = t.target_scaler if not t.target_folded else None
    was_training = t.model.training
    t.model.eval()
    try:
        with no_grad():
            for start in range(0, len(X), batch_size):
                stop = start + batch_size
                yb, wb = y[start:stop], None if w is None else w[start:stop]
                if wb is not None and not wb.max() > 0:
                    continue  # rows of weight 0 count for nothing
                out = t.model(Tensor(X[start:stop]))
                if scaler is not None:
                    out = Tensor(scaler.inverse(out.data).astype(out.data.dtype))
                loss = _batch_loss(t, out, yb, wb)
                tally.add(float(loss.item()), float(len(yb) if wb is None else wb.sum()),
                          out.data, yb, wb)
    finally:
        t.model.train(was_training)
    return tally.results(t.comm, prefix)


def run_epochs(t: Trainer, data: RunData) -> None:
    """Train until ``t.epoch`` reaches ``t.epochs`` or something stops training."""
    full = Tensor(data.X) if data.batch_size == len(data.X) and len(data.X) else None
    data.w = relative_weights(data.w, t.comm)
    own_steps = steps_per_epoch(len(data.X), data.batch_size, min_train_batch(t.model))
    data.steps = t.comm.max(own_steps)  # a rank whose rows run out joins with none
    while t.epoch < t.epochs and not t.stop_training:
        epoch = t.epoch
        logs = _run_epoch(t, data, full, epoch, own_steps)
        t.epoch += 1
        t.epochs_run += 1
        for cb in t.callbacks:
            cb.on_epoch_end(epoch, logs)
        t.history.append(epoch, logs)
        t.stop_training = t.comm.any(t.stop_training)
        if (t.checkpoint is not None and t.epoch % t.checkpoint_every == 0
                and t.epoch < t.epochs and not t.stop_training and t.comm.is_chief):
            t.save_checkpoint(t.checkpoint)
        if t._stop_requested:
            raise InterruptError
