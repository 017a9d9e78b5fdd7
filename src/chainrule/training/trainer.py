"""The training loop: :func:`fit` and the :class:`Trainer` behind it.

One epoch shuffles the example order (from one seeded generator), walks it in mini-batches,
and for each batch runs forward, loss, ``backward()`` and ``optimizer.step()``, the seeds'
four steps.  The epoch's training loss and accuracy are averaged over the batches as they were
computed (before each update, as Keras reports them); validation numbers are computed after the
epoch under :func:`chainrule.no_grad`.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Callable, Iterable, Sequence
from typing import Any, TextIO

import numpy as np

from .. import nn, optim
from ..data.preprocessing import DataError, check_features, check_finite, train_test_split
from ..engine import Tensor, no_grad
from .callbacks import Callback, CSVLogger, ModelCheckpoint, TerminateOnNaN
from .progress import ProgressLogger
from .registry import CLASSIFICATION_LOSSES, ConfigError, get_loss, get_optimizer

__all__ = ["History", "Trainer", "evaluate", "fit"]

Array = np.ndarray


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


def _model_dtype(model: nn.Module) -> np.dtype:
    params = model.parameters()
    return params[0].data.dtype if params else np.dtype(np.float32)


def _last_module(model: nn.Module) -> nn.Module:
    mods = list(model) if isinstance(model, nn.Sequential) else []
    return mods[-1] if mods else model


class Trainer:
    """Holds everything a training run needs between epochs.

    Usually reached through :func:`fit`; keep a Trainer to call :meth:`fit` again and continue
    (the epoch count, the shuffling generator and the optimizer state carry on), and to save
    or restore the whole run with :meth:`state_dict` / :meth:`load_state_dict`.
    """

    def __init__(self, model: nn.Module, *, loss: str | Callable[..., Any] = "auto",
                 optimizer: str | optim.Optimizer = "adam", lr: float | None = None,
                 batch_size: int | None = 32, shuffle: bool = True, seed: int | None = None,
                 callbacks: Iterable[Callback] = (), verbose: int = 1,
                 metrics: str | Sequence[str] = "auto", terminate_on_nan: bool = True,
                 stream: TextIO | None = None, stratify: bool | None = None,
                 distributed: bool = False) -> None:
        if not isinstance(model, nn.Module):
            raise ConfigError(f"fit: model must be a chainrule.nn.Module, got "
                              f"{type(model).__name__}")
        if not model.parameters():
            raise ConfigError("fit: the model has no parameters to train")
        if batch_size is not None and (not isinstance(batch_size, (int, np.integer))
                                       or isinstance(batch_size, bool) or batch_size < 1):
            raise ConfigError(f"fit: batch_size must be a positive integer or None (full "
                              f"batch), got {batch_size!r}")
        if verbose not in (0, 1, 2):
            raise ConfigError(f"fit: verbose must be 0, 1 or 2, got {verbose!r}")
        self.model = model
        self.loss_spec = loss
        self.loss_fn: Callable[..., Any] | None = None if loss == "auto" else get_loss(loss)
        self.optimizer = get_optimizer(optimizer, model.parameters(), lr)
        self.batch_size = None if batch_size is None else int(batch_size)
        self.shuffle = shuffle
        seq = np.random.SeedSequence(seed)
        self.seed = seq.entropy
        split_seq, shuffle_seq = seq.spawn(2)
        self.split_rng = np.random.default_rng(split_seq)
        self.rng = np.random.default_rng(shuffle_seq)
        self.callbacks = list(callbacks)
        for cb in self.callbacks:
            if not isinstance(cb, Callback):
                raise ConfigError(f"fit: callbacks must be Callback objects, got "
                                  f"{type(cb).__name__}")
        if terminate_on_nan and not any(isinstance(cb, TerminateOnNaN) for cb in self.callbacks):
            self.callbacks.append(TerminateOnNaN())
        # Data-parallel over MPI: gradients are averaged across ranks each step, metrics are
        # summed across ranks, and only rank 0 prints or writes files.
        self.dist = None
        if distributed:
            from ..distributed import DistributedOptimizer

            self.dist = DistributedOptimizer(self.optimizer)
            if self.dist.rank != 0:
                verbose = 0
                self.callbacks = [cb for cb in self.callbacks
                                  if not isinstance(cb, (ModelCheckpoint, CSVLogger))]
        if verbose:
            self.callbacks.append(ProgressLogger(verbose, stream=stream))
        self.metrics_spec = metrics
        self.stratify = stratify
        self.verbose = verbose
        self.history = History()
        self.epoch = 0  # epochs completed so far
        self.epochs = 0  # the epoch count the current fit() runs up to
        self.epochs_run = 0
        self.stop_training = False
        self.stop_reason: str | None = None
        self.interrupted = False

    # -- preparing data -----------------------------------------------------------------------
    def _resolve_loss(self, y: Array) -> None:
        if self.loss_fn is not None:
            return
        if isinstance(_last_module(self.model), nn.Sigmoid):
            self.loss_fn = nn.BCELoss()
        elif y.ndim == 1 and y.dtype.kind in "iub":
            self.loss_fn = nn.CrossEntropyLoss()
        else:
            self.loss_fn = nn.MSELoss()

    @property
    def is_classifier(self) -> bool:
        """Whether the loss is a classification loss (then accuracy is measured)."""
        return isinstance(self.loss_fn, CLASSIFICATION_LOSSES)

    def _prepare(self, X: Any, y: Any, name: str) -> tuple[Array, Array]:
        X = check_features(X, f"{name}X" if name else "X")
        X = X.astype(_model_dtype(self.model), copy=False)
        y = np.asarray(y)
        if y.ndim == 0 or len(y) != len(X):
            raise DataError(f"{name}X has {len(X)} examples but {name}y has "
                            f"{'no length' if y.ndim == 0 else len(y)}")
        if y.dtype.kind not in "biuf":
            raise DataError(f"{name}y must hold numbers (encode string labels first, e.g. with "
                            f"chainrule.data.LabelEncoder), got dtype {y.dtype}")
        self._resolve_loss(y)
        if isinstance(self.loss_fn, nn.CrossEntropyLoss):
            if y.ndim == 2 and y.shape[1] == 1 and y.dtype.kind in "iub":
                y = y[:, 0]
            if y.ndim == 1 and y.dtype.kind == "f":
                if not np.all(np.isfinite(y)) or np.any(y != np.round(y)):
                    raise DataError(f"{name}y holds non-integer values but cross-entropy needs "
                                    "integer class labels 0..C-1")
                y = y.astype(np.int64)
            if y.ndim == 1 and y.size and y.min() < 0:
                raise DataError(f"{name}y holds the negative class label {y.min()}; labels "
                                "must be 0..C-1")
        elif isinstance(self.loss_fn, (nn.MSELoss, nn.BCELoss, nn.BCEWithLogitsLoss)):
            if y.ndim == 1:
                y = y.reshape(-1, 1)
            y = y.astype(X.dtype, copy=False)
        if y.dtype.kind == "f":
            check_finite(y, f"{name}y")
        if isinstance(self.loss_fn, (nn.BCELoss, nn.BCEWithLogitsLoss)) and y.size and (
                y.min() < 0 or y.max() > 1):
            raise DataError(f"{name}y must hold 0/1 labels (or probabilities) for binary "
                            f"cross-entropy, got values from {y.min()} to {y.max()}")
        return X, y

    def _stratify_labels(self, y: Array) -> Array | None:
        """Class labels to stratify a validation split by (None: do not stratify).

        ``stratify=None`` decides from the loss; True takes labels from ``y`` (integer labels,
        one 0/1 column, or one-hot rows) whatever the loss.
        """
        if self.stratify is False:
            return None
        if self.stratify:
            return y if y.ndim == 1 else (y[:, 0] if y.shape[1] == 1 else y.argmax(axis=1))
        if isinstance(self.loss_fn, nn.CrossEntropyLoss) and y.ndim == 1:
            return y
        if self.is_classifier and y.ndim == 2 and y.shape[1] == 1:
            return y[:, 0]
        return None

    # -- metrics ------------------------------------------------------------------------------
    def _metric_names(self) -> list[str]:
        spec = self.metrics_spec
        if spec == "auto":
            return ["accuracy"] if self.is_classifier else []
        names = [spec] if isinstance(spec, str) else list(spec)
        for m in names:
            if m not in ("accuracy", "mae"):
                raise ConfigError(f"unknown metric {m!r}; choose one of accuracy, mae")
        return names

    def _decisions(self, out: Array, y: Array) -> tuple[Array, Array]:
        """Predicted and true classes (per entry for one-column outputs)."""
        if out.ndim == 2 and out.shape[1] > 1 and not isinstance(
                self.loss_fn, (nn.BCELoss, nn.BCEWithLogitsLoss)):
            true = y if y.ndim == 1 else y.argmax(axis=1)
            return out.argmax(axis=1), true
        logits = isinstance(self.loss_fn, nn.BCEWithLogitsLoss) or not isinstance(
            _last_module(self.model), nn.Sigmoid)
        pred = out > (0.0 if logits else 0.5)
        return pred, np.asarray(y).reshape(pred.shape) > 0.5

    def _batch_metrics(self, names: list[str], out: Array, y: Array) -> dict[str, float]:
        """Sums (not means) of each metric over the batch, and the count they are over."""
        sums: dict[str, float] = {}
        for m in names:
            if m == "accuracy":
                pred, true = self._decisions(out, y)
                sums[m] = float(np.sum(pred == true)) / max(1, pred.size // len(out))
            elif m == "mae":
                sums[m] = float(np.abs(out - y.reshape(out.shape)).mean(axis=tuple(
                    range(1, out.ndim))).sum()) if out.ndim > 1 else float(
                    np.abs(out - y).sum())
        return sums

    def evaluate(self, X: Any, y: Any, batch_size: int = 4096, prefix: str = "",
                 prepared: bool = False) -> dict[str, float]:
        """Loss and metrics of the model on ``(X, y)``, computed under ``no_grad``."""
        if not prepared:
            X, y = self._prepare(X, y, prefix)
        names = self._metric_names()
        was_training = self.model.training
        self.model.eval()
        total = 0.0
        sums = dict.fromkeys(names, 0.0)
        try:
            with no_grad():
                for start in range(0, len(X), batch_size):
                    xb, yb = X[start:start + batch_size], y[start:start + batch_size]
                    out = self.model(Tensor(xb))
                    total += float(self.loss_fn(out, yb).item()) * len(xb)
                    for k, v in self._batch_metrics(names, out.data, yb).items():
                        sums[k] += v
        finally:
            self.model.train(was_training)
        return self._averages(prefix, total, sums, len(X))

    def _averages(self, prefix: str, total: float, sums: dict[str, float],
                  n: int) -> dict[str, float]:
        """Turn sums over ``n`` examples into means (over every rank when distributed)."""
        if self.dist is not None:
            total, *rest, n = self.dist.sum(np.array([total, *sums.values(), n], dtype=float))
            sums = dict(zip(sums, rest))
        return {prefix + "loss": total / n, **{prefix + k: v / n for k, v in sums.items()}}

    # -- the loop -----------------------------------------------------------------------------
    def fit(self, X: Any, y: Any, epochs: int = 1, *,
            validation_data: tuple[Any, Any] | None = None,
            validation_split: float = 0.0) -> History:
        """Train for ``epochs`` more epochs; returns the :class:`History` of the whole run."""
        if not isinstance(epochs, (int, np.integer)) or epochs < 0:
            raise ConfigError(f"fit: epochs must be a non-negative integer, got {epochs!r}")
        X, y = self._prepare(X, y, "")
        if validation_data is not None and validation_split:
            raise ConfigError("fit: give validation_data or validation_split, not both")
        if validation_data is not None:
            if not (isinstance(validation_data, (tuple, list)) and len(validation_data) == 2):
                raise ConfigError("fit: validation_data must be a pair (X_val, y_val)")
            Xv, yv = self._prepare(*validation_data, "val_")
        elif validation_split:
            if not 0 < validation_split < 1:
                raise ConfigError(f"fit: validation_split must be in (0, 1), got "
                                  f"{validation_split}")
            X, Xv, y, yv = train_test_split(X, y, validation_split,
                                            stratify=self._stratify_labels(y),
                                            seed=self.split_rng)
        else:
            Xv = yv = None
        n = len(X)
        bs = n if self.batch_size is None else self.batch_size
        bs = min(bs, n)  # a batch larger than the data set is the whole set (as in Keras)
        names = self._metric_names()
        self.history.params = {"epochs": int(epochs), "batch_size": bs, "samples": n,
                               "validation_samples": 0 if Xv is None else len(Xv)}
        self.epochs = self.epoch + int(epochs)
        self.stop_training = False
        self.stop_reason = None
        self.interrupted = False
        self.epochs_run = 0
        for cb in self.callbacks:
            cb.set_trainer(self)
        was_training = self.model.training
        full = Tensor(X) if bs == n else None
        try:
            for cb in self.callbacks:
                cb.on_train_begin({})
            self._run(X, y, Xv, yv, bs, names, full)
        except KeyboardInterrupt:
            self.interrupted = True
            self.stop_reason = "interrupted with Ctrl-C"
            self.model.zero_grad()
        finally:
            self.model.train(was_training)
        for cb in self.callbacks:
            cb.on_train_end({})
        self.history.stop_reason = self.stop_reason
        self.history.interrupted = self.interrupted
        return self.history

    def _run(self, X: Array, y: Array, Xv: Array | None, yv: Array | None, bs: int,
             names: list[str], full: Tensor | None) -> None:
        model, opt, loss_fn, dist = self.model, self.optimizer, self.loss_fn, self.dist
        n = len(X)
        steps = -(-n // bs)
        if dist is not None:  # every rank must take part in every step's Allreduce
            steps = dist.max(steps)
        while self.epoch < self.epochs and not self.stop_training:
            epoch = self.epoch
            for cb in self.callbacks:
                cb.on_epoch_begin(epoch, {})
            lr = opt.lr
            model.train()
            order = self.rng.permutation(n) if self.shuffle and bs < n else None
            total = 0.0
            sums = dict.fromkeys(names, 0.0)
            for batch in range(steps):
                start = batch * bs
                if start >= n:  # this rank's shard is used up: join the Allreduce empty-handed
                    opt.zero_grad()
                    dist.allreduce_gradients(0)
                    opt.step()
                    continue
                if full is not None:
                    xb, yb = full, y
                elif order is None:
                    xb, yb = Tensor(X[start:start + bs]), y[start:start + bs]
                else:
                    idx = order[start:start + bs]
                    xb, yb = Tensor(X[idx]), y[idx]
                opt.zero_grad()
                out = model(xb)
                loss = loss_fn(out, yb)
                loss.backward()
                size = len(yb)
                if dist is not None:
                    dist.allreduce_gradients(size)
                opt.step()
                value = float(loss.item())
                total += value * size
                for k, v in self._batch_metrics(names, out.data, yb).items():
                    sums[k] += v
                for cb in self.callbacks:
                    cb.on_batch_end(batch, {"loss": value, "size": size})
                if self.stop_training:
                    break
            logs: dict[str, Any] = self._averages("", total, sums, n)
            if Xv is not None and not self.stop_training:
                logs.update(self.evaluate(Xv, yv, prefix="val_", prepared=True))
            logs["lr"] = lr
            self.epoch += 1
            self.epochs_run += 1
            for cb in self.callbacks:
                cb.on_epoch_end(epoch, logs)
            self.history.append(epoch, logs)

    # -- saving and restoring a run -------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """Model weights, optimizer state, shuffling generator, epoch and history."""
        return {"model": self.model.state_dict(), "optimizer": self.optimizer.state_dict(),
                "rng": self.rng.bit_generator.state, "epoch": self.epoch,
                "history": self.history.to_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what :meth:`state_dict` returned, to continue the run exactly."""
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.rng.bit_generator.state = state["rng"]
        self.epoch = int(state["epoch"])
        self.history = History.from_dict(state["history"])


def fit(model: nn.Module, X: Any, y: Any, *, loss: str | Callable[..., Any] = "auto",
        optimizer: str | optim.Optimizer = "adam", lr: float | None = None, epochs: int = 10,
        batch_size: int | None = 32, validation_data: tuple[Any, Any] | None = None,
        validation_split: float = 0.0, shuffle: bool = True, seed: int | None = None,
        callbacks: Iterable[Callback] = (), verbose: int = 1,
        metrics: str | Sequence[str] = "auto", terminate_on_nan: bool = True,
        stream: TextIO | None = None, distributed: bool = False) -> History:
    """Train ``model`` on ``(X, y)`` and return the :class:`History`.

    - ``loss``: a loss module or callable, or a name (``mse``, ``bce``, ``bce_with_logits``,
      ``cross_entropy``); ``"auto"`` picks ``bce`` after a final Sigmoid, ``cross_entropy`` for
      integer labels, ``mse`` otherwise.
    - ``optimizer``: an optimizer over the model's parameters, or a name (``sgd``, ``adam``,
      ``adamw``, ``rmsprop``) built with ``lr`` (default: that optimizer's own).
    - ``batch_size``: examples per step; ``None`` (or anything at least the number of
      examples) uses the whole set, the seeds' batch gradient descent.  ``shuffle`` reorders
      the examples every epoch from ``seed``.
    - ``validation_data=(X_val, y_val)`` or ``validation_split`` (a fraction of ``X`` held out,
      stratified by class for classification losses) adds ``val_`` metrics to each epoch.
    - ``callbacks``: :class:`~chainrule.training.Callback` objects; a
      :class:`~chainrule.training.TerminateOnNaN` is added unless ``terminate_on_nan=False``.
    - ``verbose``: 0 silent, 1 progress bar on a terminal (one line per epoch otherwise),
      2 lines always.  ``metrics``: ``"auto"`` (accuracy for classification) or names.
    - ``distributed=True`` (under ``mpiexec``, with ``chainrule[mpi]``): each rank passes its
      own shard of the rows; ``batch_size`` is per rank, gradients are averaged over all ranks
      (weighted by examples) every step, reported metrics cover every rank's data, and only
      rank 0 prints and writes files.  See :mod:`chainrule.distributed`.

    Ctrl-C ends training cleanly: callbacks still finish (restoring best weights, closing
    files) and the history so far is returned with ``interrupted=True``.

    >>> import numpy as np, chainrule as cr
    >>> from chainrule import nn
    >>> X = np.random.default_rng(0).normal(size=(64, 2)); y = (X.sum(axis=1) > 0).astype(int)
    >>> model = nn.Sequential(nn.Linear(2, 2, rng=0))
    >>> h = cr.fit(model, X, y, epochs=30, lr=0.05, seed=0, verbose=0)
    >>> h["accuracy"][-1] > 0.9
    True
    """
    trainer = Trainer(model, loss=loss, optimizer=optimizer, lr=lr, batch_size=batch_size,
                      shuffle=shuffle, seed=seed, callbacks=callbacks, verbose=verbose,
                      metrics=metrics, terminate_on_nan=terminate_on_nan,
                      stream=stream if stream is not None else sys.stdout,
                      distributed=distributed)
    history = trainer.fit(X, y, epochs, validation_data=validation_data,
                          validation_split=validation_split)
    history.trainer = trainer
    return history


def evaluate(model: nn.Module, X: Any, y: Any, *, loss: str | Callable[..., Any] = "auto",
             metrics: str | Sequence[str] = "auto") -> dict[str, float]:
    """Loss and metrics (accuracy for classification) of ``model`` on ``(X, y)``, no training.

    >>> import numpy as np
    >>> from chainrule import nn
    >>> model = nn.Sequential(nn.Linear(1, 1, rng=0))
    >>> sorted(evaluate(model, np.ones((4, 1)), np.zeros(4), loss="mse"))
    ['loss']
    """
    trainer = Trainer(model, loss=loss, optimizer="sgd", verbose=0, metrics=metrics,
                      terminate_on_nan=False)
    return trainer.evaluate(X, y)
