"""Which model ``chainrule train`` keeps: its network, a linear model, or their average.

With the default network (one hidden ReLU layer) a linear model of the same inputs is fitted
too: ridge regression for a number, solved exactly, or logistic regression for classes,
trained as the network was.  Three candidates are compared: the network, the linear model,
and their average (:func:`chainrule.pipeline.blend.merge`, one plain network); the one with
the lowest loss is kept, as one plain network in every case.  The loss is the one the network
is trained on: log loss for a classifier, the squared error of the standardised target for a
regression (in the target's own units a target near 1e300 would make it infinite).

Where the loss is measured depends on the table's size.  On a small table (at most
:data:`CROSS_VALIDATE_UP_TO` training rows) the validation split holds a few hundred rows and
the network's loss on them is flattering: early stopping picked the network's epoch by that
very loss.  There the candidates are compared by :data:`FOLDS`-fold cross-validation over
the training rows, as scikit-learn's ``cross_val_score`` would: each fold's network and
linear model are trained on the other folds with the run's own settings (early stopping
still on the validation rows) and scored on the fold they never saw.  That costs
:data:`FOLDS` more trainings of a small network.  On a larger table (or under MPI) the
candidates are compared on the validation rows.

:class:`Choice` records what was compared and what was kept: the model file's
``linear_term`` entry (:meth:`Choice.record`) and the ``kept:`` line ``chainrule train``
prints (:meth:`Choice.line`).
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import ConfigError
from ..nn import Module
from ..training import EarlyStopping, Trainer, build_mlp
from ..training.config import TrainConfig as TrainerConfig
from . import blend
from .pipeline import Pipeline
from .scoring import gathered_outputs

__all__ = ["CANDIDATES", "CROSS_VALIDATE_UP_TO", "FOLDS", "Choice", "Training", "choose"]

CANDIDATES = ("network", "averaged", "linear")
"""The models compared, in the order a tie is settled."""
FOLDS = 5
"""The folds of the cross-validation on a small table."""
CROSS_VALIDATE_UP_TO = 2000
"""The most training rows on which the choice is cross-validated: there a validation split
holds at most about 700 rows, a network of one hidden layer trains in about a second, and
the five more trainings stay within seconds."""


@dataclass
class Training:
    """How the run trains its models, to train them again on part of the rows: the
    trainer's settings (``config``, its callbacks left out), the epochs, the early stopping's
    patience, and the model's outputs.  ``dtype`` is the ridge regression's (the network's
    parameters'); ``comm`` is the communicator of a run under MPI (the ridge regression is
    then solved over every rank's rows), else None."""

    config: TrainerConfig
    epochs: int
    patience: int | None
    classifier: bool
    n_outputs: int
    output: str
    dtype: Any = np.float32
    seed: int | None = None
    comm: Any = None

    def fit(self, model: Module, Z: np.ndarray, y: np.ndarray,
            validation: tuple[np.ndarray, np.ndarray] | None,
            sample_weight: np.ndarray | None) -> Module:
        """Train ``model`` silently on ``Z -> y``, stopping early on ``validation``."""
        stop = [EarlyStopping("val_loss", patience=self.patience, restore_best_weights=True)] \
            if self.patience and validation is not None else []
        trainer = Trainer(model, dataclasses.replace(self.config, callbacks=stop, verbose=0,
                                                     stream=None, checkpoint=None))
        weights = {} if sample_weight is None else {"sample_weight": sample_weight}
        trainer.fit(Z, y, self.epochs, validation_data=validation, **weights)
        return model

    def linear(self, Z: np.ndarray, y: np.ndarray,
               validation: tuple[np.ndarray, np.ndarray] | None,
               sample_weight: np.ndarray | None = None) -> Module:
        """The linear model of ``Z -> y`` (see :attr:`linear_name`)."""
        if not self.classifier:
            return blend.ridge(Z, y, self.comm, dtype=self.dtype)
        # built on the host as the network is; the trainer moves it to the run's device
        model = build_mlp(Z.shape[1], [], self.n_outputs, output=self.output, rng=self.seed)
        return self.fit(model, Z, y, validation, sample_weight)

    @property
    def linear_name(self) -> str:
        """The linear model in words."""
        return "logistic regression (trained as the network was)" if self.classifier \
            else f"ridge regression (penalty {blend.RIDGE:g})"


@dataclass
class Choice:
    """What was compared and kept: ``kept`` (one of :data:`CANDIDATES`), each candidate's
    loss (``losses``), the loss's name, where it was measured (``measured_on``, in words),
    the linear model in words (``linear_model``) and the kept network's hidden units
    (``hidden``: none for the linear model)."""

    kept: str
    losses: dict[str, float]
    loss_name: str
    measured_on: str
    linear_model: str
    hidden: list[int]

    def record(self) -> dict[str, Any]:
        """The model file's ``linear_term`` entry (JSON-ready)."""
        return {"linear_model": self.linear_model, "kept": self.kept,
                "averaged": self.kept == "averaged", "loss": self.loss_name,
                "measured_on": self.measured_on, "losses": dict(self.losses)}

    def line(self) -> str:
        """One line saying what was kept and why (the ``kept:`` line of ``chainrule train``).

        >>> Choice("linear", {"network": 0.5, "averaged": 0.45, "linear": 0.4}, "log loss",
        ...        "cross-validation", "ridge", []).line()
        'the ridge alone (log loss 0.4 by cross-validation; the network 0.5, both averaged 0.45)'
        """
        loss = self.losses
        why = f"{self.loss_name} {loss[self.kept]:.4g} by {self.measured_on}"
        if self.kept == "network":
            return (f"the network alone ({why}; the {self.linear_model} "
                    f"{loss['linear']:.4g}, both averaged {loss['averaged']:.4g})")
        if self.kept == "averaged":
            return (f"the network averaged with a {self.linear_model}, as one network of "
                    f"{self.hidden[0]} hidden units ({why}; the network alone "
                    f"{loss['network']:.4g}, the linear model alone {loss['linear']:.4g})")
        return (f"the {self.linear_model} alone ({why}; the network {loss['network']:.4g}, "
                f"both averaged {loss['averaged']:.4g})")


def choose(pipeline: Pipeline, training: Training, build_network: Callable[[], Module], *,
           X: np.ndarray, y: np.ndarray, Z: np.ndarray, y_fit: np.ndarray,
           weights: np.ndarray | None, train_rows: np.ndarray, val_rows: np.ndarray,
           n_train: int, comm: Any) -> Choice:
    """Fit the linear model on ``train_rows`` and keep in ``pipeline`` the candidate of
    lowest loss (see the module docstring); ``pipeline.network`` is the network trained on
    ``train_rows``, ``build_network()`` builds it afresh for the folds.

    ``X``: the encoded rows (``pipeline`` scales them); ``Z``, ``y_fit``: the rows as the
    network trains on them; ``y``: what the loss compares with (class codes for a
    classifier, ``y_fit`` for a regression); ``weights``: the rows' weights or None;
    ``n_train``: the training rows of every rank."""
    network = pipeline.network
    if not blend.can_merge(network):
        raise ConfigError("choose needs a network of Linear, ReLU, Linear (then an output "
                          f"activation), got {network!r:.200}")
    validation = (Z[val_rows], y_fit[val_rows])
    linear = training.linear(Z[train_rows], y_fit[train_rows], validation,
                             None if weights is None else weights[train_rows])
    finals = {"network": network, "averaged": blend.merge(network, linear), "linear": linear}
    if n_train <= CROSS_VALIDATE_UP_TO and training.comm is None:
        losses = _cross_validated(pipeline, training, build_network, X, y, Z, y_fit, weights,
                                  train_rows, validation)
        where = f"{FOLDS}-fold cross-validation of the {n_train:,} training rows"
    else:
        scored = {name: _outputs(pipeline, model, X, y, val_rows, comm)
                  for name, model in finals.items()}
        losses = {name: _loss(pipeline, [part]) for name, part in scored.items()}
        where = f"the {len(scored['network'][0]):,} validation rows"
    kept = min(CANDIDATES, key=lambda c: (losses[c], CANDIDATES.index(c)))
    pipeline.network = finals[kept]
    hidden = [finals[kept][0].weight.data.shape[0]] if kept != "linear" else []
    return Choice(kept, losses, "log loss" if pipeline.head.is_classifier
                  else "mean squared error (standardised target)", where,
                  training.linear_name, hidden)


def _cross_validated(pipeline: Pipeline, training: Training,
                     build_network: Callable[[], Module], X: np.ndarray, y: np.ndarray,
                     Z: np.ndarray, y_fit: np.ndarray, weights: np.ndarray | None,
                     train_rows: np.ndarray, validation: tuple[np.ndarray, np.ndarray]
                     ) -> dict[str, float]:
    """Each candidate's loss over the training rows, each row scored by the models trained
    on the other folds."""
    fold = np.random.default_rng(training.seed).permutation(len(train_rows)) % FOLDS
    scored: dict[str, list[tuple[np.ndarray, np.ndarray]]] = {c: [] for c in CANDIDATES}
    for k in range(FOLDS):
        fit_rows, held = train_rows[fold != k], train_rows[fold == k]
        if not len(held):  # fewer training rows than folds
            continue
        w = None if weights is None else weights[fit_rows]
        net = training.fit(build_network(), Z[fit_rows], y_fit[fit_rows], validation, w)
        lin = training.linear(Z[fit_rows], y_fit[fit_rows], validation, w)
        for name, model in (("network", net), ("averaged", blend.merge(net, lin)),
                            ("linear", lin)):
            scored[name].append(_outputs(pipeline, model, X, y, held, None))
    return {name: _loss(pipeline, parts) for name, parts in scored.items()}


def _outputs(pipeline: Pipeline, model: Module, X: np.ndarray, y: np.ndarray,
             rows: np.ndarray, comm: Any) -> tuple[np.ndarray, np.ndarray]:
    """The targets and outputs of ``rows`` (every rank's, with ``comm``) through ``pipeline``
    with ``model`` as its network."""
    with _network(pipeline, model):
        if comm is None:
            return y[rows], pipeline.outputs(X[rows], encoded=True)
        return gathered_outputs(pipeline, X, y, rows, comm)


@contextlib.contextmanager
def _network(pipeline: Pipeline, model: Module) -> Iterator[None]:
    kept = pipeline.network
    pipeline.network = model
    model.eval()
    try:
        yield
    finally:
        pipeline.network = kept


def _loss(pipeline: Pipeline, parts: list[tuple[np.ndarray, np.ndarray]]) -> float:
    """Log loss (a classifier) or mean squared error of the targets and outputs in
    ``parts``."""
    y = np.concatenate([t for t, _ in parts])
    out = np.concatenate([o for _, o in parts])
    if pipeline.head.is_classifier:
        return float(pipeline.metrics(y, out)["log_loss"])
    return float(np.mean((out - y.reshape(out.shape)) ** 2))
