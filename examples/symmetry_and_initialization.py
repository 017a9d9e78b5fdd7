"""The course on initialisation: equal initial weights make the hidden layer one unit.

The first seed ends by motivating random initialisation; the second shows why: with every
weight equal, all hidden units compute the same value, get the same gradient (its eq. 12-13)
and stay equal, "equivalent to a hidden layer with a single neuron".  Here the same 2-4-1
tanh network is trained on the flower data from constant and from random weights; cr.diagnose
flags the first, and the accuracies differ.

Run: python examples/symmetry_and_initialization.py
"""

import numpy as np

import chainrule as cr
from chainrule import nn

X, y = cr.data.make_flower(seed=1)


def network(constant: bool) -> nn.Sequential:
    model = nn.Sequential(nn.Linear(2, 4, dtype=np.float64, rng=3), nn.Tanh(),
                          nn.Linear(4, 1, dtype=np.float64, rng=4), nn.Sigmoid())
    if constant:
        for p in model.parameters():
            nn.init.constant_(p, 0.5)  # every weight and bias 0.5
    return model


for constant in (True, False):
    model = network(constant)
    opt, loss_fn = cr.optim.SGD(model.parameters(), lr=1.2), nn.BCELoss()
    for _ in range(1000):  # batch gradient descent, alpha = 1.2
        opt.zero_grad()
        loss_fn(model(cr.tensor(X)), cr.tensor(y)).backward()
        opt.step()
    with cr.no_grad():
        accuracy = np.mean((model(cr.tensor(X)).data > 0.5) == y)
    print(f"== {'constant' if constant else 'random'} initialisation: training accuracy "
          f"{accuracy:.1%}")
    print("hidden weights after training:\n" + np.array2string(model[0].weight.data, precision=4))
    print(cr.diagnose(model, X, y), "\n")
