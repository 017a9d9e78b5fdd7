"""scikit-learn estimators backed by chainrule: :class:`MLPClassifier` and :class:`MLPRegressor`.

They keep ``sklearn.neural_network``'s contract: the same parameters and defaults, the same
learned attributes (``coefs_``, ``intercepts_``, ``loss_curve_``, ``n_iter_``,
``validation_scores_``, ...), the same stopping rules and errors, so they drop into
``Pipeline``, ``GridSearchCV`` and ``cross_val_score`` and pass scikit-learn's own MLP tests.
The forward and backward passes run on chainrule tensors, the stochastic solvers are
:class:`chainrule.optim.SGD` and :class:`chainrule.optim.Adam`, and the losses are
chainrule's (from logits, with sample weights).  Importing this module imports scikit-learn
(``pip install chainrule[sklearn]``); nothing else in chainrule imports it.

>>> from sklearn.datasets import load_iris
>>> from sklearn.pipeline import make_pipeline
>>> from sklearn.preprocessing import StandardScaler
>>> X, y = load_iris(return_X_y=True)
>>> clf = make_pipeline(StandardScaler(), MLPClassifier((16,), learning_rate_init=0.01,
...                                                   max_iter=300, random_state=0))
>>> bool(clf.fit(X, y).score(X, y) > 0.9)
True

With the same ``random_state`` they take scikit-learn's steps (same initial weights, same
shuffles, same SGD, Nesterov, Adam and learning-rate schedules, to rounding).  Where the
arithmetic differs, it follows chainrule's definitions:

* The classification losses are computed from logits, so no probability is clipped.
* With several regression outputs the reported loss is the squared error summed over outputs
  (halved), the quantity whose gradient both implementations follow.
* "Did it improve" is chainrule's one rule (:mod:`chainrule.optim.monitor`): a value improves
  when it beats the best by more than ``tol``; a tie, or NaN, does not improve.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from itertools import pairwise
from numbers import Integral, Real
from typing import Any, ClassVar

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import LabelBinarizer
from sklearn.utils import check_random_state, gen_batches, shuffle
from sklearn.utils._param_validation import (
    Interval,
    Options,
    StrOptions,
    validate_parameter_constraints,
)

# scikit-learn publishes no other path to its parameter checker; using it gives exactly the
# errors (and messages) users of sklearn.neural_network get.
from sklearn.utils._param_validation import InvalidParameterError as _SklearnParameterError
from sklearn.utils.metaestimators import available_if
from sklearn.utils.multiclass import check_classification_targets, type_of_target, unique_labels
from sklearn.utils.validation import check_is_fitted, column_or_1d, validate_data

from .data.preprocessing import check_numeric_frame
from .engine import Tensor, exp, matmul, no_grad, relu, sigmoid, tanh
from .errors import ConfigError, DataError
from .nn import functional as F
from .optim import SGD, Adam, Optimizer
from .optim.monitor import is_better
from .training import metrics, tasks

__all__ = ["InvalidParameterError", "MLPClassifier", "MLPRegressor"]

Array = np.ndarray
STOCHASTIC_SOLVERS = ("sgd", "adam")


class InvalidParameterError(ConfigError, _SklearnParameterError):
    """A parameter outside its allowed values: both chainrule's :class:`ConfigError` and
    scikit-learn's ``InvalidParameterError`` (a ``ValueError`` and a ``TypeError``), with
    scikit-learn's message.

    >>> MLPClassifier(momentum=5).fit([[0.0], [1.0]], [0, 1])
    Traceback (most recent call last):
    ...
    chainrule.sklearn.InvalidParameterError: The 'momentum' parameter of MLPClassifier must be \
a float in the range [0.0, 1.0]. Got 5 instead.
    """


# What the hidden layers compute; the output layer is set by the task (``out_activation_``).
HIDDEN_ACTIVATIONS: dict[str, Callable[[Tensor], Tensor]] = {
    "identity": lambda t: t,
    "logistic": sigmoid,
    "tanh": tanh,
    "relu": relu,
}


def _poisson_sum(z: Tensor, y: Array, w: Array | None) -> Tensor:
    """Half the Poisson deviance of ``exp(z)`` against ``y``, weighted and summed: per element
    ``exp(z) - y z + (y log y - y)``; its gradient is ``exp(z) - y``."""
    y = y.astype(z.data.dtype, copy=False)
    with np.errstate(divide="ignore", invalid="ignore"):
        constant = np.where(y > 0, y * np.log(np.where(y > 0, y, 1)), 0) - y
    per_element = exp(z) - z * y + constant
    if w is not None:
        per_element = per_element * w.astype(z.data.dtype).reshape(-1, 1)
    return per_element.sum()


# Each output activation with its loss (weighted sum over examples, summed over outputs):
# the canonical pairs, so the delta at the logits is prediction - target.
LOSSES: dict[str, Callable[[Tensor, Array, Array | None], Tensor]] = {
    "logistic": lambda z, y, w: F.binary_cross_entropy_with_logits(z, y, "sum", w),
    "softmax": lambda z, y, w: F.cross_entropy(z, y, "sum", w),
    "identity": lambda z, y, w: F.mse_loss(z, y, "sum", w) * 0.5,
    "exp": _poisson_sum,
}


@dataclass
class _SolverState:
    """What a stochastic solver carries from one call to the next: scikit-learn's current
    learning rate (changed by ``learning_rate='invscaling'`` and ``'adaptive'``) and the
    chainrule optimizer's state (momenta, Adam's averages and step count)."""

    learning_rate: float
    optimizer_state: dict[str, Any] | None = field(default=None, repr=False)
    steps: int = 0


class _BaseMLP(BaseEstimator):
    """Parameters, initialisation, the two solvers and scikit-learn's stopping rules."""

    _parameter_constraints: ClassVar[dict[str, list[Any]]] = {
        "hidden_layer_sizes": ["array-like", Interval(Integral, 1, None, closed="left")],
        "activation": [StrOptions(set(HIDDEN_ACTIVATIONS))],
        "solver": [StrOptions({"lbfgs", "sgd", "adam"})],
        "alpha": [Interval(Real, 0, None, closed="left")],
        "batch_size": [StrOptions({"auto"}), Interval(Integral, 1, None, closed="left")],
        "learning_rate": [StrOptions({"constant", "invscaling", "adaptive"})],
        "learning_rate_init": [Interval(Real, 0, None, closed="neither")],
        "power_t": [Interval(Real, 0, None, closed="left")],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "shuffle": ["boolean"],
        "random_state": ["random_state"],
        "tol": [Interval(Real, 0, None, closed="left")],
        "verbose": ["verbose"],
        "warm_start": ["boolean"],
        "momentum": [Interval(Real, 0, 1, closed="both")],
        "nesterovs_momentum": ["boolean"],
        "early_stopping": ["boolean"],
        "validation_fraction": [Interval(Real, 0, 1, closed="left")],
        "beta_1": [Interval(Real, 0, 1, closed="left")],
        "beta_2": [Interval(Real, 0, 1, closed="left")],
        "epsilon": [Interval(Real, 0, None, closed="neither")],
        "n_iter_no_change": [Interval(Integral, 1, None, closed="left"),
                             Options(Real, {np.inf})],
        "max_fun": [Interval(Integral, 1, None, closed="left")],
    }

    def __init__(self, hidden_layer_sizes: Sequence[int] | int = (100,),
                 activation: str = "relu", *, solver: str = "adam", alpha: float = 1e-4,
                 batch_size: int | str = "auto", learning_rate: str = "constant",
                 learning_rate_init: float = 1e-3, power_t: float = 0.5, max_iter: int = 200,
                 shuffle: bool = True, random_state: Any = None, tol: float = 1e-4,
                 verbose: bool | int = False, warm_start: bool = False, momentum: float = 0.9,
                 nesterovs_momentum: bool = True, early_stopping: bool = False,
                 validation_fraction: float = 0.1, beta_1: float = 0.9, beta_2: float = 0.999,
                 epsilon: float = 1e-8, n_iter_no_change: int | float = 10,
                 max_fun: int = 15000) -> None:
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.solver = solver
        self.alpha = alpha
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.learning_rate_init = learning_rate_init
        self.power_t = power_t
        self.max_iter = max_iter
        self.shuffle = shuffle
        self.random_state = random_state
        self.tol = tol
        self.verbose = verbose
        self.warm_start = warm_start
        self.momentum = momentum
        self.nesterovs_momentum = nesterovs_momentum
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon
        self.n_iter_no_change = n_iter_no_change
        self.max_fun = max_fun

    # -- hooks the two estimators fill in -------------------------------------------------------
    def _validate_input(self, X: Any, y: Any, incremental: bool,
                        reset: bool) -> tuple[Array, Array]:
        raise NotImplementedError

    def _output_activation(self) -> str:
        raise NotImplementedError

    def _score_arrays(self, X: Array, Y: Array, w: Array | None) -> float:
        raise NotImplementedError

    # -- checks -------------------------------------------------------------------------------
    def _check_params(self) -> list[int]:
        """scikit-learn's parameter constraints; the hidden layer sizes as a list."""
        try:
            validate_parameter_constraints(self._parameter_constraints,
                                           self.get_params(deep=False),
                                           caller_name=type(self).__name__)
        except _SklearnParameterError as err:
            raise InvalidParameterError(str(err)) from None
        sizes = self.hidden_layer_sizes
        hidden = list(sizes) if hasattr(sizes, "__iter__") else [sizes]
        if any(not isinstance(h, Integral) or h < 1 for h in hidden):
            raise InvalidParameterError(f"hidden_layer_sizes must be positive integers, got "
                                        f"{hidden}; e.g. (100,) or (64, 32)")
        return [int(h) for h in hidden]

    def _check_solver(self) -> bool:
        if self.solver not in STOCHASTIC_SOLVERS:
            raise AttributeError(f"partial_fit is only available for stochastic optimizers. "
                                 f"{self.solver} is not stochastic.")
        return True

    @staticmethod
    def _dense(X: Any) -> Array:
        # The engine works on dense arrays: sparse input is densified (memory: rows x columns).
        return X.toarray() if hasattr(X, "toarray") else X

    def _check_weights(self, sample_weight: Any, n: int, dtype: Any) -> Array | None:
        """``sample_weight`` checked (finite, >= 0, not all zero; one number stands for every
        row, as in scikit-learn) and kept in float64: :meth:`_objective` divides each batch's
        weights by their largest, so huge weights (1e308) neither overflow the float32 loss
        nor change the objective.  A weight so small that the L2 penalty's share of a batch,
        ``alpha / (2 * sum(weights))``, exceeds the largest ``dtype`` value is refused."""
        if sample_weight is None:
            return None
        if isinstance(sample_weight, (int, float, np.integer, np.floating)) and \
                not isinstance(sample_weight, (bool, np.bool_)):
            sample_weight = np.full(n, float(sample_weight))
        w = metrics.check_sample_weight(sample_weight, n)
        positive = w[w > 0]
        if self.alpha and len(positive):
            smallest = float(positive.min())
            if 0.5 * float(self.alpha) / smallest > float(np.finfo(dtype).max):
                i = int(np.flatnonzero(w == smallest)[0])
                raise DataError(f"sample_weight[{i}] is {smallest!r}: with alpha={self.alpha} "
                                "the L2 penalty of a batch, alpha / (2 * sum of its weights), "
                                f"would exceed {np.dtype(dtype).name}'s range. Multiply every "
                                "weight by one large number, or set alpha=0")
        return w

    # -- the network ----------------------------------------------------------------------------
    def _initialize(self, Y: Array, layer_units: list[int], dtype: Any,
                    rs: np.random.RandomState) -> None:
        """Fresh weights (Glorot's uniform rule, with the logistic factor 2 instead of 6) and
        fresh bookkeeping, as at the start of a first fit."""
        self.n_iter_ = 0
        self.t_ = 0
        self.n_outputs_ = Y.shape[1]
        self.n_layers_ = len(layer_units)
        self.out_activation_ = self._output_activation()
        factor = 2.0 if self.activation == "logistic" else 6.0
        self.coefs_, self.intercepts_ = [], []
        for fan_in, fan_out in pairwise(layer_units):
            bound = math.sqrt(factor / (fan_in + fan_out))
            self.coefs_.append(rs.uniform(-bound, bound, (fan_in, fan_out)).astype(dtype))
            self.intercepts_.append(rs.uniform(-bound, bound, fan_out).astype(dtype))
        self._optimizer: _SolverState | None = None
        if self.solver in STOCHASTIC_SOLVERS:
            self.loss_curve_: list[float] = []
            self._no_improvement_count = 0
            if self.early_stopping:
                self.validation_scores_: list[float] | None = []
                self.best_validation_score_: float | None = -np.inf
                self.best_loss_: float | None = None
            else:
                self.best_loss_ = np.inf
                self.validation_scores_ = None
                self.best_validation_score_ = None

    def _fill_bookkeeping(self) -> None:
        """Defaults for what a first fit would have set, when ``coefs_`` and ``intercepts_``
        were assigned by hand before ``partial_fit`` or a warm-started ``fit``."""
        self.n_layers_ = len(self.coefs_) + 1
        self.out_activation_ = getattr(self, "out_activation_", self._output_activation())
        for name, default in (("n_iter_", 0), ("t_", 0), ("_no_improvement_count", 0),
                              ("_optimizer", None)):
            if not hasattr(self, name):
                setattr(self, name, default)
        if self.solver in STOCHASTIC_SOLVERS:
            if getattr(self, "loss_curve_", None) is None:
                self.loss_curve_ = []
            if self.early_stopping and getattr(self, "validation_scores_", None) is None:
                self.validation_scores_, self.best_validation_score_ = [], -np.inf
                self.best_loss_ = None
            elif not self.early_stopping and getattr(self, "best_loss_", None) is None:
                self.best_loss_ = np.inf
                self.validation_scores_ = self.best_validation_score_ = None

    def _parameters(self, dtype: Any) -> list[Tensor]:
        """The weights as tensors that require gradients; they share memory with ``coefs_``
        and ``intercepts_``, so optimizer steps update those arrays in place."""
        self.coefs_ = [np.ascontiguousarray(c, dtype=dtype) for c in self.coefs_]
        self.intercepts_ = [np.ascontiguousarray(b, dtype=dtype).reshape(-1)
                            for b in self.intercepts_]
        return [Tensor(a, requires_grad=True) for a in (*self.coefs_, *self.intercepts_)]

    def _logits(self, X: Array, params: Sequence[Tensor]) -> Tensor:
        """The network's last layer before the output activation."""
        n = len(params) // 2
        hidden = HIDDEN_ACTIVATIONS[self.activation]
        h = Tensor(X)
        for i in range(n):
            h = matmul(h, params[i]) + params[n + i]
            if i < n - 1:
                h = hidden(h)
        return h

    def _objective(self, params: Sequence[Tensor], X: Array, Y: Any,
                   w: Array | None) -> Tensor:
        """scikit-learn's objective: the (weighted) mean loss over examples, summed over
        outputs, plus ``alpha / 2 * sum(W**2)`` divided by the (weighted) number of examples."""
        Y = np.asarray(Y)
        Y = Y.reshape(len(Y), -1) if Y.ndim != 2 else Y
        # With the weights divided by their largest, s, both terms are divided by s, which
        # leaves the objective as it is: sum(w l) / sum(w) + alpha / (2 sum(w)) * sum(W**2).
        scale = 1.0 if w is None else float(np.max(w))
        if w is not None:
            w = w / scale
        total = float(len(X)) if w is None else float(w.sum())
        loss = LOSSES[self.out_activation_](self._logits(X, params), Y, w)
        if self.alpha:
            penalty = sum((W * W).sum() for W in params[:len(params) // 2])
            loss = loss + penalty * (0.5 * float(self.alpha) / scale)
        return loss * (1.0 / total)

    def _raw_output(self, X: Any) -> Array:
        """The network's logits for checked input ``X`` (no graph recorded)."""
        X = np.asarray(self._dense(X), dtype=self.coefs_[0].dtype)
        with no_grad():
            params = [Tensor(np.asarray(a)) for a in (*self.coefs_, *self.intercepts_)]
            return self._logits(X, params).data

    def _check_input(self, X: Any) -> Array:
        check_is_fitted(self, "coefs_")
        check_numeric_frame(X)
        return validate_data(self, X, accept_sparse=["csr", "csc"], reset=False,
                             dtype=(np.float64, np.float32))

    # -- fit ------------------------------------------------------------------------------------
    def _fit(self, X: Any, y: Any, sample_weight: Any, incremental: bool) -> _BaseMLP:
        hidden = self._check_params()
        if incremental and self.early_stopping:
            raise ConfigError("partial_fit does not support early_stopping=True; use fit, or "
                              "set early_stopping=False")
        first_pass = not hasattr(self, "coefs_") or (not self.warm_start and not incremental)
        # A DataFrame's column names are recorded (feature_names_in_) and checked at predict
        # by scikit-learn's validate_data; text columns are refused first, naming them.
        check_numeric_frame(X)
        X, Y = self._validate_input(X, y, incremental, reset=first_pass)
        X = self._dense(X)
        Y = Y.reshape(len(Y), -1) if Y.ndim == 1 else Y
        w = self._check_weights(sample_weight, len(X), X.dtype)
        layer_units = [X.shape[1], *hidden, Y.shape[1]]
        rs = check_random_state(self.random_state)
        if first_pass:
            self._initialize(Y, layer_units, X.dtype, rs)
        else:
            self._fill_bookkeeping()
            have = [c.shape[0] for c in self.coefs_] + [self.coefs_[-1].shape[1]]
            if have != layer_units:
                raise DataError(f"{type(self).__name__}: the current weights have layer sizes "
                                f"{have} but this data needs {layer_units}; fit without "
                                "warm_start to start afresh")
        self.n_outputs_ = Y.shape[1]
        if self.solver == "lbfgs":
            self._fit_lbfgs(X, Y, w)
        else:
            self._fit_stochastic(X, Y, w, rs, incremental)
        if not all(np.isfinite(a).all() for a in (*self.coefs_, *self.intercepts_)):
            raise DataError("Solver produced non-finite parameter weights. The input data may "
                            "contain large values and need to be preprocessed (e.g. "
                            "StandardScaler), or lower learning_rate_init.")
        return self

    # -- L-BFGS ---------------------------------------------------------------------------------
    def _pack(self, arrays: Sequence[Array]) -> Array:
        return np.concatenate([np.asarray(a, dtype=np.float64).ravel() for a in arrays])

    def _unpack(self, theta: Array, dtype: Any) -> None:
        offset, arrays = 0, []
        for a in (*self.coefs_, *self.intercepts_):
            arrays.append(theta[offset:offset + a.size].reshape(a.shape).astype(dtype))
            offset += a.size
        n = len(self.coefs_)
        self.coefs_, self.intercepts_ = arrays[:n], arrays[n:]

    def _loss_grad_lbfgs(self, theta: Array, X: Array, Y: Array, sample_weight: Array | None,
                         *unused: Any) -> tuple[float, Array]:
        """The objective and its gradient at the packed weights ``theta`` (coefficients, then
        intercepts, each flattened), as scikit-learn's L-BFGS solver calls it; sets
        ``coefs_`` and ``intercepts_`` to ``theta``.  Extra arguments are ignored."""
        X = np.asarray(X)
        self._unpack(np.asarray(theta, dtype=np.float64), X.dtype)
        params = self._parameters(X.dtype)
        loss = self._objective(params, X, Y, sample_weight)
        loss.backward()
        return float(loss.item()), self._pack([p.grad for p in params])

    def _fit_lbfgs(self, X: Array, Y: Array, w: Array | None) -> None:
        from scipy.optimize import minimize

        result = minimize(self._loss_grad_lbfgs, self._pack([*self.coefs_, *self.intercepts_]),
                          args=(X, Y, w), method="L-BFGS-B", jac=True,
                          options={"maxfun": self.max_fun, "maxiter": self.max_iter,
                                   "gtol": self.tol})
        self.n_iter_ = min(int(result.nit), self.max_iter)
        self.loss_ = float(result.fun)
        self._unpack(result.x, X.dtype)
        if self.verbose:
            print(f"L-BFGS: {self.n_iter_} iterations, loss = {self.loss_:.8f}")
        if result.status != 0:
            message = result.message.decode() if isinstance(result.message, bytes) \
                else str(result.message)
            warnings.warn(f"lbfgs failed to converge after {self.n_iter_} iteration(s) "
                          f"(status={result.status}): {message}. Increase max_iter or max_fun, "
                          "or scale the data (e.g. StandardScaler)", ConvergenceWarning,
                          stacklevel=4)

    # -- SGD and Adam ---------------------------------------------------------------------------
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
            self._optimizer = _SolverState(float(self.learning_rate_init))
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

    def fit(self, X: Any, y: Any, sample_weight: Any = None) -> _BaseMLP:
        """Train on ``(X, y)`` from fresh weights (with ``warm_start``: from the current ones).

        ``sample_weight`` weights each example's loss: the objective is
        ``sum(w_i l_i) / sum(w_i)``, so integer weights equal duplicated rows (in full batch).
        """
        return self._fit(X, y, sample_weight, incremental=False)

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        return tags


class MLPClassifier(ClassifierMixin, _BaseMLP):
    """A multilayer perceptron classifier, scikit-learn's ``MLPClassifier`` trained by chainrule.

    Two classes use one logistic output, more use softmax, and a label-indicator matrix
    (multilabel) one logistic output per label; the loss is the matching cross-entropy, from
    logits.  Solvers ``'adam'`` (default), ``'sgd'`` (Nesterov momentum by default) and
    ``'lbfgs'`` (SciPy's L-BFGS-B, full batch).  Learned: ``classes_``, ``coefs_``,
    ``intercepts_`` (assignable), ``loss_``, ``loss_curve_``, ``best_loss_``,
    ``validation_scores_``, ``best_validation_score_``, ``n_iter_`` (this fit's epochs),
    ``t_``, ``n_layers_``, ``n_outputs_``, ``out_activation_``, ``n_features_in_``.

    >>> clf = MLPClassifier((8,), solver="lbfgs", random_state=0)
    >>> clf.fit([[0, 0], [0, 1], [1, 0], [1, 1]], ["no", "yes", "yes", "no"]).n_layers_
    3
    """

    def _output_activation(self) -> str:
        binarizer = self._label_binarizer
        return "softmax" if binarizer.y_type_ == "multiclass" else "logistic"

    def _validate_input(self, X: Any, y: Any, incremental: bool,
                        reset: bool) -> tuple[Array, Array]:
        X, y = validate_data(self, X, y, accept_sparse=["csr", "csc"], multi_output=True,
                             dtype=(np.float64, np.float32), reset=reset)
        if y.ndim == 2 and y.shape[1] == 1:
            y = column_or_1d(y, warn=True)
        check_classification_targets(y)
        if not hasattr(self, "classes_") or (not self.warm_start and not incremental):
            self._label_binarizer = LabelBinarizer().fit(y)
            self.classes_ = self._label_binarizer.classes_
        else:
            classes = unique_labels(y)
            if self.warm_start:
                if set(classes) != set(self.classes_):
                    raise DataError("warm_start can only be used where `y` has the same "
                                    "classes as in the previous call to fit. Previously got "
                                    f"{self.classes_}, `y` has {classes}; fit with "
                                    "warm_start=False to start afresh")
            elif len(np.setdiff1d(classes, self.classes_, assume_unique=True)):
                raise DataError(f"`y` has classes not in `self.classes_`. `self.classes_` has "
                                f"{self.classes_}. 'y' has {classes}; pass every class to the "
                                "first partial_fit call")
        return X, self._label_binarizer.transform(y).astype(X.dtype)

    def _score_arrays(self, X: Array, Y: Array, w: Array | None) -> float:
        z = self._raw_output(X)
        if not np.isfinite(z).all():
            return math.nan
        truth = self._label_binarizer.inverse_transform(Y)
        guess = self._classes_from(z)
        if np.ndim(truth) == 2:  # multilabel: a row counts only when every label is right
            _, codes = np.unique(np.vstack([truth, guess]), axis=0, return_inverse=True)
            codes = codes.reshape(-1)
            truth, guess = codes[:len(truth)], codes[len(truth):]
        return metrics.accuracy(truth, guess, sample_weight=w)

    def _classes_from(self, z: Array) -> Array:
        # A logit above 0 is a probability above 0.5: threshold the logits, with no rounding.
        return self._label_binarizer.inverse_transform(z, threshold=0.0)

    def partial_fit(self, X: Any, y: Any, sample_weight: Any = None,
                    classes: Any = None) -> MLPClassifier:
        """One epoch over ``(X, y)``, continuing from the current weights.  The first call
        needs ``classes`` (every label that will ever appear); ``n_iter_`` is then 1."""
        self._check_solver()
        if getattr(self, "classes_", None) is None:
            if classes is None:
                raise DataError("classes must be passed on the first call to partial_fit, "
                                "e.g. classes=np.unique(y_all)")
            self._label_binarizer = LabelBinarizer()
            self._label_binarizer.fit(y if type_of_target(y).startswith("multilabel")
                                      else classes)
            self.classes_ = self._label_binarizer.classes_
        elif classes is not None and not np.array_equal(self.classes_, unique_labels(classes)):
            raise DataError(f"classes={np.asarray(classes)!r} is not the same as on the first "
                            f"call to partial_fit, which had {self.classes_}")
        return self._fit(X, y, sample_weight, incremental=True)

    partial_fit = available_if(_BaseMLP._check_solver)(partial_fit)  # type: ignore[assignment]

    def predict(self, X: Any) -> Array:
        """The predicted class of each row (a 0/1 row per example for multilabel targets)."""
        return self._classes_from(self._raw_output(self._check_input(X)))

    def predict_proba(self, X: Any) -> Array:
        """Class probabilities, one column per entry of ``classes_`` (rows sum to 1, except
        for multilabel targets, where each column is one label's probability)."""
        z = self._raw_output(self._check_input(X))
        if len(self.classes_) == 1:  # one class seen: it is certain
            return np.ones((len(z), 1), dtype=z.dtype)
        task = tasks.get("multiclass" if self.out_activation_ == "softmax" else "binary_logits")
        return task.probabilities(z).astype(z.dtype, copy=False)

    def predict_log_proba(self, X: Any) -> Array:
        """``log(predict_proba(X))`` (-inf where a probability rounds to 0)."""
        with np.errstate(divide="ignore"):
            return np.log(self.predict_proba(X))

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_label = True
        return tags


class MLPRegressor(RegressorMixin, _BaseMLP):
    """A multilayer perceptron regressor, scikit-learn's ``MLPRegressor`` trained by chainrule.

    ``loss='squared_error'`` (identity output; half the squared error, summed over outputs)
    or ``'poisson'`` (exponential output; half the Poisson deviance, for counts ``y >= 0``).
    ``y`` may have several columns.  Other parameters and attributes as in
    :class:`MLPClassifier`.

    >>> reg = MLPRegressor(hidden_layer_sizes=(8,), solver="lbfgs", random_state=0)
    >>> reg.fit([[0.0], [1.0], [2.0]], [0.0, 1.0, 2.0]).predict([[1.0]]).shape
    (1,)
    """

    _parameter_constraints: ClassVar[dict[str, list[Any]]] = {
        **_BaseMLP._parameter_constraints,
        "loss": [StrOptions({"squared_error", "poisson"})],
    }

    def __init__(self, loss: str = "squared_error",
                 hidden_layer_sizes: Sequence[int] | int = (100,), activation: str = "relu",
                 *, solver: str = "adam", alpha: float = 1e-4, batch_size: int | str = "auto",
                 learning_rate: str = "constant", learning_rate_init: float = 1e-3,
                 power_t: float = 0.5, max_iter: int = 200, shuffle: bool = True,
                 random_state: Any = None, tol: float = 1e-4, verbose: bool | int = False,
                 warm_start: bool = False, momentum: float = 0.9,
                 nesterovs_momentum: bool = True, early_stopping: bool = False,
                 validation_fraction: float = 0.1, beta_1: float = 0.9, beta_2: float = 0.999,
                 epsilon: float = 1e-8, n_iter_no_change: int | float = 10,
                 max_fun: int = 15000) -> None:
        super().__init__(hidden_layer_sizes, activation, solver=solver, alpha=alpha,
                         batch_size=batch_size, learning_rate=learning_rate,
                         learning_rate_init=learning_rate_init, power_t=power_t,
                         max_iter=max_iter, shuffle=shuffle, random_state=random_state,
                         tol=tol, verbose=verbose, warm_start=warm_start, momentum=momentum,
                         nesterovs_momentum=nesterovs_momentum, early_stopping=early_stopping,
                         validation_fraction=validation_fraction, beta_1=beta_1,
                         beta_2=beta_2, epsilon=epsilon, n_iter_no_change=n_iter_no_change,
                         max_fun=max_fun)
        self.loss = loss

    def _output_activation(self) -> str:
        return "exp" if self.loss == "poisson" else "identity"

    def _validate_input(self, X: Any, y: Any, incremental: bool,
                        reset: bool) -> tuple[Array, Array]:
        X, y = validate_data(self, X, y, accept_sparse=["csr", "csc"], multi_output=True,
                             y_numeric=True, dtype=(np.float64, np.float32), reset=reset)
        if y.ndim == 2 and y.shape[1] == 1:
            y = column_or_1d(y, warn=True)
        if self.loss == "poisson" and np.any(y < 0):
            raise DataError("loss='poisson' needs targets y >= 0 (counts or rates); got "
                            f"a minimum of {np.min(y)}")
        return X, np.asarray(y, dtype=X.dtype)

    def _values(self, z: Array) -> Array:
        out = np.exp(z) if self.out_activation_ == "exp" else z
        return out[:, 0] if out.shape[1] == 1 else out

    def _score_arrays(self, X: Array, Y: Array, w: Array | None) -> float:
        pred = self._values(self._raw_output(X))
        if not np.isfinite(pred).all():
            return math.nan
        return metrics.r2(Y[:, 0] if Y.shape[1] == 1 else Y, pred, sample_weight=w)

    def partial_fit(self, X: Any, y: Any, sample_weight: Any = None) -> MLPRegressor:
        """One epoch over ``(X, y)``, continuing from the current weights (``n_iter_`` is 1)."""
        return self._fit(X, y, sample_weight, incremental=True)

    partial_fit = available_if(_BaseMLP._check_solver)(partial_fit)  # type: ignore[assignment]

    def predict(self, X: Any) -> Array:
        """Predicted values: shape (n,) for one output, (n, outputs) for several."""
        return self._values(self._raw_output(self._check_input(X)))

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        tags.target_tags.single_output = True
        return tags
