"""scikit-learn estimators backed by chainrule: :class:`MLPClassifier` and :class:`MLPRegressor`.

They take the same parameters as scikit-learn's own MLP estimators (those that apply), so they
drop into ``Pipeline``, ``GridSearchCV`` and ``cross_val_score``; training runs through
:func:`chainrule.fit`.  Importing this module imports scikit-learn (``pip install
chainrule[sklearn]``); nothing else in chainrule imports it.

>>> from sklearn.datasets import load_iris
>>> from sklearn.pipeline import make_pipeline
>>> from sklearn.preprocessing import StandardScaler
>>> X, y = load_iris(return_X_y=True)
>>> clf = make_pipeline(StandardScaler(), MLPClassifier((16,), max_iter=300, random_state=0))
>>> bool(clf.fit(X, y).score(X, y) > 0.9)
True
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import check_random_state
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, column_or_1d, validate_data

from . import nn
from .engine import Tensor, no_grad
from .training import Callback, EarlyStopping, Trainer, build_mlp, get_optimizer

__all__ = ["MLPClassifier", "MLPRegressor"]

_ACTIVATIONS = {"relu": "relu", "tanh": "tanh", "logistic": "sigmoid", "identity": "identity"}
_SOLVERS = ("adam", "sgd")


class _LossStalled(Callback):
    """scikit-learn's stopping rule on the training loss: an epoch counts as "no improvement"
    unless the loss beats the best so far by more than ``tol``; the best follows every
    decrease; stop after more than ``n_iter_no_change`` such epochs in a row."""

    def __init__(self, tol: float, n_iter_no_change: int) -> None:
        super().__init__()
        self.tol = tol
        self.n_iter_no_change = n_iter_no_change

    def on_train_begin(self, logs: Any = None) -> None:
        self.best = np.inf
        self.count = 0

    def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
        loss = logs["loss"]
        self.count = self.count + 1 if loss > self.best - self.tol else 0
        self.best = min(self.best, loss)
        if self.count > self.n_iter_no_change:
            self.trainer.stop_training = True
            self.trainer.stop_reason = (f"training loss did not improve by more than "
                                        f"tol={self.tol} for {self.count} epochs")


class _BaseMLP(BaseEstimator):
    """Shared parameters, model building and the training loop."""

    def __init__(self, hidden_layer_sizes: Sequence[int] = (100,), activation: str = "relu",
                 *, solver: str = "adam", alpha: float = 1e-4, batch_size: int | str = "auto",
                 learning_rate_init: float = 1e-3, max_iter: int = 200, shuffle: bool = True,
                 random_state: Any = None, tol: float = 1e-4, verbose: bool = False,
                 warm_start: bool = False, momentum: float = 0.9,
                 early_stopping: bool = False, validation_fraction: float = 0.1,
                 n_iter_no_change: int = 10) -> None:
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.solver = solver
        self.alpha = alpha
        self.batch_size = batch_size
        self.learning_rate_init = learning_rate_init
        self.max_iter = max_iter
        self.shuffle = shuffle
        self.random_state = random_state
        self.tol = tol
        self.verbose = verbose
        self.warm_start = warm_start
        self.momentum = momentum
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change

    # -- checks and building ------------------------------------------------------------------
    def _check_params(self) -> tuple[list[int], str]:
        hidden = ([self.hidden_layer_sizes] if np.isscalar(self.hidden_layer_sizes)
                  else list(self.hidden_layer_sizes))
        if any(int(h) != h or h < 1 for h in hidden):
            raise ValueError(f"hidden_layer_sizes must be positive integers, got {hidden}")
        if self.activation not in _ACTIVATIONS:
            raise ValueError(f"activation {self.activation!r} is not supported; choose one of "
                             f"{', '.join(_ACTIVATIONS)}")
        if self.solver not in _SOLVERS:
            raise ValueError(f"solver {self.solver!r} is not supported; choose one of "
                             f"{', '.join(_SOLVERS)}")
        if not self.learning_rate_init > 0:
            raise ValueError(f"learning_rate_init must be > 0, got {self.learning_rate_init}")
        if not (isinstance(self.max_iter, (int, np.integer)) and self.max_iter >= 1):
            raise ValueError(f"max_iter must be a positive integer, got {self.max_iter}")
        if self.alpha < 0:
            raise ValueError(f"alpha must be >= 0, got {self.alpha}")
        if self.early_stopping and not 0 < self.validation_fraction < 1:
            raise ValueError(f"validation_fraction must be in (0, 1), got "
                             f"{self.validation_fraction}")
        return [int(h) for h in hidden], _ACTIVATIONS[self.activation]

    def _batch(self, n: int) -> int:
        if self.batch_size == "auto":
            return min(200, n)
        if not isinstance(self.batch_size, (int, np.integer)) or self.batch_size < 1:
            raise ValueError(f"batch_size must be 'auto' or a positive integer, got "
                             f"{self.batch_size!r}")
        return min(int(self.batch_size), n)

    def _init_model(self, n_in: int, n_out: int, rs: np.random.RandomState) -> None:
        hidden, activation = self._check_params()
        self.model_ = build_mlp(n_in, hidden, n_out, activation=activation,
                                output="identity", init="xavier_uniform", dtype=np.float64,
                                rng=int(rs.randint(2**31 - 1)))
        kwargs = {"momentum": self.momentum} if self.solver == "sgd" else {}
        self.optimizer_ = get_optimizer(self.solver, self.model_.parameters(),
                                        self.learning_rate_init, **kwargs)
        self.loss_curve_: list[float] = []
        self.n_iter_ = 0
        self.t_ = 0

    def _penalised(self, base: Any) -> Any:
        """``base`` plus scikit-learn's L2 term: alpha/2 * sum(W**2) / batch size."""
        weights = [m.weight for m in self.model_ if isinstance(m, nn.Linear)]
        alpha = float(self.alpha)

        def loss(out: Tensor, target: Any) -> Tensor:
            value = base(out, target)
            if alpha:
                penalty = sum((w * w).sum() for w in weights)
                value = value + penalty * (0.5 * alpha / len(target))
            return value

        return loss

    def _train(self, X: np.ndarray, y: np.ndarray, base_loss: Any, epochs: int,
               rs: np.random.RandomState, stratify: bool, incremental: bool) -> None:
        callbacks: list[Any] = []
        validation_split = 0.0
        if not incremental:
            if self.early_stopping:
                validation_split = self.validation_fraction
                stopper = EarlyStopping("val_loss", patience=self.n_iter_no_change,
                                        min_delta=self.tol, restore_best_weights=True)
            else:
                stopper = _LossStalled(self.tol, self.n_iter_no_change)
            callbacks.append(stopper)
        trainer = Trainer(self.model_, loss=self._penalised(base_loss),
                          optimizer=self.optimizer_, batch_size=self._batch(len(X)),
                          shuffle=self.shuffle, seed=int(rs.randint(2**31 - 1)),
                          callbacks=callbacks, verbose=2 if self.verbose else 0, metrics=[],
                          terminate_on_nan=True, stratify=stratify)
        if validation_split and len(X) * validation_split < 1:
            raise ValueError(f"early_stopping needs at least one validation example; "
                             f"{len(X)} samples with validation_fraction "
                             f"{self.validation_fraction} give none")
        history = trainer.fit(X, y, epochs, validation_split=validation_split)
        self.loss_curve_ = [*self.loss_curve_, *history["loss"]]
        self.n_iter_ += len(history)
        self.t_ += len(history) * len(X)
        if "val_loss" in history:
            self.validation_scores_ = [-v for v in history["val_loss"]]
            self.best_validation_score_ = max(self.validation_scores_)
        else:
            self.best_loss_ = min(self.loss_curve_)
        if not incremental and history.stop_reason is None and len(history) == epochs:
            warnings.warn(f"{type(self).__name__}: reached max_iter={self.max_iter} before "
                          "the loss stopped improving; raise max_iter for convergence",
                          ConvergenceWarning, stacklevel=3)
        if trainer.nonfinite is not None:
            raise ValueError(f"{type(self).__name__}: {history.stop_reason}; lower "
                             "learning_rate_init or scale the inputs")

    @property
    def coefs_(self) -> list[np.ndarray]:
        """Weight matrices as scikit-learn stores them: shape (n_in, n_out) per layer."""
        check_is_fitted(self, "model_")
        return [m.weight.data.T.copy() for m in self.model_ if isinstance(m, nn.Linear)]

    @property
    def intercepts_(self) -> list[np.ndarray]:
        """Bias vectors, one per layer."""
        check_is_fitted(self, "model_")
        return [m.bias.data.copy() for m in self.model_ if isinstance(m, nn.Linear)]

    def _forward(self, X: Any) -> np.ndarray:
        check_is_fitted(self, "model_")
        X = validate_data(self, X, reset=False, dtype=np.float64)
        with no_grad():
            return self.model_.eval()(Tensor(X)).data


class MLPClassifier(ClassifierMixin, _BaseMLP):
    """A multilayer perceptron classifier trained by backpropagation in chainrule.

    Two classes use one sigmoid output with binary cross-entropy, more use softmax with
    cross-entropy (both from logits).  Parameters follow
    ``sklearn.neural_network.MLPClassifier`` (solvers ``adam`` and ``sgd``; ``alpha`` is the
    same L2 penalty).  Learned: ``classes_``, ``model_`` (a ``chainrule.nn.Sequential``),
    ``coefs_``, ``intercepts_``, ``loss_curve_``, ``n_iter_``, ``n_features_in_``.
    """

    def _encode(self, y: Any) -> np.ndarray:
        idx = np.searchsorted(self.classes_, y)
        idx = np.clip(idx, 0, len(self.classes_) - 1)
        bad = self.classes_[idx] != y
        if np.any(bad):
            raise ValueError(f"y contains labels not seen before: {np.unique(y[bad])[:5]}; "
                             f"known classes are {self.classes_}")
        return idx

    def _loss_and_targets(self, y: np.ndarray) -> tuple[Any, np.ndarray]:
        codes = self._encode(y)
        if len(self.classes_) == 2:
            return nn.BCEWithLogitsLoss(), codes.astype(np.float64).reshape(-1, 1)
        return nn.CrossEntropyLoss(), codes.astype(np.int64)

    def _validate(self, X: Any, y: Any, reset: bool) -> tuple[np.ndarray, np.ndarray]:
        X, y = validate_data(self, X, y, reset=reset, dtype=np.float64)
        y = column_or_1d(y, warn=True)
        check_classification_targets(y)
        return X, y

    def fit(self, X: Any, y: Any) -> MLPClassifier:
        """Train from scratch (or, with ``warm_start``, from the current weights)."""
        self._check_params()
        X, y = self._validate(X, y, reset=True)
        classes = np.unique(y)
        if len(classes) < 2:
            raise ValueError(f"{type(self).__name__} needs samples of at least 2 classes in "
                             f"the data, but the data contain only one class: {classes[0]!r}")
        rs = check_random_state(self.random_state)
        n_out = 1 if len(classes) == 2 else len(classes)
        if not (self.warm_start and hasattr(self, "model_")
                and np.array_equal(getattr(self, "classes_", None), classes)):
            self.classes_ = classes
            self._init_model(X.shape[1], n_out, rs)
        loss, target = self._loss_and_targets(y)
        self._train(X, target, loss, self.max_iter, rs, stratify=True, incremental=False)
        return self

    def partial_fit(self, X: Any, y: Any, classes: Any = None) -> MLPClassifier:
        """One pass over ``(X, y)``; the first call needs ``classes`` (all labels)."""
        first = not hasattr(self, "model_")
        X, y = self._validate(X, y, reset=first)
        if first:
            if classes is None:
                raise ValueError("classes must be passed on the first call to partial_fit")
            self.classes_ = np.unique(np.asarray(classes))
            if len(self.classes_) < 2:
                raise ValueError("partial_fit needs at least 2 classes in `classes`")
            rs = check_random_state(self.random_state)
            self._init_model(X.shape[1], 1 if len(self.classes_) == 2 else len(self.classes_),
                             rs)
        elif classes is not None and not np.array_equal(np.unique(classes), self.classes_):
            raise ValueError(f"classes {np.unique(classes)} differ from the first call's "
                             f"{self.classes_}")
        self._rs_partial = getattr(self, "_rs_partial", check_random_state(self.random_state))
        loss, target = self._loss_and_targets(y)
        self._train(X, target, loss, 1, self._rs_partial, stratify=False, incremental=True)
        return self

    def predict_proba(self, X: Any) -> np.ndarray:
        """Class probabilities, one column per entry of ``classes_``."""
        return np.exp(self.predict_log_proba(X))

    def predict_log_proba(self, X: Any) -> np.ndarray:
        """Logarithms of :meth:`predict_proba`, computed stably from the logits."""
        z = self._forward(X)
        if z.shape[1] == 1:
            z = np.hstack([np.zeros_like(z), z])  # sigmoid(z) = softmax([0, z])[1]
        shifted = z - z.max(axis=1, keepdims=True)
        return shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))

    def predict(self, X: Any) -> np.ndarray:
        """The most probable class of each row."""
        z = self._forward(X)
        idx = (z[:, 0] > 0).astype(int) if z.shape[1] == 1 else z.argmax(axis=1)
        return self.classes_[idx]


class MLPRegressor(RegressorMixin, _BaseMLP):
    """A multilayer perceptron regressor (identity output, squared error) trained by
    chainrule.  Parameters follow ``sklearn.neural_network.MLPRegressor``; ``y`` may have
    several columns."""

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        return tags

    def _validate(self, X: Any, y: Any, reset: bool) -> tuple[np.ndarray, np.ndarray, bool]:
        X, y = validate_data(self, X, y, reset=reset, dtype=np.float64, multi_output=True,
                             y_numeric=True)
        y2 = np.asarray(y, dtype=np.float64)
        return X, (y2.reshape(-1, 1) if y2.ndim == 1 else y2), y2.ndim == 1

    def fit(self, X: Any, y: Any) -> MLPRegressor:
        """Train from scratch (or, with ``warm_start``, from the current weights)."""
        self._check_params()
        X, Y, y_1d = self._validate(X, y, reset=True)
        rs = check_random_state(self.random_state)
        if not (self.warm_start and hasattr(self, "model_") and self.n_outputs_ == Y.shape[1]):
            self._init_model(X.shape[1], Y.shape[1], rs)
        self.n_outputs_ = Y.shape[1]
        self._y_1d = y_1d
        loss = nn.MSELoss()

        def half_mse(out: Tensor, target: Any) -> Tensor:  # scikit-learn's squared_error / 2
            return loss(out, target) * 0.5

        self._train(X, Y, half_mse, self.max_iter, rs, stratify=False, incremental=False)
        return self

    def partial_fit(self, X: Any, y: Any) -> MLPRegressor:
        """One pass over ``(X, y)``, continuing from the current weights."""
        first = not hasattr(self, "model_")
        X, Y, y_1d = self._validate(X, y, reset=first)
        if first:
            self._init_model(X.shape[1], Y.shape[1], check_random_state(self.random_state))
            self.n_outputs_ = Y.shape[1]
            self._y_1d = y_1d
        elif Y.shape[1] != self.n_outputs_:
            raise ValueError(f"y has {Y.shape[1]} outputs but the model was fitted with "
                             f"{self.n_outputs_}")
        self._rs_partial = getattr(self, "_rs_partial", check_random_state(self.random_state))
        loss = nn.MSELoss()
        self._train(X, Y, lambda o, t: loss(o, t) * 0.5, 1, self._rs_partial, stratify=False,
                    incremental=True)
        return self

    def predict(self, X: Any) -> np.ndarray:
        """Predicted values: shape (n,) for a 1-D training target, (n, outputs) otherwise."""
        out = self._forward(X)
        return out[:, 0] if self._y_1d and out.shape[1] == 1 else out
