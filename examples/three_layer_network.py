"""Seed 2, "BP neural network from Pattern Classification": the three-layer sigmoid network.

The notes derive delta_k = -(t_k - z_k) f'(net_k), dJ/dw_kj = delta_k y_j and
delta_j = f'(net_j) sum_k w_kj delta_k for J = 1/2 ||t - z||^2, and write a class with
params W1, b1, W2, b2 and methods loss / train / predict.  chainrule.textbook.ThreeLayerNet is
that class with one correction: its gradients are the true gradients of the loss it reports
(the linked repository reports sum (t - z)^2 / N but keeps the gradient of half of it).
This script shows the factor of 2, checks it against the engine, then repeats the notes'
section 4 experiment: all weights initialised to 1 make the hidden layer a single unit.

Run: python examples/three_layer_network.py
"""

import numpy as np

import chainrule as cr
from chainrule.textbook import ThreeLayerNet

rng = np.random.default_rng(0)
N, D, H, C = 300, 2, 8, 3
X = rng.normal(size=(N, D))
y = (np.arctan2(X[:, 1], X[:, 0]) + np.pi).astype(float) * C / (2 * np.pi)
y = np.minimum(y.astype(int), C - 1)  # three wedges around the origin

net = ThreeLayerNet(D, H, C, std=0.5, seed=1)
loss, grads = net.loss(X, y)

# The repository's formula, dL_dnetk = (z - t) f'(net_k) without the 2:
z = net.loss(X)
t = np.eye(C)[y]
hidden = 1 / (1 + np.exp(-(X @ net.params["W1"] + net.params["b1"])))
repo_grad_w2 = hidden.T @ ((z - t) * z * (1 - z)) / N
ours, theirs = np.linalg.norm(grads["W2"]), np.linalg.norm(repo_grad_w2)
print(f"loss = sum (t - z)^2 / N = {loss:.6f}")
print(f"||dW2|| here {ours:.6f}; with the repository's formula {theirs:.6f} "
      f"(ratio {ours / theirs:.3f})")

# The engine computes the gradient of the same loss and agrees with the factor 2.
W1 = cr.tensor(net.params["W1"], requires_grad=True)
W2 = cr.tensor(net.params["W2"], requires_grad=True)
zt = (((cr.tensor(X) @ W1 + net.params["b1"]).sigmoid() @ W2) + net.params["b2"]).sigmoid()
J = ((cr.tensor(t) - zt) ** 2).sum() / N
J.backward()
print(f"engine: loss {J.item():.6f}, max |dW1 - engine| {np.abs(grads['W1'] - W1.grad).max():.1e}, "
      f"max |dW2 - engine| {np.abs(grads['W2'] - W2.grad).max():.1e}")

# Train from random weights and from all weights = 1 (the notes' section 4).
for label, model in [("random init (std 0.5)", ThreeLayerNet(D, H, C, std=0.5, seed=1)),
                     ("every weight = 1     ", ThreeLayerNet(D, H, C, init_value=1.0))]:
    history = model.train(X, y, learning_rate=5.0, num_iters=2000)
    W1 = model.params["W1"]
    distinct = len({tuple(np.round(col, 10)) for col in W1.T})
    print(f"{label}: loss {history['loss_history'][0]:.4f} -> {history['loss_history'][-1]:.4f}, "
          f"accuracy {np.mean(model.predict(X) == y):.1%}, distinct hidden units {distinct} of {H}")
