"""The stochastic solvers of the scikit-learn face: ``'sgd'`` and ``'adam'`` in minibatches.

The steps are chainrule's :class:`~chainrule.optim.SGD` and :class:`~chainrule.optim.Adam`;
around them, scikit-learn's rules: its shuffles, its learning-rate schedules
(``'invscaling'``, ``'adaptive'``), early stopping on a validation split and the
``n_iter_no_change`` stopping count, with "improved" decided by chainrule's one rule
(:func:`chainrule.optim.monitor.is_better`).

:class:`StochasticSolver` is a mixin of the estimators' base class: it reads the
estimator's parameters, calls its ``_parameters(dtype)``, ``_objective(params, X, Y, w)``
and ``_score_arrays(X, Y, w)`` (the validation score), and keeps scikit-learn's learned
attributes (``loss_curve_``, ``best_loss_``, ``validation_scores_``, ...) on the estimator.
What it carries from one call to the next is one :class:`SolverState`, ``_optimizer``.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sklearn.base import ClassifierMixin
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.utils import gen_batches, shuffle

from ..engine import Tensor
from ..errors import DataError
from ..optim import SGD, Adam, Optimizer
from ..optim.monitor import is_better

Array = np.ndarray
STOCHASTIC_SOLVERS = ("sgd", "adam")


@dataclass
class SolverState:
    """What a stochastic solver carries from one call to the next: scikit-learn's current
    learning rate (changed by ``learning_rate='invscaling'`` and ``'adaptive'``) and the
    chainrule optimizer's state (momenta, Adam's averages and step count)."""

    learning_rate: float
    optimizer_state: dict[str, Any] | None = field(default=None, repr=False)
    steps: int = 0


class StochasticSolver:
    """``solver='sgd'`` and ``solver='adam'``: epochs of minibatch steps with scikit-learn's
    schedules and stopping rules."""

    def _make_optimizer(self, params: list[Tensor]) -> Optimizer:
        if self.solver == "sgd":
            momentum = float(self.momentum)
            return SGD(params, lr=float(self.learning_rate_init), momentum=momentum,
                       nesterov=bool(self.nesterovs_momentum) and momentum > 0)
        return Adam(params, lr=float(self.learning_rate_init),
                    betas=(float(self.beta_1), float(self.beta_2)), eps=float(self.epsilon))

    def _split(self, X: Array, Y: Array, w: Array | None,
               rs: np.random.RandomState) -> tuple[Array, Array, Array | None, Any]:
        """Training rows, and the validation set ``(X, Y, w)`` (None without early stopping)."""
        if not self.early_stopping:
            return X, Y, w, None
        # Stratified on the 0/1 target column, as scikit-learn does (not for multilabel).
        single = isinstance(self, ClassifierMixin) and Y.shape[1] == 1
        stratify = Y.astype(bool) if single else None
        arrays = (X, Y) if w is None else (X, Y, w)
        try:
            parts = train_test_split(*arrays, random_state=rs,
                                     test_size=self.validation_fraction, stratify=stratify)
        except ValueError as err:
            raise DataError(f"{err} (the validation split of early_stopping=True is "
                            "stratified: give every class more examples, or lower "
                            "validation_fraction)") from None
        train, val = parts[0::2], parts[1::2]
        if len(val[0]) < 2:
            raise DataError("The validation set is too small. Increase 'validation_fraction' "
                            f"or the size of your dataset (it has {len(val[0])} row(s) of "
                            f"{len(X)}; early stopping needs at least 2).")
        if w is None:
            return train[0], train[1], None, (val[0], val[1], None)
        return train[0], train[1], train[2], (val[0], val[1], val[2])

    def _batch_size(self, n: int) -> int:
        if self.batch_size == "auto":
            return min(200, n)
        if self.batch_size > n:
            warnings.warn(f"batch_size={self.batch_size} is larger than the {n} training rows; "
                          f"using batches of {n}", UserWarning, stacklevel=4)
        return int(min(self.batch_size, n))

    def _epoch(self, params: list[Tensor], optimizer: Optimizer, X: Array, Y: Array,
               w: Array | None, order: Array | None) -> float:
        """One pass over the rows in batches (in ``order``, if given); returns the epoch's
        mean loss."""
        n = len(X)
        total_loss, total_weight = 0.0, 0.0
        top = 1.0 if w is None or not len(w) else float(np.max(w))  # 1e308 weights: no inf
        for rows in gen_batches(n, self._batch_size(n)):
            if order is not None:
                rows = order[rows]
            wb = None if w is None else w[rows]
            weight = float(len(X[rows])) if wb is None else float((wb / top).sum())
            if weight <= 0:  # rows of weight zero carry no gradient
                continue
            optimizer.zero_grad()
            loss = self._objective(params, X[rows], Y[rows], wb)
            loss.backward()
            self._optimizer.steps += 1
            if self.solver == "adam":
                # scikit-learn adds epsilon to the root mean square before bias correction,
                # chainrule (like PyTorch) after; this epsilon makes the steps equal.
                optimizer.param_groups[0]["eps"] = float(self.epsilon) / math.sqrt(
                    1.0 - float(self.beta_2) ** self._optimizer.steps)
            optimizer.step()
            total_loss += float(loss.item()) * weight
            total_weight += weight
        return total_loss / total_weight if total_weight else math.nan

    def _fit_stochastic(self, X: Array, Y: Array, w: Array | None, rs: np.random.RandomState,
                        incremental: bool) -> None:
        if not incremental or self._optimizer is None:
            self._optimizer = SolverState(float(self.learning_rate_init))
        X_train, Y_train, w_train, validation = self._split(X, Y, w, rs)
        params = self._parameters(X.dtype)
        optimizer = self._make_optimizer(params)
        if self._optimizer.optimizer_state is not None:
            optimizer.load_state_dict(self._optimizer.optimizer_state)
        optimizer.lr = self._optimizer.learning_rate
        if validation is not None:
            self._best_weights = [p.data.copy() for p in params]
        self.n_iter_ = 0
        order = np.arange(len(X_train))
        try:
            for _ in range(self.max_iter):
                # Each epoch shuffles the previous epoch's order, as scikit-learn does.
                order = shuffle(order, random_state=rs) if self.shuffle else order
                self.loss_ = self._epoch(params, optimizer, X_train, Y_train, w_train,
                                         order if self.shuffle else None)
                self.n_iter_ += 1
                self.t_ += len(X_train)
                self.loss_curve_.append(self.loss_)
                if self.verbose:
                    print(f"Iteration {self.n_iter_}, loss = {self.loss_:.8f}")
                self._update_no_improvement_count(params, validation)
                if self.solver == "sgd" and self.learning_rate == "invscaling":
                    self._set_learning_rate(optimizer, float(self.learning_rate_init)
                                            / (self.t_ + 1) ** self.power_t)
                if not all(np.isfinite(p.data).all() for p in params):
                    if validation is not None:
                        warnings.warn(f"the weights became non-finite in epoch {self.n_iter_};"
                                      " keeping the best validation weights. Lower "
                                      "learning_rate_init or scale the data",
                                      ConvergenceWarning, stacklevel=3)
                    break
                if self._no_improvement_count > self.n_iter_no_change:
                    if self._plateau_stops(optimizer):
                        break
                    self._no_improvement_count = 0
                if incremental:
                    break
                if self.n_iter_ == self.max_iter:
                    warnings.warn(f"Stochastic Optimizer: Maximum iterations ({self.max_iter}) "
                                  "reached and the optimization hasn't converged yet. Raise "
                                  "max_iter, or tol for an earlier stop", ConvergenceWarning,
                                  stacklevel=3)
        except KeyboardInterrupt:
            warnings.warn("Training interrupted by user.", stacklevel=3)
        self._optimizer.optimizer_state = optimizer.state_dict()
        if validation is not None:  # keep the weights of the best validation score
            n = len(self.coefs_)
            self.coefs_, self.intercepts_ = self._best_weights[:n], self._best_weights[n:]
            del self._best_weights

    def _update_no_improvement_count(self, params: list[Tensor], validation: Any) -> None:
        """scikit-learn's stopping count: epochs in a row whose validation score (with early
        stopping) or training loss did not improve on the best by more than ``tol``."""
        tol = float(self.tol)
        if validation is not None:
            score = self._score_arrays(*validation)
            self.validation_scores_.append(score)
            if self.verbose:
                print(f"Validation score: {score:f}")
            best = self.best_validation_score_
            improved = is_better(score, best, mode="max", threshold=tol, threshold_mode="abs")
            self._no_improvement_count = 0 if improved else self._no_improvement_count + 1
            if is_better(score, best, mode="max"):
                self.best_validation_score_ = score
                self._best_weights = [p.data.copy() for p in params]
        else:
            loss, best = self.loss_curve_[-1], self.best_loss_
            improved = is_better(loss, best, mode="min", threshold=tol, threshold_mode="abs")
            self._no_improvement_count = 0 if improved else self._no_improvement_count + 1
            if is_better(loss, best, mode="min"):
                self.best_loss_ = loss

    def _set_learning_rate(self, optimizer: Optimizer, rate: float) -> None:
        """Change the learning rate as scikit-learn's schedules do.

        chainrule's SGD keeps the momentum buffer in gradient units (``v = m v + g``, step
        ``lr v``), scikit-learn keeps its velocity in weight units (the rate already applied).
        Rescaling the buffer by old rate / new rate when the rate changes makes the two take
        the same steps (with Nesterov's momentum too).
        """
        old = self._optimizer.learning_rate
        for state in optimizer.state:
            buffer = state.get("momentum_buffer")  # PyTorch's name for it
            if buffer is not None:
                buffer *= old / rate
        self._optimizer.learning_rate = optimizer.lr = rate

    def _plateau_stops(self, optimizer: Optimizer) -> bool:
        """After ``n_iter_no_change`` epochs without improvement: stop, or (SGD with
        ``learning_rate='adaptive'``) divide the learning rate by 5 until it is below 1e-6."""
        what = ("Validation score" if self.early_stopping else "Training loss")
        message = (f"{what} did not improve more than tol={self.tol:f} for "
                   f"{self.n_iter_no_change} consecutive epochs.")
        if self.solver != "sgd" or self.learning_rate != "adaptive":
            if self.verbose:
                print(message + " Stopping.")
            return True
        if self._optimizer.learning_rate <= 1e-6:
            if self.verbose:
                print(message + " Learning rate too small. Stopping.")
            return True
        self._set_learning_rate(optimizer, self._optimizer.learning_rate / 5.0)
        if self.verbose:
            print(message + f" Setting learning rate to {self._optimizer.learning_rate:f}")
        return False
