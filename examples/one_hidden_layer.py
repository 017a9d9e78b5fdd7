"""Seed 1, "Gradient descent for neural networks": the one-hidden-layer classifier, columns layout.

The notes write X as (n_x, m), one example per column, and derive six backpropagation
equations (dZ2 = A2 - Y, dW2 = (1/m) dZ2 A1^T, ...).  This script runs them with
chainrule.textbook.columns, prints the shape of every quantity (the notes' subscripts),
checks them against the engine, and trains on the flower data set by batch gradient descent.

Run: python examples/one_hidden_layer.py
"""

import numpy as np

import chainrule as cr
from chainrule import nn
from chainrule.textbook import columns

X_rows, y_rows = cr.data.make_flower(seed=1)
X, Y = X_rows.T, y_rows.T  # the notes' layout: X (n_x, m) = (2, 400), Y (1, 400)
n_x, n_h, m = X.shape[0], 4, X.shape[1]

params = columns.initialize_parameters(n_x, n_h, seed=2)  # randn * 0.01, zero biases
A2, cache = columns.forward_propagation(X, params, "tanh")
grads = columns.backward_propagation(params, cache, X, Y, "tanh")

print(f"n_x = n[0] = {n_x}, n[1] = {n_h}, n[2] = 1, m = {m} examples (notes: the shapes "
      "under each symbol)")
for name, value in [("W1", params["W1"]), ("b1", params["b1"]), ("Z1", cache["Z1"]),
                    ("A1", cache["A1"]), ("W2", params["W2"]), ("b2", params["b2"]),
                    ("Z2", cache["Z2"]), ("A2", A2), ("dZ2 = A2 - Y", A2 - Y),
                    ("dW2 = dZ2 A1^T / m", grads["dW2"]), ("db2", grads["db2"]),
                    ("dW1 = dZ1 X^T / m", grads["dW1"]), ("db1", grads["db1"])]:
    print(f"  {name:20s} shape {value.shape}")
print("every gradient has its parameter's shape, as the notes observe: "
      + str(all(grads['d' + k].shape == v.shape for k, v in params.items())))

# The same network in the engine (rows layout, nn.Linear holds W1 as (n_h, n_x) too).
l1, l2 = nn.Linear(n_x, n_h, dtype=np.float64), nn.Linear(n_h, 1, dtype=np.float64)
for layer, W, b in [(l1, params["W1"], params["b1"]), (l2, params["W2"], params["b2"])]:
    layer.weight.data[...] = W
    layer.bias.data[...] = b.ravel()
J = nn.BCELoss()(nn.Sequential(l1, nn.Tanh(), l2, nn.Sigmoid())(cr.tensor(X_rows)),
                 cr.tensor(y_rows))
J.backward()
worst = max(np.abs(grads["dW1"] - l1.weight.grad).max(),
            np.abs(grads["dW2"] - l2.weight.grad).max(),
            np.abs(grads["db1"].ravel() - l1.bias.grad).max(),
            np.abs(grads["db2"].ravel() - l2.bias.grad).max())
print(f"cost J = {columns.compute_cost(A2, Y):.6f} (engine {J.item():.6f}); largest gradient "
      f"difference textbook vs engine: {worst:.1e}")

# Gradient descent: W := W - alpha dW, alpha = 1.2, as in the notes' loop.
params, costs = columns.train(X, Y, n_h=4, num_iterations=5000, learning_rate=1.2)
for i in (0, 1000, 2000, 4999):
    print(f"iteration {i:4d}: cost {costs[i]:.4f}")
accuracy = np.mean(columns.predict(params, X) == Y)
print(f"training accuracy after 5000 steps of batch gradient descent: {accuracy:.1%}")
