"""Training reaches what the seeds promise (full-batch GD on the flower set; Adam on digits)."""

from __future__ import annotations

import numpy as np

import chainrule as cr
from chainrule import nn
from chainrule.data import make_flower
from conftest import needs_sklearn


def test_issue_example_runs_and_learns() -> None:
    X = np.random.default_rng(0).normal(size=(400, 2))
    y = (X[:, :1] * X[:, 1:] > 0).astype(np.float64)
    model = nn.Sequential(nn.Linear(2, 4, rng=0), nn.Tanh(), nn.Linear(4, 1, rng=1),
                          nn.Sigmoid())
    loss_fn = nn.BCELoss()
    opt = cr.optim.SGD(model.parameters(), lr=1.2)
    for _ in range(1000):
        opt.zero_grad()
        loss = loss_fn(model(cr.tensor(X)), cr.tensor(y))
        loss.backward()
        opt.step()
    with cr.no_grad():
        acc = ((model(X).numpy() > 0.5) == y).mean()
    assert loss.item() < 0.3 and acc > 0.85  # from 0.69 (chance) at the start


def test_flower_one_hidden_layer_reaches_about_90_percent() -> None:
    X, y = make_flower(seed=1)
    model = nn.Sequential(nn.Linear(2, 4, init="normal", dtype=np.float64, rng=2), nn.Tanh(),
                          nn.Linear(4, 1, init="normal", dtype=np.float64, rng=3), nn.Sigmoid())
    loss_fn = nn.BCELoss()
    opt = cr.optim.SGD(model.parameters(), lr=1.2)
    Xt = cr.tensor(X)
    for _ in range(10_000):
        opt.zero_grad()
        loss_fn(model(Xt), y).backward()
        opt.step()
    with cr.no_grad():
        acc = ((model(Xt).numpy() > 0.5) == y).mean()
    assert acc >= 0.9, acc  # the seeds report about 90%; this run reaches 94%


@needs_sklearn
def test_digits_mlp_with_adam_beats_95_percent() -> None:
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    X, y = load_digits(return_X_y=True)
    X = (X / 16.0).astype(np.float32)
    Xtr, Xte, ytr, yte = train_test_split(X, y, test_size=0.25, random_state=0, stratify=y)
    model = nn.Sequential(nn.Linear(64, 64, rng=0), nn.ReLU(), nn.Linear(64, 32, rng=1),
                          nn.ReLU(), nn.Linear(32, 10, rng=2))
    loss_fn = nn.CrossEntropyLoss()
    opt = cr.optim.Adam(model.parameters(), lr=1e-3)
    rng = np.random.default_rng(0)
    for _ in range(30):
        order = rng.permutation(len(Xtr))
        for start in range(0, len(order), 32):
            idx = order[start:start + 32]
            opt.zero_grad()
            loss_fn(model(Xtr[idx]), ytr[idx]).backward()
            opt.step()
    with cr.no_grad():
        acc = (model(Xte).numpy().argmax(axis=1) == yte).mean()
    assert acc > 0.95, acc
