"""Run under mpiexec by test_distributed.py: full-batch fit with a checkpoint, optionally
resuming one, on this rank's shard of the rows."""

import sys

import numpy as np

import chainrule as cr
from chainrule import nn
from chainrule.distributed import run, shard_range, world


def problem():
    rng = np.random.default_rng(3)
    X = rng.normal(size=(30, 3))
    y = (X[:, 0] * X[:, 1] > 0).astype(np.float64)
    model = nn.Sequential(nn.Linear(3, 6, dtype=np.float64, rng=4), nn.Tanh(),
                          nn.Linear(6, 1, dtype=np.float64, rng=5), nn.Sigmoid())
    return X, y, model


def train(X, y, model, checkpoint, epochs, resume, distributed):
    return cr.fit(model, X, y, optimizer="adam", lr=0.05, epochs=epochs, batch_size=None,
                  shuffle=False, verbose=0, checkpoint=checkpoint, resume=resume,
                  distributed=distributed)


def main():
    checkpoint, epochs, resume, out = sys.argv[1], int(sys.argv[2]), sys.argv[3] == "resume", \
        sys.argv[4]
    comm = world()
    X, y, model = problem()
    lo, hi = shard_range(len(X), comm.Get_rank(), comm.Get_size())
    train(X[lo:hi], y[lo:hi], model, checkpoint, epochs, resume, distributed=True)
    if comm.Get_rank() == 0:
        np.savez(out, *[p.data for p in model.parameters()])


if __name__ == "__main__":
    run(main)
