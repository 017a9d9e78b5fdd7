"""The training loop: :func:`fit` and the :class:`Trainer` behind it.

One epoch shuffles the example order (from one seeded generator), walks it in mini-batches,
and for each batch runs forward, loss, ``backward()`` and ``optimizer.step()``, the seeds'
four steps.  The epoch's training loss and accuracy are averaged over the batches as they were
computed (before each update, as Keras reports them); validation numbers are computed after the
epoch under :func:`chainrule.no_grad`.

Reliability: before each update the loss and every gradient are checked, and after it every
parameter; the first non-finite number stops training with a message naming the epoch, the
batch and the parameter (its dotted name and layer), and the model keeps the weights it had
before that step.  With ``checkpoint=path`` the whole run (model, optimizer, shuffling
generator, epoch, history, position inside the epoch) is written atomically to one file that
:meth:`Trainer.load_checkpoint` (or ``fit(..., resume=True)``) continues from exactly; Ctrl-C
finishes the current step, writes the checkpoint and returns.
"""

from __future__ import annotations

import contextlib
import math
import os
import signal
import sys
import threading
import warnings
from collections.abc import Callable, Iterable, Sequence
from typing import Any, TextIO

import numpy as np

from .. import nn, optim
from ..data.preprocessing import DataError, check_features, check_finite, train_test_split
from ..engine import Tensor, no_grad
from .callbacks import Callback, CSVLogger, ModelCheckpoint
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


def _output_width(model: nn.Module) -> int | None:
    """Outputs per example of a Sequential whose last Linear is followed only by element-wise
    layers (activations, Dropout); None when that cannot be told without running it."""
    if not isinstance(model, nn.Sequential):
        return None
    for m in reversed(list(model)):
        if isinstance(m, nn.Linear):
            return int(m.out_features)
        if isinstance(m, nn.Sequential):
            return _output_width(m)
        if type(m).__module__ != nn.Tanh.__module__:
            return None  # a custom module could change the width
    return None


def check_classes(y: Any, name: str = "y") -> None:
    """Raise :class:`DataError` when class labels ``y`` hold a single class: a classifier
    trained on it learns nothing about telling classes apart."""
    y = np.asarray(y)
    if y.ndim == 2 and y.shape[1] > 1:  # one-hot or probability rows
        labels = y.argmax(axis=1)
    else:
        labels = y.reshape(len(y), -1)[:, 0] if y.ndim else y
    if labels.size and np.all(labels == labels.flat[0]):
        raise DataError(f"{name} holds a single class ({labels.flat[0].item()!r} in all "
                        f"{len(labels)} "
                        "examples); a classifier needs examples of at least two classes")


class _InterruptError(Exception):
    """Raised inside the loop to end training at a consistent point (after a whole step)."""


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
                 distributed: bool = False,
                 checkpoint: str | os.PathLike[str] | None = None,
                 checkpoint_every: int = 1, allow_single_class: bool = True) -> None:
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
        self.terminate_on_nan = bool(terminate_on_nan)
        self.allow_single_class = allow_single_class
        if not isinstance(checkpoint_every, (int, np.integer)) or checkpoint_every < 1:
            raise ConfigError(f"fit: checkpoint_every must be a positive number of epochs, got "
                              f"{checkpoint_every!r}")
        self.checkpoint = None if checkpoint is None else os.fspath(checkpoint)
        self.checkpoint_every = int(checkpoint_every)
        self._position: dict[str, Any] | None = None  # where training stands inside an epoch
        self._stop_requested = False
        self._in_step = False
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
        self.nonfinite: dict[str, Any] | None = None

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
            width = _output_width(self.model)
            if y.ndim == 1 and y.size and width is not None and y.max() >= width:
                row = int(np.argmax(y >= width))
                raise DataError(f"{name}y holds the class label {y[row]} (row {row}) but the "
                                f"model has {width} outputs, so labels must be 0..{width - 1}; "
                                "give the last layer one output per class")
        elif isinstance(self.loss_fn, (nn.MSELoss, nn.BCELoss, nn.BCEWithLogitsLoss)):
            width = _output_width(self.model)
            if width is not None and y.ndim <= 2 and (y.shape[1] if y.ndim == 2 else 1) != width:
                cols = y.shape[1] if y.ndim == 2 else 1
                hint = ""
                if y.ndim == 1 and self.loss_spec == "auto" and y.dtype.kind == "f":
                    hint = ("; for class labels pass integers (y.astype(int)) or "
                            "loss='cross_entropy', for regression give the model one output")
                raise DataError(f"{name}y has {cols} value(s) per example but the model has "
                                f"{width} outputs ({type(self.loss_fn).__name__} compares them "
                                f"one to one){hint}")
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
        if not self.allow_single_class and self.is_classifier:
            check_classes(y)
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
        if bs > n:  # the whole set in every step, as in Keras, but said out loud
            warnings.warn(f"batch_size {bs} is larger than the {n} training examples; every "
                          f"step uses all {n} (full-batch gradient descent). Pass "
                          "batch_size=None to ask for that, or a smaller batch_size",
                          UserWarning, stacklevel=3)
            bs = n
        if self._position is not None and (self._position["samples"], self._position[
                "batch_size"]) != (n, bs):
            raise ConfigError(f"fit: the checkpoint stopped inside an epoch of "
                              f"{self._position['samples']} training examples in batches of "
                              f"{self._position['batch_size']}; this call has {n} in batches "
                              f"of {bs}. Resume with the same data, split and batch size")
        names = self._metric_names()
        self.history.params = {"epochs": int(epochs), "batch_size": bs, "samples": n,
                               "validation_samples": 0 if Xv is None else len(Xv)}
        self.epochs = self.epoch + int(epochs)
        self.stop_training = False
        self.stop_reason = None
        self.interrupted = False
        self.epochs_run = 0
        self.nonfinite = None
        self._stop_requested = False
        for cb in self.callbacks:
            cb.set_trainer(self)
        was_training = self.model.training
        full = Tensor(X) if bs == n else None
        torn = False
        previous = self._catch_sigint()
        # With the guard on, overflow is reported by it (epoch, batch, parameter), not by
        # NumPy's RuntimeWarnings from deep inside an operation.
        quiet = np.errstate(over="ignore", invalid="ignore", divide="ignore") \
            if self.terminate_on_nan else contextlib.nullcontext()
        try:
            for cb in self.callbacks:
                cb.on_train_begin({})
            with quiet:
                self._run(X, y, Xv, yv, bs, names, full)
        except (KeyboardInterrupt, _InterruptError):
            self.interrupted = True
            self.stop_reason = "interrupted with Ctrl-C"
            torn = self._in_step  # a second Ctrl-C can land inside an update
            self.model.zero_grad()
        finally:
            self._in_step = False
            if previous is not None:
                signal.signal(signal.SIGINT, previous)
            self.model.train(was_training)
        # Under MPI only epoch boundaries are checkpointed: a position inside an epoch is a
        # position in one rank's shard.  Every rank holds the same state, so rank 0 writes it.
        if self.checkpoint is not None and self._is_chief() and not (
                self.dist is not None and self._position is not None):
            if torn:
                warnings.warn(f"interrupted inside an update: {self.checkpoint} was not "
                              "rewritten and holds the last complete checkpoint",
                              UserWarning, stacklevel=2)
            else:
                self.save_checkpoint(self.checkpoint)
                if self.interrupted:
                    self.stop_reason += (f"; checkpoint saved to {self.checkpoint} (resume "
                                         "with resume=True or --resume)")
        for cb in self.callbacks:
            cb.on_train_end({})
        self.history.stop_reason = self.stop_reason
        self.history.interrupted = self.interrupted
        return self.history

    def _is_chief(self) -> bool:
        return self.dist is None or self.dist.rank == 0

    def _catch_sigint(self) -> Any:
        """Make the first Ctrl-C a request to stop after the current step (so the model,
        optimizer and checkpoint stay consistent); a second one interrupts at once.  Only in
        the main thread, only over Python's default handler, and not under MPI (every rank must
        stop at the same step).  Returns the handler to put back, or None."""
        if self.dist is not None or threading.current_thread() is not threading.main_thread():
            return None
        previous = signal.getsignal(signal.SIGINT)
        if previous is not signal.default_int_handler:
            return None

        def request_stop(signum: int, frame: Any) -> None:
            if self._stop_requested:
                raise KeyboardInterrupt
            self._stop_requested = True

        signal.signal(signal.SIGINT, request_stop)
        return previous

    # -- non-finite numbers -----------------------------------------------------------------------
    def _layer_of(self, name: str) -> str:
        owner = name.rpartition(".")[0]
        module = dict(self.model.named_modules()).get(owner)
        kind = type(module).__name__ if module is not None else "?"
        return f"layer {owner}, {kind}" if owner else kind

    def _first_nonfinite(self, params: list[tuple[str, Tensor]], grads: bool) -> str | None:
        for name, p in params:
            a = p.grad if grads else p.data
            # A sum is one pass with no temporary and carries any NaN or inf through; only
            # when it is not finite (or overflowed) look element by element.
            if a is not None and not math.isfinite(a.sum()) and not np.isfinite(a).all():
                return name
        return None

    def _where_forward(self, xb: Tensor) -> str:
        """Which layer of a Sequential first gave a non-finite output on ``xb`` (and how large
        its weights are), as text to add to a message; empty when it cannot be told."""
        if not isinstance(self.model, nn.Sequential) or not np.isfinite(xb.data).all():
            return ""
        out = xb
        with no_grad():
            for i, module in enumerate(self.model):
                out = module(out)
                if not np.isfinite(out.data).all():
                    sizes = [float(np.max(np.abs(p.data))) for p in module.parameters()
                             if p.data.size]
                    big = f" (its largest |weight| is {max(sizes):.3g})" if sizes else ""
                    return (f"; the first non-finite output came from layer {i} "
                            f"({type(module).__name__}){big}")
        sizes = {k: float(np.max(np.abs(p.data))) for k, p in self.model.named_parameters()
                 if p.data.size}
        name = max(sizes, key=sizes.__getitem__)
        return (f" although every layer's output was finite (largest |output| "
                f"{float(np.max(np.abs(out.data))):.3g}; the largest weight is in {name}, "
                f"|w| = {sizes[name]:.3g})")

    def _stop_nonfinite(self, epoch: int, batch: int, what: str, xb: Tensor) -> None:
        lr = self.optimizer.lr
        scale = float(np.max(np.abs(xb.data))) if xb.data.size else 0.0
        hints = [f"the learning rate ({lr:g}) is probably too high: try {lr / 10:g}"]
        if scale > 10:
            hints.append(f"the inputs are not scaled (largest |x| in the batch is {scale:.3g}): "
                         "standardise them, e.g. with chainrule.data.StandardScaler")
        else:
            hints.append("check the inputs are standardised")
        message = (f"non-finite numbers in epoch {epoch + 1}, batch {batch + 1}: {what}; "
                   f"{'; or '.join(hints)}. The model keeps its last finite weights (from "
                   "before this step)")
        self.nonfinite = {"epoch": epoch + 1, "batch": batch + 1, "what": what}
        self.stop_training = True
        self.stop_reason = "stopped: " + message
        warnings.warn(message, UserWarning, stacklevel=4)

    def _guarded_step(self, epoch: int, batch: int, loss: float | None, xb: Tensor,
                      params: list[tuple[str, Tensor]], backup: list[Array]) -> bool:
        """One optimizer step that refuses non-finite numbers; False when training stops."""
        opt = self.optimizer
        if not self.terminate_on_nan:
            opt.step()
            return True
        if loss is not None and not math.isfinite(loss):
            self._stop_nonfinite(epoch, batch, f"the loss became {loss}"
                                 + self._where_forward(xb), xb)
            return False
        bad = self._first_nonfinite(params, grads=True)
        if bad is not None:
            g = dict(params)[bad].grad
            kind = "nan" if np.isnan(g).any() else "inf"
            self._stop_nonfinite(epoch, batch, f"the gradient of {bad} ({self._layer_of(bad)}) "
                                 f"became {kind} first (the loss was {loss})", xb)
            return False
        for b, (_, p) in zip(backup, params):
            np.copyto(b, p.data)
        opt.step()
        bad = self._first_nonfinite(params, grads=False)
        if bad is not None:
            for b, (_, p) in zip(backup, params):
                np.copyto(p.data, b)
            self._stop_nonfinite(epoch, batch, f"the update made {bad} ({self._layer_of(bad)}) "
                                 "non-finite although every gradient was finite (the step "
                                 "overflowed)", xb)
            return False
        return True

    def _run(self, X: Array, y: Array, Xv: Array | None, yv: Array | None, bs: int,
             names: list[str], full: Tensor | None) -> None:
        model, opt, loss_fn, dist = self.model, self.optimizer, self.loss_fn, self.dist
        n = len(X)
        steps = -(-n // bs)
        if dist is not None:  # every rank must take part in every step's Allreduce
            steps = dist.max(steps)
        params = list(model.named_parameters())
        backup = [np.empty_like(p.data) for _, p in params] if self.terminate_on_nan else []
        while self.epoch < self.epochs and not self.stop_training:
            epoch = self.epoch
            pos, self._position = self._position, None
            if pos is None:  # a new epoch
                for cb in self.callbacks:
                    cb.on_epoch_begin(epoch, {})
                pos = {"batch": 0, "rng": self.rng.bit_generator.state, "total": 0.0,
                       "sums": dict.fromkeys(names, 0.0), "seen": 0, "lr": opt.lr}
            else:  # resuming inside an epoch: draw the same order again and skip ahead
                self.rng.bit_generator.state = pos["rng"]
            lr = pos["lr"]
            model.train()
            order = self.rng.permutation(n) if self.shuffle and bs < n else None
            total, seen = pos["total"], pos["seen"]
            sums = {k: pos["sums"].get(k, 0.0) for k in names}
            for batch in range(pos["batch"], steps):
                start = batch * bs
                self._in_step = True
                if start >= n:  # this rank's shard is used up: join the Allreduce empty-handed
                    opt.zero_grad()
                    dist.allreduce_gradients(0)
                    if not self._guarded_step(epoch, batch, None, Tensor(X[:0]), params,
                                              backup):
                        break
                    self._in_step = False
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
                value = float(loss.item())
                # Under MPI the loss differs between ranks; the averaged gradients do not.
                if not self._guarded_step(epoch, batch, value if dist is None else None, xb,
                                          params, backup):
                    break
                total += value * size
                seen += size
                for k, v in self._batch_metrics(names, out.data, yb).items():
                    sums[k] += v
                self._position = {"batch": batch + 1, "rng": pos["rng"], "total": total,
                                  "sums": dict(sums), "seen": seen, "lr": lr, "samples": n,
                                  "batch_size": bs}
                self._in_step = False
                for cb in self.callbacks:
                    cb.on_batch_end(batch, {"loss": value, "size": size})
                if self._stop_requested:
                    raise _InterruptError
                if self.stop_training:
                    break
            self._in_step = False
            self._position = None
            logs: dict[str, Any] = self._averages("", total, sums, seen) if seen or dist \
                else {"loss": math.nan}
            if Xv is not None and not self.stop_training:
                logs.update(self.evaluate(Xv, yv, prefix="val_", prepared=True))
            logs["lr"] = lr
            self.epoch += 1
            self.epochs_run += 1
            for cb in self.callbacks:
                cb.on_epoch_end(epoch, logs)
            self.history.append(epoch, logs)
            if (self.checkpoint is not None and self.epoch % self.checkpoint_every == 0
                    and self.epoch < self.epochs and not self.stop_training
                    and self._is_chief()):
                self.save_checkpoint(self.checkpoint)
            if self._stop_requested:
                raise _InterruptError

    # -- saving and restoring a run -------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """Model weights, optimizer state, shuffling generator, seed, epoch, history and, when
        training stopped inside an epoch, the position in it."""
        return {"model": self.model.state_dict(), "optimizer": self.optimizer.state_dict(),
                "optimizer_type": type(self.optimizer).__name__,
                "rng": self.rng.bit_generator.state, "seed": self.seed, "epoch": self.epoch,
                "history": self.history.to_dict(),
                "position": None if self._position is None else dict(self._position)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what :meth:`state_dict` returned, to continue the run exactly."""
        kind = state.get("optimizer_type")
        if kind is not None and kind != type(self.optimizer).__name__:
            raise ConfigError(f"the saved run used the {kind} optimizer but this trainer has "
                              f"{type(self.optimizer).__name__}; use the same optimizer")
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.rng.bit_generator.state = state["rng"]
        if state.get("seed") is not None and state["seed"] != self.seed:
            # the validation split is drawn from the seed: draw it as the saved run did
            self.seed = state["seed"]
            self.split_rng = np.random.default_rng(np.random.SeedSequence(self.seed).spawn(2)[0])
        self.epoch = int(state["epoch"])
        self.history = History.from_dict(state["history"])
        self._position = state.get("position")

    def save_checkpoint(self, path: str | os.PathLike[str]) -> None:
        """Write the whole run (see :meth:`state_dict`) to one file, atomically: a temporary
        file beside ``path``, fsync, then ``os.replace``.  A crash mid-write leaves the
        previous checkpoint intact."""
        from .checkpoint import write_checkpoint

        write_checkpoint(path, self.state_dict())

    def load_checkpoint(self, path: str | os.PathLike[str]) -> None:
        """Continue the run saved by :meth:`save_checkpoint`: the next :meth:`fit` goes on
        exactly where it stopped (the same data, batch size and optimizer type are needed).

        Raises :class:`~chainrule.tools.saving.ModelFileError` for a damaged or foreign file,
        and ConfigError for a checkpoint of another model or optimizer.
        """
        from ..tools.saving import ModelFileError
        from .checkpoint import read_checkpoint

        state = read_checkpoint(path)
        own = {k: p.data.shape for k, p in self.model.named_parameters()}
        saved = {k: v.shape for k, v in state["model"].items()}
        if own != saved:
            missing = sorted(set(own) - set(saved))
            extra = sorted(set(saved) - set(own))
            shapes = [f"{k} {list(saved[k])} vs {list(own[k])}" for k in own
                      if k in saved and saved[k] != own[k]]
            raise ConfigError(f"{os.fspath(path)} is a checkpoint of another model: "
                              + "; ".join(filter(None, [
                                  f"missing {', '.join(missing)}" if missing else "",
                                  f"unexpected {', '.join(extra)}" if extra else "",
                                  f"shapes differ: {', '.join(shapes)}" if shapes else ""])))
        try:
            self.load_state_dict(state)
        except (KeyError, TypeError, ValueError) as err:
            if isinstance(err, ConfigError):
                raise
            raise ModelFileError(f"{os.fspath(path)}: the checkpoint's state cannot be "
                                 f"restored: {err}") from None


def fit(model: nn.Module, X: Any, y: Any, *, loss: str | Callable[..., Any] = "auto",
        optimizer: str | optim.Optimizer = "adam", lr: float | None = None, epochs: int = 10,
        batch_size: int | None = 32, validation_data: tuple[Any, Any] | None = None,
        validation_split: float = 0.0, shuffle: bool = True, seed: int | None = None,
        callbacks: Iterable[Callback] = (), verbose: int = 1,
        metrics: str | Sequence[str] = "auto", terminate_on_nan: bool = True,
        stream: TextIO | None = None, distributed: bool = False,
        checkpoint: str | os.PathLike[str] | None = None, checkpoint_every: int = 1,
        resume: bool = False) -> History:
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
    - ``callbacks``: :class:`~chainrule.training.Callback` objects.
    - ``terminate_on_nan`` (default True): a NaN or infinity in the loss, a gradient or a
      parameter stops training with a warning naming the epoch, the batch and the first
      parameter affected, with a hint; the model keeps the weights from before that step.
      ``history.stop_reason`` holds the message.
    - ``checkpoint=path``: write the whole run there (atomically) every ``checkpoint_every``
      epochs, at the end, and on Ctrl-C.  With ``resume=True`` an existing checkpoint is
      loaded first and training continues up to ``epochs`` in all (the same seed, data and
      batch size give bit-identical results to a run never interrupted); without one,
      training starts afresh.
    - Class labels must hold at least two classes, and integer labels must be below the
      number of model outputs (DataError otherwise); a ``batch_size`` above the number of
      examples gives a warning and full batches.
    - ``verbose``: 0 silent, 1 progress bar on a terminal (one line per epoch otherwise),
      2 lines always.  ``metrics``: ``"auto"`` (accuracy for classification) or names.
    - ``distributed=True`` (under ``mpiexec``, with ``chainrule[mpi]``): each rank passes its
      own shard of the rows; ``batch_size`` is per rank, gradients are averaged over all ranks
      (weighted by examples) every step, reported metrics cover every rank's data, and only
      rank 0 prints and writes files.  See :mod:`chainrule.distributed`.

    Ctrl-C ends training cleanly after the current step: callbacks still finish (restoring
    best weights, closing files), the checkpoint is written, and the history so far is
    returned with ``interrupted=True``.

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
                      distributed=distributed, checkpoint=checkpoint,
                      checkpoint_every=checkpoint_every, allow_single_class=False)
    if resume:
        if checkpoint is None:
            raise ConfigError("fit: resume=True needs checkpoint=path")
        if os.path.exists(checkpoint):
            trainer.load_checkpoint(checkpoint)
    if not isinstance(epochs, (int, np.integer)) or epochs < 0:
        raise ConfigError(f"fit: epochs must be a non-negative integer, got {epochs!r}")
    history = trainer.fit(X, y, max(0, int(epochs) - trainer.epoch),
                          validation_data=validation_data, validation_split=validation_split)
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
