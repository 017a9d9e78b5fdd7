"""The parameters of the scikit-learn face: their allowed values, checked by scikit-learn's
own checker so the errors (and messages) are those users of ``sklearn.neural_network`` get.

>>> from chainrule.sklearn import MLPClassifier
>>> MLPClassifier(momentum=5).fit([[0.0], [1.0]], [0, 1])
Traceback (most recent call last):
...
chainrule.sklearn.params.InvalidParameterError: The 'momentum' parameter of MLPClassifier \
must be a float in the range [0.0, 1.0]. Got 5 instead.
"""

from __future__ import annotations

from collections.abc import Mapping
from numbers import Integral, Real
from typing import Any

import numpy as np
from sklearn.utils._param_validation import (
    Interval,
    Options,
    StrOptions,
    validate_parameter_constraints,
)

# scikit-learn publishes no other path to its parameter checker; using it gives exactly the
# errors (and messages) users of sklearn.neural_network get.
from sklearn.utils._param_validation import InvalidParameterError as _SklearnParameterError

from ..errors import ConfigError
from .network import HIDDEN_ACTIVATIONS

__all__ = ["PARAMETER_CONSTRAINTS", "InvalidParameterError", "check_parameters"]


class InvalidParameterError(ConfigError, _SklearnParameterError):
    """A parameter outside its allowed values: both chainrule's :class:`ConfigError` and
    scikit-learn's ``InvalidParameterError`` (a ``ValueError`` and a ``TypeError``), with
    scikit-learn's message."""


# The parameters both estimators share (MLPRegressor adds ``loss``).
PARAMETER_CONSTRAINTS: dict[str, list[Any]] = {
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
    "n_iter_no_change": [Interval(Integral, 1, None, closed="left"), Options(Real, {np.inf})],
    "max_fun": [Interval(Integral, 1, None, closed="left")],
}


def check_parameters(constraints: Mapping[str, list[Any]], params: Mapping[str, Any],
                     caller: str) -> list[int]:
    """Check ``params`` (an estimator's ``get_params(deep=False)``) against ``constraints``;
    returns the hidden layer sizes as a list of ints.

    >>> check_parameters(PARAMETER_CONSTRAINTS, {"hidden_layer_sizes": 8}, "MLPClassifier")
    [8]
    """
    try:
        validate_parameter_constraints(dict(constraints), dict(params), caller_name=caller)
    except _SklearnParameterError as err:
        raise InvalidParameterError(str(err)) from None
    sizes = params["hidden_layer_sizes"]
    hidden = list(sizes) if hasattr(sizes, "__iter__") else [sizes]
    if any(not isinstance(h, Integral) or h < 1 for h in hidden):
        raise InvalidParameterError(f"hidden_layer_sizes must be positive integers, got "
                                    f"{hidden}; e.g. (100,) or (64, 32)")
    return [int(h) for h in hidden]
