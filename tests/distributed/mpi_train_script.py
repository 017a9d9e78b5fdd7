"""Run under mpiexec by test_distributed.py: train data-parallel, rank 0 writes the weights."""

import sys

import numpy as np

import chainrule as cr
from chainrule import nn
from chainrule.distributed import DistributedOptimizer, run, shard_range, world

STEPS, GLOBAL_BATCH = 6, 10


def problem():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 3))
    y = (X[:, :1] - X[:, 1:2] * X[:, 2:] > 0).astype(np.float64)
    model = nn.Sequential(nn.Linear(3, 6, dtype=np.float64, rng=1), nn.Tanh(),
                          nn.Linear(6, 1, dtype=np.float64, rng=2), nn.Sigmoid())
    return X, y, model


def train(model, X, y, opt, rank=0, size=1, poison_rank=None):
    loss_fn = nn.BCELoss()
    for step in range(STEPS):
        start = step * GLOBAL_BATCH
        lo, hi = shard_range(GLOBAL_BATCH, rank, size)
        xb, yb = X[start + lo:start + hi], y[start + lo:start + hi]
        if poison_rank == rank and step == 3:
            xb = xb.copy()
            xb[0, 0] = np.nan
        opt.zero_grad()
        loss_fn(model(cr.Tensor(xb)), yb).backward()
        if size == 1:
            opt.step()
        else:
            opt.step(len(xb))


def main():
    out, mode = sys.argv[1], sys.argv[2]
    comm = world()
    X, y, model = problem()
    if comm.Get_rank() != 0:  # ranks start from different weights: the broadcast must fix it
        for p in model.parameters():
            p.data += 1.0
    opt = DistributedOptimizer(cr.optim.Adam(model.parameters(), lr=0.05))
    poison = 1 if mode == "nan" else None
    if mode == "crash" and comm.Get_rank() == 1:
        raise ValueError("rank 1 could not read its shard")
    train(model, X, y, opt, comm.Get_rank(), comm.Get_size(), poison)
    if comm.Get_rank() == 0:
        np.savez(out, *[p.data for p in model.parameters()])


if __name__ == "__main__":
    run(main)
