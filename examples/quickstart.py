"""Train the README's first network: 2-4-1, tanh then sigmoid, full-batch gradient descent.

Run: python examples/quickstart.py
"""

import numpy as np

import chainrule as cr
from chainrule import nn

X = np.random.default_rng(0).normal(size=(400, 2))  # rows are examples
y = (X[:, :1] * X[:, 1:] > 0).astype(np.float64)  # 1 where both coordinates share a sign

cr.manual_seed(0)
model = nn.Sequential(nn.Linear(2, 4), nn.Tanh(), nn.Linear(4, 1), nn.Sigmoid())
loss_fn = nn.BCELoss()
opt = cr.optim.SGD(model.parameters(), lr=1.2)
for step in range(1000):
    opt.zero_grad()
    loss = loss_fn(model(cr.tensor(X)), cr.tensor(y))
    loss.backward()
    opt.step()
    if step % 200 == 0:
        print(f"step {step:4d}  loss {loss.item():.4f}")

with cr.no_grad():
    accuracy = ((model(cr.tensor(X)).data > 0.5) == y).mean()
print(f"final loss {loss.item():.4f}  training accuracy {accuracy:.1%}")
