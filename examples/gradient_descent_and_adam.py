"""Seed 3, "One hidden layer II (many training examples)": rows layout and batch gradient descent.

The slides stack the n examples as rows, X of shape (n, d), and vectorise:
Z1 = b1^T + X W1^T, dZ2 = (A2 - Y)/n, dW2 = dZ2^T A1, dZ1 = dZ2 W2 o sigma'(Z1), ...
This script uses the slides' sizes d[0] = 3, d[1] = 4, d[2] = 1 with sigmoid hidden units,
prints every shape, then runs the slides' batch gradient descent (steps 1-4) with
chainrule.textbook.rows and compares it with the engine's SGD and Adam optimisers.

Run: python examples/gradient_descent_and_adam.py
"""

import numpy as np

import chainrule as cr
from chainrule import nn
from chainrule.textbook import rows

rng = np.random.default_rng(0)
n, d0, d1 = 200, 3, 4
X = rng.normal(size=(n, d0))
Y = ((X[:, :1] * X[:, 1:2] + 0.5 * X[:, 2:]) > 0).astype(float)  # a target one unit can't fit

params = rows.initialize_parameters(d0, d1, scale=0.5, seed=1)  # step 1: random theta(0)
A2, cache = rows.forward_propagation(X, params, "sigmoid")
grads = rows.backward_propagation(params, cache, X, Y, "sigmoid")
print(f"d[0] = {d0}, d[1] = {d1}, d[2] = 1, n = {n} (the slides' example sizes)")
for name, value in [("X", X), ("Z1 = b1^T + X W1^T", cache["Z1"]), ("A1", cache["A1"]),
                    ("Z2", cache["Z2"]), ("A2", A2), ("dW1 = dZ1^T X", grads["dW1"]),
                    ("db1 = dZ1^T 1", grads["db1"]), ("dW2 = dZ2^T A1", grads["dW2"]),
                    ("db2 = dZ2^T 1", grads["db2"])]:
    print(f"  {name:20s} in R^{value.shape}")

# Steps 2-4, repeated: gradient at theta(t), theta(t+1) = theta(t) - alpha gradient.
alpha, steps = 2.0, 3000
p = dict(params)
for _ in range(steps):
    A2, cache = rows.forward_propagation(X, p, "sigmoid")
    p = rows.update_parameters(p, rows.backward_propagation(p, cache, X, Y, "sigmoid"), alpha)
A2, _ = rows.forward_propagation(X, p, "sigmoid")
print(f"textbook batch gradient descent, alpha = {alpha}, {steps} steps: cost "
      f"{rows.compute_cost(A2, Y):.4f}, accuracy {np.mean((A2 > 0.5) == Y):.1%}")


def engine_run(make_opt):
    l1, l2 = nn.Linear(d0, d1, dtype=np.float64), nn.Linear(d1, 1, dtype=np.float64)
    for layer, W, b in [(l1, params["W1"], params["b1"]), (l2, params["W2"], params["b2"])]:
        layer.weight.data[...] = W  # the same theta(0) as the textbook run
        layer.bias.data[...] = b.ravel()
    model = nn.Sequential(l1, nn.Sigmoid(), l2, nn.Sigmoid())
    opt, loss_fn, xt, yt = make_opt(model.parameters()), nn.BCELoss(), cr.tensor(X), cr.tensor(Y)
    for _ in range(steps):
        opt.zero_grad()
        loss = loss_fn(model(xt), yt)
        loss.backward()
        opt.step()
    with cr.no_grad():
        out = model(xt)
    return loss_fn(out, yt).item(), np.mean((out.data > 0.5) == Y)


cost_sgd, acc_sgd = engine_run(lambda ps: cr.optim.SGD(ps, lr=alpha))
print(f"engine, SGD(lr={alpha}) (the same algorithm): cost {cost_sgd:.4f}, accuracy {acc_sgd:.1%}")
cost_adam, acc_adam = engine_run(lambda ps: cr.optim.Adam(ps, lr=0.05))
print(f"engine, Adam(lr=0.05): cost {cost_adam:.4f}, accuracy {acc_adam:.1%}")
