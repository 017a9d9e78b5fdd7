"""What the scikit-learn face's two estimators share: parameters, checks, the weights and
``fit``.  The solvers are the mixins :class:`~.lbfgs.LBFGSSolver` and
:class:`~.stochastic.StochasticSolver`; the network's arithmetic is in :mod:`.network`."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted, validate_data

from ..data.checks import check_numeric_frame
from ..engine import Tensor, no_grad
from ..errors import ConfigError, DataError
from ..training import metrics
from .lbfgs import LBFGSSolver
from .network import initial_weights, logits, objective
from .params import PARAMETER_CONSTRAINTS, check_parameters
from .stochastic import STOCHASTIC_SOLVERS, SolverState, StochasticSolver

Array = np.ndarray


class BaseMLP(LBFGSSolver, StochasticSolver, BaseEstimator):
    """Parameters, initialisation, the two solvers and scikit-learn's stopping rules."""

    _parameter_constraints: ClassVar[dict[str, list[Any]]] = PARAMETER_CONSTRAINTS

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
        return check_parameters(self._parameter_constraints, self.get_params(deep=False),
                                type(self).__name__)

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
        self.coefs_, self.intercepts_ = initial_weights(layer_units, self.activation, dtype, rs)
        self._optimizer: SolverState | None = None
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
        return logits(X, params, self.activation)

    def _objective(self, params: Sequence[Tensor], X: Array, Y: Any,
                   w: Array | None) -> Tensor:
        """scikit-learn's objective (:func:`.network.objective`) for this estimator."""
        return objective(params, X, Y, w, activation=self.activation,
                         output=self.out_activation_, alpha=self.alpha)

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
    def _fit(self, X: Any, y: Any, sample_weight: Any, incremental: bool) -> BaseMLP:
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

    def fit(self, X: Any, y: Any, sample_weight: Any = None) -> BaseMLP:
        """Train on ``(X, y)`` from fresh weights (with ``warm_start``: from the current ones).

        ``sample_weight`` weights each example's loss: the objective is
        ``sum(w_i l_i) / sum(w_i)``, so integer weights equal duplicated rows (in full batch).
        """
        return self._fit(X, y, sample_weight, incremental=False)

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        return tags
