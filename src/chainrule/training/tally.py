"""Summing a pass over data: :class:`Tally`, the batch loss, and evaluation in batches.

A pass over data (one training epoch, or an evaluation) adds each batch's weighted loss and
each metric's additive statistics to a :class:`Tally`; :meth:`Tally.results` turns the sums
into means over every MPI rank in one reduction, so the numbers cover every rank's rows.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..distributed import communicator
from ..engine import Tensor, no_grad
from .metrics import METRICS, Metric
from .targets import TargetScaler, weighted_loss
from .tasks import Task

__all__ = ["Scoring", "Tally", "batch_loss", "evaluate_batches", "relative_weights"]

Array = np.ndarray
_ONE = communicator(False)  # one process: its sums are the totals


class Tally:
    """Running sums of one pass over data: the weighted loss, the total weight, and each
    metric's additive statistics.  Turned into means over every rank by :meth:`results`.

    >>> from chainrule.training import metrics, tasks
    >>> t = Tally([metrics.get("mae")], tasks.get("regression"), np.zeros((0, 1)))
    >>> t.add(0.5, 2.0, np.array([[1.0], [2.0]]), np.array([[0.0], [0.0]]), None)
    >>> from chainrule.distributed import communicator
    >>> t.results(communicator(False))
    {'loss': 0.5, 'mae': 1.5}
    """

    def __init__(self, metrics: list[Metric], task: Task, y: Array,
                 zero: dict[str, Array] | None = None) -> None:
        self.metrics = metrics
        self.task = task
        self.loss = 0.0
        self.weight = 0.0
        # Zero rows give zero statistics of the right length, so a rank with no rows still
        # sends a buffer of the same size as the others (``zero``: those of an earlier tally).
        self.stats = {m.name: np.asarray(m.stats(*self._pair(m, y[:0], y[:0], None), None),
                                         dtype=np.float64) for m in metrics} \
            if zero is None else {k: v.copy() for k, v in zero.items()}

    def _pair(self, m: Metric, out: Array, y: Array,
              classes: Array | None) -> tuple[Array, Array]:
        if m.needs == "values":
            return y, out
        true = self.task.target_classes(y) if classes is None else classes
        if m.needs == "classes":
            return true, self.task.classes(out) if len(out) else true
        return true, self.task.probabilities(out) if len(out) else np.zeros(0)

    def add(self, loss: float, weight: float, out: Array, y: Array, w: Array | None,
            classes: Array | None = None) -> None:
        """Add one batch: its mean ``loss`` over ``weight``, and its outputs for the metrics
        (``classes``: the true classes of ``y``, where they are known already)."""
        self.loss += loss * weight
        self.weight += weight
        if classes is None and any(m.needs != "values" for m in self.metrics):
            classes = self.task.target_classes(y)  # once, for every metric that reads them
        for m in self.metrics:
            self.stats[m.name] += m.stats(*self._pair(m, out, y, classes), w)

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


class Scoring:
    """How one ``fit`` sums its training epochs: the metrics, the task that reads the
    outputs, and the training targets ``y`` (in their own units), whose true classes are
    worked out once for the whole run (a row's class depends on that row alone, so a
    batch's are a slice of them) rather than once a batch.

    >>> from chainrule.training import metrics, tasks
    >>> s = Scoring([metrics.get("accuracy")], tasks.get("multiclass"), np.array([2, 0, 1]))
    >>> s.classes(np.array([2, 0])).tolist(), s.tally().stats
    ([1, 2], {'accuracy': array([0., 0.])})
    """

    def __init__(self, metrics: list[Metric], task: Task, y: Array) -> None:
        self.metrics, self.task, self.y = metrics, task, y
        self._zero = Tally(metrics, task, y).stats
        self._reads_classes = any(m.needs != "values" for m in metrics)
        self._classes: Array | None = None

    def tally(self) -> Tally:
        """A new, empty :class:`Tally` for one pass."""
        return Tally(self.metrics, self.task, self.y, self._zero)

    def classes(self, rows: Any = None) -> Array | None:
        """The true classes of the targets' ``rows`` (a slice or an index array; None: all),
        or None where no metric reads classes."""
        if not self._reads_classes:
            return None
        if self._classes is None:
            self._classes = self.task.target_classes(self.y)
        return self._classes if rows is None else self._classes[rows]


    def epoch_columns(self, values: Array, weight: float, outputs: Array,
                      rows: Array | None) -> dict[str, list[float]]:
        """The numbers of whole epochs of one process, as a tally of each gives them, a list
        per name (an entry an epoch): ``values[e]`` is epoch ``e``'s mean loss over
        ``weight`` (its rows), ``outputs[e]`` the model's outputs for its rows, ``rows[e]``
        which rows of the targets they were (None: all, in order).

        The loss, and unweighted accuracy of one class an example (its hits: the same whole
        numbers), are worked out for all the epochs at once; other metrics by a
        :class:`Tally` an epoch."""
        metrics = self.metrics
        plain = not metrics or (len(metrics) == 1 and metrics[0] is METRICS["accuracy"])
        if not plain or not len(values) or not weight > 0:
            return self._by_tally(values, weight, outputs, rows)
        # a tally sums 0.0 + value * weight and 0.0 + weight, then divides
        columns = {"loss": ((values * weight) / weight).tolist()}
        if metrics:
            epochs, n = outputs.shape[:2]
            predicted = self.task.classes(outputs.reshape(epochs * n, -1))
            true = self.classes(rows)
            if not n or predicted.ndim != 1 or true is None or true.ndim != (
                    1 if rows is None else 2):
                return self._by_tally(values, weight, outputs, rows)
            hits = np.count_nonzero(predicted.reshape(epochs, n) == true, axis=1)
            columns["accuracy"] = (hits.astype(np.float64) / float(n)).tolist()
        return columns

    def _by_tally(self, values: Array, weight: float, outputs: Array,
                  rows: Array | None) -> dict[str, list[float]]:
        """:meth:`epoch_columns` by a tally an epoch."""
        logs = []
        for e in range(len(values)):
            tally = self.tally()
            r = None if rows is None else rows[e]
            tally.add(float(values[e]), weight, outputs[e],
                      self.y if r is None else self.y[r], None, self.classes(r))
            logs.append(tally.results(_ONE))
        names = ["loss"] + [m.name for m in self.metrics]
        return {k: [log[k] for log in logs] for k in names}


def relative_weights(w: Array | None, comm: Any) -> Array | None:
    """Sample weights divided by their largest over every rank (every rank must call it).
    The weighted mean loss and every metric are ratios of weighted sums, so this changes no
    result, and weights of 1e308 no longer overflow a float32 loss or a batch's sum."""
    top = max(comm.gather(float(w.max()) if w is not None and len(w) else 0.0))
    return w if w is None or top <= 0 else w / top


def batch_loss(loss_fn: Any, out: Tensor, y: Array, w: Array | None) -> Tensor:
    """The batch's (weighted) mean loss.  The weights are divided by the batch's largest
    first: the weighted mean does not change, and in the float32 loss a batch whose weights
    are all tiny next to another batch's (1 beside 1e308) keeps them apart from 0."""
    return loss_fn(out, y) if w is None else weighted_loss(loss_fn, out, y, w / w.max())


def evaluate_batches(model: Any, loss_fn: Any, tally: Tally, X: Array, y: Array,
                     w: Array | None, comm: Any, scaler: TargetScaler | None = None,
                     prefix: str = "", batch_size: int = 4096) -> dict[str, float]:
    """Loss and metrics of ``model`` on checked arrays, under ``no_grad``, over every rank,
    summed in ``tally`` (outputs in the target's units when ``scaler`` is given)."""
    w = relative_weights(w, comm)
    where = model.device  # each batch goes there once; outputs come back to be scored
    was_training = model.training
    model.eval()
    try:
        with no_grad():
            for start in range(0, len(X), batch_size):
                stop = start + batch_size
                yb, wb = y[start:stop], None if w is None else w[start:stop]
                if wb is not None and not wb.max() > 0:
                    continue  # rows of weight 0 count for nothing
                out = model(Tensor(X[start:stop], device=where))
                if scaler is not None:
                    host = scaler.inverse(out.numpy()).astype(out.numpy().dtype)
                    out = Tensor(host, device="cpu")
                loss = batch_loss(loss_fn, out, yb, wb)
                tally.add(float(loss.item()), float(len(yb) if wb is None else wb.sum()),
                          out.numpy(), yb, wb)
    finally:
        model.train(was_training)
    return tally.results(comm, prefix)
