"""Seed 4, "How backpropagation works": derivatives by nudging, by SymPy, and on graphs.

Reproduces every number of the lecture: J(w) = w^2 nudged by epsilon; SymPy's derivatives
of w^2, w^3, w and 1/w at w = 2; the computation graph of J = 1/2 (w x + b - y)^2 with
w = 2, b = 8, x = -2, y = 2 worked right to left; the 1-1-1 ReLU network with x = 1, y = 5,
w1 = 2, b1 = 0, w2 = 3, b2 = 1; and the "N + P instead of N x P" cost argument, measured.

Run: python examples/derivatives_and_graphs.py
"""

import importlib.util

import numpy as np

import chainrule as cr
from chainrule.tools.derivatives import backprop_cost, nudge, symbolic

print("1. J(w) = w^2: nudge w by epsilon, J changes by k epsilon (the seed's 6, 4 and -6)")
for w in (3.0, 2.0, -3.0):
    print(nudge(lambda w: w**2, {"w": w}, epsilons=(0.001, 0.002)), "\n")

print("2. SymPy's derivative at w = 2 next to the engine's (the seed: 4, 12, 1, -1/4)")
if importlib.util.find_spec("sympy"):
    import sympy

    w = sympy.Symbol("w")
    for expr in (w**2, w**3, w, 1 / w):
        print(symbolic(expr, {w: 2}), "\n")
else:
    print("   (SymPy is not installed: pip install chainrule[sympy])\n")

print("3. The computation graph of J = 1/2 (w x + b - y)^2, w = 2, b = 8, x = -2, y = 2")
w, b = cr.tensor(2.0, requires_grad=True), cr.tensor(8.0, requires_grad=True)
x, y = cr.tensor(-2.0), cr.tensor(2.0)
c = w * x      # the seed's c = wx = -4
a = c + b      # a = wx + b = 4
d = a - y      # d = a - y = 2
d2 = d**2
J = 0.5 * d2   # J = 1/2 d^2 = 2
explanation = cr.explain(J, names=locals())
print(explanation, "\n")
dw, db = explanation.grad("w"), explanation.grad("b")
print(f"   dJ/dw = {dw:g} and dJ/db = {db:g}, as in the seed;")
J_nudged = 0.5 * (2.001 * -2 + 8 - 2) ** 2
print(f"   nudge check: w = 2.001 gives J = {J_nudged:.6f} (seed: 1.996002)\n")
print("   Graphviz DOT text of the same graph (render with explanation.render('graph.svg')):")
print("   " + explanation.to_dot().replace("\n", "\n   "))

print("4. The 1-1-1 ReLU network: x = 1, y = 5, w1 = 2, b1 = 0, w2 = 3, b2 = 1")
w1, b1 = cr.tensor(2.0, requires_grad=True), cr.tensor(0.0, requires_grad=True)
w2, b2 = cr.tensor(3.0, requires_grad=True), cr.tensor(1.0, requires_grad=True)
x, y = cr.tensor(1.0), cr.tensor(5.0)
t1 = w1 * x
z1 = t1 + b1
a1 = cr.relu(z1)   # a1 = g(2 * 1 + 0) = 2
t2 = w2 * a1
z2 = t2 + b2
a2 = cr.relu(z2)   # a2 = g(3 * 2 + 1) = 7
e = a2 - y
e2 = e**2
J = 0.5 * e2       # J = 1/2 (7 - 5)^2 = 2
explanation = cr.explain(J, names=locals())
print(explanation, "\n")
print("   The seed lists dJ/da2 = dJ/dz2 = dJ/db2 = dJ/dt2 = 2, dJ/da1 = dJ/dz1 = dJ/dw1 = 6.")
print("   It also lists 'dJ/db1 = 0', which is b1's value; its derivative is 6, as the")
print("   nudge table confirms (and the seed's own check: w1 = 2.001 gives J = 2.006005):")
print(nudge(lambda w1, b1, w2, b2: 0.5 * (cr.relu(w2 * cr.relu(w1 * 1.0 + b1) + b2) - 5.0) ** 2,
            {"w1": 2.0, "b1": 0.0, "w2": 3.0, "b2": 1.0}, epsilons=(0.001,)), "\n")

print("5. Why backpropagation: N + P steps instead of N x P (the seed: 10,000 nodes and")
print("   100,000 parameters -> 110,000 steps instead of 1,000,000,000)")
rng = np.random.default_rng(0)
model = cr.nn.Sequential(cr.nn.Linear(20, 64, dtype=np.float64, rng=0), cr.nn.Tanh(),
                         cr.nn.Linear(64, 1, dtype=np.float64, rng=1))
X = rng.normal(size=(100, 20))
print(backprop_cost(model, X, X[:, :1], cr.nn.MSELoss(), max_measured=300))
