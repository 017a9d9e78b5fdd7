"""The network of the scikit-learn face: its activations, its losses and its objective.

A multilayer perceptron is a list of weight matrices ``coefs`` and bias vectors
``intercepts`` (scikit-learn's layout); these functions compute on them as chainrule tensors,
so ``backward()`` gives the gradients both solvers use.

>>> import numpy as np
>>> from chainrule.engine import Tensor
>>> params = [Tensor(np.eye(2)), Tensor(np.zeros(2))]
>>> logits(np.array([[1.0, -1.0]]), params, "relu").data       # one layer: no activation
array([[ 1., -1.]])
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from itertools import pairwise
from typing import Any

import numpy as np

from ..engine import Tensor, exp, matmul
from ..nn import activations
from ..nn import functional as F

Array = np.ndarray

# scikit-learn's name for each hidden activation -> its key in chainrule's activation table
# (chainrule.nn.activations.ACTIVATIONS); the output layer is set by the task
# (``out_activation_``).
SKLEARN_ACTIVATIONS: dict[str, str] = {
    "identity": "identity",
    "logistic": "sigmoid",
    "tanh": "tanh",
    "relu": "relu",
}

# What the hidden layers compute: each activation's engine function, read from its class.
HIDDEN_ACTIVATIONS: dict[str, Callable[[Tensor], Tensor]] = {
    name: activations.get(key).function for name, key in SKLEARN_ACTIVATIONS.items()
}


def poisson_sum(z: Tensor, y: Array, w: Array | None) -> Tensor:
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
OUTPUT_LOSSES: dict[str, Callable[[Tensor, Array, Array | None], Tensor]] = {
    "logistic": lambda z, y, w: F.binary_cross_entropy_with_logits(z, y, "sum", w),
    "softmax": lambda z, y, w: F.cross_entropy(z, y, "sum", w),
    "identity": lambda z, y, w: F.mse_loss(z, y, "sum", w) * 0.5,
    "exp": poisson_sum,
}


def initial_weights(layer_units: Sequence[int], activation: str, dtype: Any,
                    rs: np.random.RandomState) -> tuple[list[Array], list[Array]]:
    """Fresh ``(coefs, intercepts)`` by Glorot's uniform rule (with the logistic factor 2
    instead of 6), drawn in scikit-learn's order so the same ``random_state`` gives the same
    weights."""
    factor = 2.0 if activation == "logistic" else 6.0
    coefs, intercepts = [], []
    for fan_in, fan_out in pairwise(layer_units):
        bound = math.sqrt(factor / (fan_in + fan_out))
        coefs.append(rs.uniform(-bound, bound, (fan_in, fan_out)).astype(dtype))
        intercepts.append(rs.uniform(-bound, bound, fan_out).astype(dtype))
    return coefs, intercepts


def logits(X: Array, params: Sequence[Tensor], activation: str) -> Tensor:
    """The network's last layer before the output activation; ``params`` holds the weight
    matrices, then the biases."""
    n = len(params) // 2
    hidden = HIDDEN_ACTIVATIONS[activation]
    h = Tensor(X)
    for i in range(n):
        h = matmul(h, params[i]) + params[n + i]
        if i < n - 1:
            h = hidden(h)
    return h


def objective(params: Sequence[Tensor], X: Array, Y: Any, w: Array | None, *,
              activation: str, output: str, alpha: float) -> Tensor:
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
    loss = OUTPUT_LOSSES[output](logits(X, params, activation), Y, w)
    if alpha:
        penalty = sum((W * W).sum() for W in params[:len(params) // 2])
        loss = loss + penalty * (0.5 * float(alpha) / scale)
    return loss * (1.0 / total)
