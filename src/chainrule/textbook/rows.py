"""The one-hidden-layer binary classifier in the **rows** layout, as the slides write it.

Every example is a row: ``X`` has shape (n, d), ``Y`` has shape (n, 1).  The weights keep the
slides' shapes, W[l] in R^{d[l] x d[l-1]} and b[l] in R^{d[l] x 1}, so the same parameters
work in both layouts (``rows`` is ``columns`` transposed):

    Z1 = b1^T + X W1^T      Z1 and A1 (n, d1)
    A1 = g(Z1)
    Z2 = b2^T + A1 W2^T     Z2 and A2 (n, 1)
    A2 = sigmoid(Z2)
    J  = -(1/n) sum [y log a2 + (1 - y) log(1 - a2)]

Backpropagation, with the 1/n folded into dZ2 as on the slides:

    dZ2 = (1/n)(A2 - Y)     db2 = dZ2^T 1     dW2 = dZ2^T A1
    dZ1 = dZ2 W2 o g'(Z1)   db1 = dZ1^T 1     dW1 = dZ1^T X

>>> from chainrule.data import make_flower
>>> X, y = make_flower(seed=1)
>>> params, costs = train(X, y, n_h=4, num_iterations=2000, seed=2)
>>> float(np.mean(predict(params, X) == y)) > 0.8
True
"""

from __future__ import annotations

import numpy as np

from ._activations import binary_cross_entropy, check, g, g_prime, sigmoid
from .columns import initialize_parameters, update_parameters

__all__ = [
    "backward_propagation",
    "compute_cost",
    "forward_propagation",
    "initialize_parameters",
    "predict",
    "train",
    "update_parameters",
]

Params = dict[str, np.ndarray]


def forward_propagation(X: np.ndarray, parameters: Params,
                        activation: str = "tanh") -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """A2 of shape (n, 1) and the cache {Z1, A1, Z2, A2}, every quantity one row per example."""
    check(activation)
    Z1 = parameters["b1"].T + X @ parameters["W1"].T  # b1^T (1, d1) broadcasts over n rows
    A1 = g(activation, Z1)
    Z2 = parameters["b2"].T + A1 @ parameters["W2"].T
    A2 = sigmoid(Z2)
    return A2, {"Z1": Z1, "A1": A1, "Z2": Z2, "A2": A2}


def compute_cost(A2: np.ndarray, Y: np.ndarray) -> float:
    """J = -(1/n) sum [y log a2 + (1 - y) log(1 - a2)]."""
    return binary_cross_entropy(A2, Y)


def backward_propagation(parameters: Params, cache: dict[str, np.ndarray], X: np.ndarray,
                         Y: np.ndarray, activation: str = "tanh") -> Params:
    """The slides' vectorised equations; dW1, db1, dW2, db2 come out shaped like W1, b1, ..."""
    n = X.shape[0]
    A1 = cache["A1"]
    dZ2 = (cache["A2"] - Y) / n
    ones = np.ones((n, 1))
    db2 = dZ2.T @ ones  # (d2, 1): the sum over examples, written as the slides write it
    dW2 = dZ2.T @ A1
    dZ1 = (dZ2 @ parameters["W2"]) * g_prime(activation, cache["Z1"], A1)
    db1 = dZ1.T @ ones
    dW1 = dZ1.T @ X
    return {"dW1": dW1, "db1": db1, "dW2": dW2, "db2": db2}


def predict(parameters: Params, X: np.ndarray, activation: str = "tanh") -> np.ndarray:
    """Class 1 where a2 > 0.5, as an integer array of shape (n, 1)."""
    A2, _ = forward_propagation(X, parameters, activation)
    return (A2 > 0.5).astype(int)


def train(X: np.ndarray, Y: np.ndarray, n_h: int = 4, num_iterations: int = 10000,
          learning_rate: float = 1.2, activation: str = "tanh", seed: int | None = 2,
          print_cost: bool = False) -> tuple[Params, list[float]]:
    """Batch gradient descent (the slides' steps 1-4); returns parameters and the cost curve."""
    parameters = initialize_parameters(X.shape[1], n_h, Y.shape[1], seed=seed)
    costs = []
    for i in range(num_iterations):
        A2, cache = forward_propagation(X, parameters, activation)
        costs.append(compute_cost(A2, Y))
        grads = backward_propagation(parameters, cache, X, Y, activation)
        parameters = update_parameters(parameters, grads, learning_rate)
        if print_cost and i % 1000 == 0:
            print(f"cost after iteration {i}: {costs[-1]:.6f}")
    return parameters, costs
