"""The one-call faces of the :class:`~chainrule.training.trainer.Trainer`: :func:`fit` and
:func:`evaluate` (``chainrule.fit`` and ``chainrule.evaluate``)."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from typing import Any

from .. import nn
from ..errors import ConfigError
from .config import TrainConfig, check_epochs
from .history import History
from .trainer import Trainer

__all__ = ["evaluate", "fit"]

def fit(model: nn.Module, X: Any, y: Any, *, epochs: int = 10,
        validation_data: Any = None, validation_split: float = 0.0,
        sample_weight: Any = None, resume: bool = False, config: TrainConfig | None = None,
        **options: Any) -> History:
    """Train ``model`` on ``(X, y)`` and return the :class:`History`.

    The options (checked once, see :class:`~chainrule.training.config.TrainConfig`):

    - ``loss``: a loss module or callable, or a name (``mse``, ``bce``, ``bce_with_logits``,
      ``cross_entropy``); ``"auto"`` picks ``bce`` after a final Sigmoid, ``cross_entropy`` for
      integer labels, ``mse`` otherwise.
    - ``optimizer``: an optimizer over the model's parameters, or a name (``sgd``, ``adam``,
      ``adamw``, ``rmsprop``) built with ``lr`` (default: that optimizer's own).
    - ``batch_size`` (default 32): examples per step; ``None`` (or anything at least the
      number of examples) uses the whole set, the course's batch gradient descent.
      ``shuffle`` reorders the examples every epoch from ``seed``.
    - ``callbacks``: :class:`~chainrule.training.Callback` objects.
    - ``metrics``: ``"auto"`` (accuracy for classification) or names from
      :data:`chainrule.training.metrics.METRICS` (accuracy, log_loss, mse, rmse, mae, r2).
    - ``terminate_on_nan`` (default True): a NaN or infinity in the loss, a gradient or a
      parameter stops training; the run ends with a warning naming the epoch, the batch and
      the first parameter affected, with a hint, and the model keeps the weights from before
      that step.  Callbacks still see the end (``on_train_end``) and that epoch's numbers.
      ``history.stop_reason`` holds the message.
    - ``compile``: replay a captured plan for forward and backward after the first batch of
      each shape (:func:`chainrule.compile`; chains of Linear layers and element-wise
      activations, else eager with one warning); the results equal eager training.
    - ``clip_grad_norm``: rescale the gradients so their total 2-norm is at most this, before
      each step (as :func:`chainrule.nn.utils.clip_grad_norm_`).
    - ``standardize_target=True`` (regression with ``mse``): train on standardised targets,
      report every loss and metric in the target's units, and fold the inverse into the last
      Linear layer at the end so the model predicts in the target's units.
    - ``checkpoint=path``: write the whole run there (atomically) every ``checkpoint_every``
      epochs, at the end, and on Ctrl-C.  With ``resume=True`` an existing checkpoint is
      loaded first and training continues up to ``epochs`` in all (the same seed, data and
      batch size give bit-identical results to a run never interrupted; other data or
      another batch size is refused); without one, training starts afresh.
    - ``verbose``: 0 silent, 1 progress bar on a terminal (one line per epoch otherwise),
      2 lines always; ``stream`` where it goes (default: standard output).
    - ``distributed=True`` (under ``mpiexec``, with ``chainrule[mpi]``): each rank passes its
      own shard of the rows; ``batch_size`` is per rank, gradients are averaged over all ranks
      (weighted by examples) every step, reported metrics cover every rank's data, and only
      rank 0 prints and writes files.  Bad data on any rank stops every rank before training
      with that rank's message, and any other error on one rank ends the whole job.  See
      :mod:`chainrule.distributed`.

    ``sample_weight`` weighs the training rows: the loss is the weighted mean
    sum(w_i l_i) / sum(w_i), so integer weights equal duplicated rows.  ``validation_data``
    is ``(X_val, y_val)`` or ``(X_val, y_val, w_val)``; ``validation_split`` holds out a
    fraction of ``X`` (stratified by class for classification losses).  Class labels must
    hold at least two classes, and integer labels must be below the number of model outputs
    (DataError otherwise); a ``batch_size`` above the number of examples gives a warning and
    full batches.

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

    Args:
        model: The module to train, in place.
        X: Inputs, an array (or anything ``np.asarray`` takes) with one example per row.
        y: Targets, one per example: class labels or values (a column per model output).
        epochs: Passes over the data in all (with ``resume``, including those already run).
        validation_data: ``(X_val, y_val)`` or ``(X_val, y_val, w_val)``, scored after each
            epoch.
        validation_split: Fraction of ``X`` held out for validation, in (0, 1); 0 (the
            default) holds out none.
        sample_weight: One non-negative weight per training row.
        resume: Continue from ``checkpoint`` when that file exists (needs ``checkpoint``).
        config: A ready :class:`~chainrule.training.config.TrainConfig`, instead of the
            keyword options.
        **options: The options listed above (``loss``, ``optimizer``, ``lr``,
            ``batch_size``, ``shuffle``, ``seed``, ``callbacks``, ``metrics``, ...).

    Returns:
        The :class:`History`: per-epoch ``loss`` and metrics (``val_`` ones with validation),
        ``stop_reason``, ``interrupted``, and the ``trainer`` that ran.

    Raises:
        ConfigError: An unknown or invalid option, both ``config`` and options, ``epochs``
            not a non-negative integer, or ``resume=True`` without ``checkpoint``.
        DataError: Data that cannot be trained on (mismatched rows, one class only, labels
            past the model's outputs, non-finite values, a checkpoint from other data).
        ShapeError: Inputs the model cannot take.
    """
    if config is None:
        options.setdefault("allow_single_class", False)
        options.setdefault("stream", sys.stdout)
        config = TrainConfig.from_options(options)
    elif options:
        raise ConfigError("fit: give config=TrainConfig(...) or keyword options, not both")
    epochs = check_epochs(epochs)
    if not isinstance(resume, bool):
        raise ConfigError(f"fit: resume must be True or False, got {resume!r}")
    if resume and config.checkpoint is None:
        raise ConfigError("fit: resume=True needs checkpoint=path")
    trainer = Trainer(model, config)

    def run() -> History:
        if resume and os.path.exists(config.checkpoint):
            trainer.comm.agree(lambda: trainer.load_checkpoint(config.checkpoint),
                               f"resume from {config.checkpoint}")
        return trainer.fit(X, y, max(0, epochs - trainer.epoch),
                           validation_data=validation_data,
                           validation_split=validation_split, sample_weight=sample_weight)

    history = trainer.comm.run(run)
    history.trainer = trainer
    return history


def evaluate(model: nn.Module, X: Any, y: Any, *, loss: str | Callable[..., Any] = "auto",
             metrics: Any = "auto", sample_weight: Any = None) -> dict[str, float]:
    """Loss and metrics (accuracy for classification) of ``model`` on ``(X, y)``, no training.

    ``metrics`` names any of :data:`chainrule.training.metrics.METRICS`; ``sample_weight``
    gives the weighted means sum(w_i l_i) / sum(w_i).

    >>> import numpy as np
    >>> from chainrule import nn
    >>> model = nn.Sequential(nn.Linear(1, 1, rng=0))
    >>> sorted(evaluate(model, np.ones((4, 1)), np.zeros(4), loss="mse", metrics=["r2"]))
    ['loss', 'r2']

    Args:
        model: The module to score (not changed).
        X: Inputs, one example per row.
        y: Targets, one per example.
        loss: A loss module or callable, or a name; ``"auto"`` picks it as :func:`fit` does.
        metrics: ``"auto"`` or a list of names from
            :data:`chainrule.training.metrics.METRICS`.
        sample_weight: One non-negative weight per row, for weighted means.

    Returns:
        A dict from ``"loss"`` and each metric's name to its value.

    Raises:
        ConfigError: An unknown loss or metric.
        DataError: Data that cannot be scored (mismatched rows, invalid labels or weights).
        ShapeError: Inputs the model cannot take.
    """
    trainer = Trainer(model, loss=loss, optimizer="sgd", verbose=0, metrics=metrics,
                      terminate_on_nan=False)
    return trainer.evaluate(X, y, sample_weight=sample_weight)
