"""The L-BFGS solver of the scikit-learn face: SciPy's L-BFGS-B on the full batch.

:class:`LBFGSSolver` is a mixin of the estimators' base class: it reads the weights
(``coefs_``, ``intercepts_``) and parameters (``max_iter``, ``max_fun``, ``tol``,
``verbose``) of the estimator and calls two of its methods, ``_parameters(dtype)`` (the
weights as tensors sharing their memory) and ``_objective(params, X, Y, w)`` (the loss to
minimise); it sets ``coefs_``, ``intercepts_``, ``n_iter_`` and ``loss_``.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
from sklearn.exceptions import ConvergenceWarning

Array = np.ndarray


class LBFGSSolver:
    """``solver='lbfgs'``: the weights packed into one float64 vector, the objective and its
    gradient computed by chainrule, the search done by SciPy."""

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
