"""Seed 5, "Backpropagation derivation" (NTU Applied Deep Learning): the delta recursion.

delta[L] = dC/dy * sigma'(z[L]),  delta[l] = sigma'(z[l]) * (W[l+1]^T delta[l+1]),
dC/dw[l]_ij = delta[l]_i a[l-1]_j  (a[0] = x).
This script runs chainrule.textbook.deep on a 3-5-4-2 sigmoid network with squared error,
prints every delta and gradient with its shape, checks one weight gradient entry by hand from
the formula above, and compares everything with the engine.

Run: python examples/delta_recursion.py
"""

import numpy as np

import chainrule as cr
from chainrule.textbook import deep

dims = [3, 5, 4, 2]
rng = np.random.default_rng(0)
params = deep.initialize_parameters(dims, seed=1)
X = rng.normal(size=(3, 1))   # one example, a column vector as in the notes
Y = np.array([[1.0], [0.0]])
AL, cache = deep.forward(X, params, hidden="sigmoid", output="sigmoid")
grads = deep.backward(Y, params, cache, hidden="sigmoid", output="sigmoid", loss="squared_error")
print(f"layers n = {dims}, C = 1/2 ||y - t||^2 = {deep.cost(AL, Y, 'squared_error'):.6f}")
for layer in range(len(dims) - 1, 0, -1):  # right to left, the order they are computed in
    delta = grads[f"delta{layer}"].ravel()
    print(f"delta[{layer}] {grads[f'delta{layer}'].shape} = {np.array2string(delta, precision=5)}")
    print(f"   dW[{layer}] shape {grads[f'dW{layer}'].shape}, db[{layer}] shape "
          f"{grads[f'db{layer}'].shape}")

# One entry by the scalar formula: dC/dw[2]_ij = delta[2]_i * a[1]_j.
i, j = 3, 1
by_hand = grads["delta2"][i, 0] * cache["A1"][j, 0]
print(f"dC/dw[2]_{i}{j} = delta[2]_{i} * a[1]_{j} = {grads['delta2'][i, 0]:.6f} * "
      f"{cache['A1'][j, 0]:.6f} = {by_hand:.6f}; the matrix form gives {grads['dW2'][i, j]:.6f}")

# The recursion itself, written out for layer 1: sigma'(z[1]) * (W[2]^T delta[2]).
a1 = cache["A1"]
manual = a1 * (1 - a1) * (params["W2"].T @ grads["delta2"])
gap = np.abs(manual - grads["delta1"]).max()
print(f"delta[1] from the recursion written out: max difference {gap:.1e}")

# The engine: the same network, dJ/dz retained at every layer.
A = cr.tensor(X.T)
Ws, Zs = [], []
for layer in range(1, len(dims)):
    W = cr.tensor(params[f"W{layer}"], requires_grad=True)
    Z = (A @ W.T + cr.tensor(params[f"b{layer}"].ravel(), requires_grad=True)).retain_grad()
    A = Z.sigmoid()
    Ws.append(W)
    Zs.append(Z)
J = 0.5 * ((A - cr.tensor(Y.T)) ** 2).sum()
J.backward()
worst = max(max(np.abs(grads[f"delta{k}"].T - Zs[k - 1].grad).max(),
                np.abs(grads[f"dW{k}"] - Ws[k - 1].grad).max()) for k in range(1, len(dims)))
print(f"engine: J = {J.item():.6f}; largest difference in any delta or dW: {worst:.1e}")
