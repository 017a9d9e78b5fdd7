"""The one-hidden-layer binary classifier in the **columns** layout, as the first seed writes it.

Every example is a column: ``X`` has shape (n_x, m), ``Y`` has shape (1, m), and

    Z1 = W1 X + b1          W1 (n_h, n_x), b1 (n_h, 1), Z1 and A1 (n_h, m)
    A1 = g(Z1)              g is tanh, sigmoid or relu
    Z2 = W2 A1 + b2         W2 (1, n_h),   b2 (1, 1),   Z2 and A2 (1, m)
    A2 = sigmoid(Z2)
    J  = -(1/m) sum [Y log A2 + (1 - Y) log(1 - A2)]

Backpropagation (the seed's six equations):

    dZ2 = A2 - Y
    dW2 = (1/m) dZ2 A1^T
    db2 = (1/m) np.sum(dZ2, axis=1, keepdims=True)
    dZ1 = W2^T dZ2 * g'(Z1)
    dW1 = (1/m) dZ1 X^T
    db1 = (1/m) np.sum(dZ1, axis=1, keepdims=True)

(The seed's vectorised db2 line sums dZ1, a typo; db2 sums dZ2, as its single-example
version says.)  This is plain NumPy on purpose: it is the reference the engine is tested
against, and the code a learner can read line by line next to the notes.

>>> from chainrule.data import make_flower
>>> X, y = make_flower(seed=1)
>>> params, costs = train(X.T, y.T, n_h=4, num_iterations=2000, seed=2)
>>> float(np.mean(predict(params, X.T) == y.T)) > 0.8
True
"""

from __future__ import annotations

import numpy as np

from ._activations import binary_cross_entropy, check, g, g_prime, sigmoid

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


def initialize_parameters(n_x: int, n_h: int, n_y: int = 1, scale: float = 0.01,
                          seed: int | None = 2) -> Params:
    """W1 (n_h, n_x) and W2 (n_y, n_h) drawn from N(0, 1) times ``scale``; b1, b2 zeros.

    Small random weights, not zeros: equal weights make every hidden unit compute the same
    function (see :func:`chainrule.diagnose`).

    >>> p = initialize_parameters(2, 4)
    >>> {k: v.shape for k, v in p.items()}
    {'W1': (4, 2), 'b1': (4, 1), 'W2': (1, 4), 'b2': (1, 1)}
    """
    rng = np.random.default_rng(seed)
    return {
        "W1": rng.standard_normal((n_h, n_x)) * scale,
        "b1": np.zeros((n_h, 1)),
        "W2": rng.standard_normal((n_y, n_h)) * scale,
        "b2": np.zeros((n_y, 1)),
    }


def forward_propagation(X: np.ndarray, parameters: Params,
                        activation: str = "tanh") -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """A2 = sigmoid(W2 g(W1 X + b1) + b2), and the cache {Z1, A1, Z2, A2} backward needs."""
    check(activation)
    Z1 = parameters["W1"] @ X + parameters["b1"]  # b1 (n_h, 1) broadcasts over the m columns
    A1 = g(activation, Z1)
    Z2 = parameters["W2"] @ A1 + parameters["b2"]
    A2 = sigmoid(Z2)
    return A2, {"Z1": Z1, "A1": A1, "Z2": Z2, "A2": A2}


def compute_cost(A2: np.ndarray, Y: np.ndarray) -> float:
    """J = -(1/m) sum [Y log A2 + (1 - Y) log(1 - A2)] (binary cross-entropy)."""
    return binary_cross_entropy(A2, Y)


def backward_propagation(parameters: Params, cache: dict[str, np.ndarray], X: np.ndarray,
                         Y: np.ndarray, activation: str = "tanh") -> Params:
    """The six equations above: returns dW1, db1, dW2, db2 (each shaped like its parameter)."""
    m = X.shape[1]
    A1, A2 = cache["A1"], cache["A2"]
    dZ2 = A2 - Y  # sigmoid and cross-entropy together: dL/dz = a - y
    dW2 = dZ2 @ A1.T / m
    db2 = np.sum(dZ2, axis=1, keepdims=True) / m
    dZ1 = (parameters["W2"].T @ dZ2) * g_prime(activation, cache["Z1"], A1)
    dW1 = dZ1 @ X.T / m
    db1 = np.sum(dZ1, axis=1, keepdims=True) / m
    return {"dW1": dW1, "db1": db1, "dW2": dW2, "db2": db2}


def update_parameters(parameters: Params, grads: Params, learning_rate: float = 1.2) -> Params:
    """One step of gradient descent, W := W - alpha dW; returns new arrays."""
    return {k: v - learning_rate * grads["d" + k] for k, v in parameters.items()}


def predict(parameters: Params, X: np.ndarray, activation: str = "tanh") -> np.ndarray:
    """Class 1 where A2 > 0.5, as an integer array of shape (1, m)."""
    A2, _ = forward_propagation(X, parameters, activation)
    return (A2 > 0.5).astype(int)


def train(X: np.ndarray, Y: np.ndarray, n_h: int = 4, num_iterations: int = 10000,
          learning_rate: float = 1.2, activation: str = "tanh", seed: int | None = 2,
          print_cost: bool = False) -> tuple[Params, list[float]]:
    """Batch gradient descent: forward, cost, backward, update, ``num_iterations`` times.

    Returns the trained parameters and the cost before each step.
    """
    parameters = initialize_parameters(X.shape[0], n_h, Y.shape[0], seed=seed)
    costs = []
    for i in range(num_iterations):
        A2, cache = forward_propagation(X, parameters, activation)
        costs.append(compute_cost(A2, Y))
        grads = backward_propagation(parameters, cache, X, Y, activation)
        parameters = update_parameters(parameters, grads, learning_rate)
        if print_cost and i % 1000 == 0:
            print(f"cost after iteration {i}: {costs[-1]:.6f}")
    return parameters, costs
