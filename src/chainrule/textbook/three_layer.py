"""The three-layer sigmoid network with squared-error loss, as a class (the second seed).

"Three layers" counts the input: input x (D), hidden y = f(net_j) (H), output z = f(net_k)
(C), with f the sigmoid.  Examples are rows, ``params`` holds W1 (D, H), b1 (H,), W2 (H, C),
b2 (C,), so ``net_j = X W1 + b1``, and the loss is the batch mean of the squared error to the
one-hot targets t:

    loss = (1/N) sum_n sum_k (t_nk - z_nk)^2

Its gradients, by the seed's sensitivities delta_k = dJ/dnet_k and delta_j = dJ/dnet_j:

    delta_k = (2/N) (z - t) * z (1 - z)          dW2 = y^T delta_k    db2 = sum_n delta_k
    delta_j = (delta_k W2^T) * y (1 - y)         dW1 = X^T delta_j    db1 = sum_n delta_j

**About the factor 2.**  The seed derives delta_k = -(t_k - z_k) f'(net_k) for the criterion
J = 1/2 ||t - z||^2, but the code in its linked repository reports the loss without the 1/2
and keeps the gradient formula, so its ``grads`` are half the gradient of the loss it returns.
Here :meth:`ThreeLayerNet.loss` returns the true gradient of the loss it reports (the 2
above); gradient checks and the engine agree with it.  Training is unaffected apart from the
step size: the repository's learning rate ``lr`` corresponds to ``lr / 2`` here.

>>> import numpy as np
>>> rng = np.random.default_rng(0)
>>> X = rng.normal(size=(60, 2)); y = (X[:, 0] > X[:, 1]).astype(int)
>>> net = ThreeLayerNet(2, 5, 2, seed=0)
>>> history = net.train(X, y, learning_rate=2.0, num_iters=300)
>>> history["loss_history"][-1] < history["loss_history"][0]
True
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ._activations import sigmoid

__all__ = ["ThreeLayerNet"]


class ThreeLayerNet:
    """Input -> sigmoid hidden layer -> sigmoid output, trained on the mean squared error.

    ``std`` scales the N(0, 1) initial weights (biases start at 0); ``init_value`` instead
    sets every weight to one number, the seed's "what if all w start at 1" experiment.
    """

    def __init__(self, input_size: int, hidden_size: int, output_size: int, std: float = 0.5,
                 seed: int | None = 0, init_value: float | None = None) -> None:
        rng = np.random.default_rng(seed)
        if init_value is None:
            W1 = std * rng.standard_normal((input_size, hidden_size))
            W2 = std * rng.standard_normal((hidden_size, output_size))
        else:
            W1 = np.full((input_size, hidden_size), float(init_value))
            W2 = np.full((hidden_size, output_size), float(init_value))
        self.params: dict[str, np.ndarray] = {
            "W1": W1, "b1": np.zeros(hidden_size), "W2": W2, "b2": np.zeros(output_size),
        }

    def loss(self, X: np.ndarray, y: np.ndarray | None = None) -> Any:
        """Output activations z (N, C) when ``y`` is None; otherwise ``(loss, grads)``.

        ``y`` holds integer class labels (N,); the targets t are their one-hot rows.
        """
        W1, b1 = self.params["W1"], self.params["b1"]
        W2, b2 = self.params["W2"], self.params["b2"]
        N = X.shape[0]
        net_j = X @ W1 + b1
        y_j = sigmoid(net_j)
        net_k = y_j @ W2 + b2
        z_k = sigmoid(net_k)
        if y is None:
            return z_k
        t = np.zeros_like(z_k)
        t[np.arange(N), y] = 1.0
        loss = float(np.sum((t - z_k) ** 2) / N)

        delta_k = 2.0 * (z_k - t) * z_k * (1 - z_k) / N  # d loss / d net_k, with the 2
        delta_j = (delta_k @ W2.T) * y_j * (1 - y_j)     # the seed's eq. (12), all rows at once
        grads = {
            "W2": y_j.T @ delta_k, "b2": delta_k.sum(axis=0),
            "W1": X.T @ delta_j, "b1": delta_j.sum(axis=0),
        }
        return loss, grads

    def train(self, X: np.ndarray, y: np.ndarray, learning_rate: float = 1.0,
              num_iters: int = 1000, batch_size: int | None = None, seed: int | None = 0,
              verbose: bool = False) -> dict[str, list[float]]:
        """Gradient descent for ``num_iters`` steps; full batch unless ``batch_size`` is given.

        Returns ``{"loss_history": [...], "train_acc_history": [...]}`` (accuracy every 100
        steps).
        """
        rng = np.random.default_rng(seed)
        losses: list[float] = []
        accs: list[float] = []
        for it in range(num_iters):
            if batch_size is None:
                Xb, yb = X, y
            else:
                idx = rng.choice(X.shape[0], batch_size, replace=True)
                Xb, yb = X[idx], y[idx]
            loss, grads = self.loss(Xb, yb)
            losses.append(loss)
            for k in self.params:
                self.params[k] -= learning_rate * grads[k]
            if it % 100 == 0:
                accs.append(float(np.mean(self.predict(X) == y)))
                if verbose:
                    print(f"iteration {it}/{num_iters}: loss {loss:.6f}")
        return {"loss_history": losses, "train_acc_history": accs}

    def predict(self, X: np.ndarray) -> np.ndarray:
        """The class with the largest output for each row of X."""
        return np.argmax(self.loss(X), axis=1)
