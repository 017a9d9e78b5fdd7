"""scikit-learn's ``MLPRegressor`` trained by chainrule."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np
from sklearn.base import RegressorMixin
from sklearn.utils._param_validation import StrOptions
from sklearn.utils.metaestimators import available_if
from sklearn.utils.validation import column_or_1d, validate_data

from ..errors import DataError
from ..training import metrics
from .base import BaseMLP

__all__ = ["MLPRegressor"]

Array = np.ndarray


class MLPRegressor(RegressorMixin, BaseMLP):
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
        **BaseMLP._parameter_constraints,
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

    partial_fit = available_if(BaseMLP._check_solver)(partial_fit)  # type: ignore[assignment]

    def predict(self, X: Any) -> Array:
        """Predicted values: shape (n,) for one output, (n, outputs) for several."""
        return self._values(self._raw_output(self._check_input(X)))

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        tags.target_tags.single_output = True
        return tags
