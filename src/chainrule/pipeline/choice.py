"""Whether to average a trained network with a linear model: the choice and its record.

``chainrule train``'s default network (one hidden ReLU layer) is fitted, then a linear model
of the same inputs (ridge regression, or logistic regression trained as the network was) and
their average (:func:`chainrule.pipeline.blend.merge`, one plain network); the candidate with
the lower validation loss is kept.  The loss is the one the network is trained on: log loss
for a classifier, the squared error of the standardised target for a regression (in the
target's own units a target near 1e300 would make it infinite).

:class:`LinearTerm` records what was compared and what was kept: the model file's
``linear_term`` entry (:meth:`LinearTerm.record`) and the ``model:`` line ``chainrule train``
prints (:meth:`LinearTerm.line`).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..training import EarlyStopping, Trainer, build_mlp
from ..training.config import TrainConfig as TrainerConfig
from . import blend
from .pipeline import Pipeline
from .scoring import gathered_outputs

__all__ = ["LinearTerm", "choose", "fit_linear"]


@dataclass
class LinearTerm:
    """What was compared: the linear model (``how``, in words), whether the average was kept,
    the validation loss of each candidate (``losses``: ``network``, ``averaged``), the loss's
    name, and the hidden units of the averaged network."""

    how: str
    averaged: bool
    losses: dict[str, float]
    loss_name: str
    hidden: int

    def record(self) -> dict[str, Any]:
        """The model file's ``linear_term`` entry."""
        return {"linear_model": self.how, "averaged": self.averaged,
                "validation_loss": dict(self.losses)}

    def line(self) -> str:
        """One line saying what was kept and why (the ``model:`` line of ``chainrule train``).

        >>> LinearTerm("ridge", False, {"network": 0.5, "averaged": 0.75}, "log loss", 70).line()
        'the network alone (averaged with a ridge, validation log loss 0.75, against 0.5)'
        """
        net, avg = self.losses["network"], self.losses["averaged"]
        if self.averaged:
            return (f"the network averaged with a {self.how}, as one network of {self.hidden} "
                    f"hidden units (validation {self.loss_name} {avg:.4g}, against {net:.4g} "
                    "for the network alone)")
        return (f"the network alone (averaged with a {self.how}, validation {self.loss_name} "
                f"{avg:.4g}, against {net:.4g})")


def fit_linear(Z: np.ndarray, y_fit: np.ndarray, *, classifier: bool, n_outputs: int,
               output: str, config: TrainerConfig, epochs: int, patience: int | None,
               validation: tuple[np.ndarray, np.ndarray] | None,
               sample_weight: np.ndarray | None = None, comm: Any = None,
               dtype: Any = np.float32, rng: Any = None) -> tuple[Any, str]:
    """The linear model of ``Z -> y_fit`` (the training rows, as the network sees them) and
    its name in words.  A regression's is ridge regression, solved exactly (with ``comm``
    over every rank's rows); a classifier's is logistic regression, trained as the network
    was (``config``, ``epochs``, early stopping after ``patience`` epochs on ``validation``),
    silently."""
    if not classifier:
        return (blend.ridge(Z, y_fit, comm, dtype=dtype),
                f"ridge regression (penalty {blend.RIDGE:g})")
    linear = build_mlp(Z.shape[1], [], n_outputs, output=output, rng=rng)
    stop = [EarlyStopping("val_loss", patience=patience, restore_best_weights=True)] \
        if patience and validation is not None else []
    trainer = Trainer(linear, dataclasses.replace(config, callbacks=stop, verbose=0,
                                                  stream=None, checkpoint=None))
    weights = {} if sample_weight is None else {"sample_weight": sample_weight}
    trainer.fit(Z, y_fit, epochs, validation_data=validation, **weights)
    return linear, "logistic regression (trained as the network was)"


def choose(pipeline: Pipeline, linear: Any, how: str, X: np.ndarray, y: np.ndarray,
           rows: np.ndarray, comm: Any) -> LinearTerm:
    """Keep in ``pipeline`` its network, or the network averaged with ``linear``, whichever
    has the lower loss on ``rows`` of every rank (``X``: the encoded rows; ``y``: class codes
    for a classifier, the standardised target for a regression)."""
    network = pipeline.network
    merged = blend.merge(network, linear)
    classifier = pipeline.head.is_classifier
    losses = []
    for candidate in (network, merged):
        pipeline.network = candidate
        candidate.eval()
        y_va, out = gathered_outputs(pipeline, X, y, rows, comm)
        losses.append(float(pipeline.metrics(y_va, out)["log_loss"]) if classifier
                      else float(np.mean((out - y_va.reshape(out.shape)) ** 2)))
    averaged = losses[1] < losses[0]
    pipeline.network = merged if averaged else network
    return LinearTerm(how, averaged, {"network": losses[0], "averaged": losses[1]},
                      "log loss" if classifier else "mean squared error (standardised target)",
                      merged[0].weight.data.shape[0])
