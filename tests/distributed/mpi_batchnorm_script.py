"""Run under mpiexec by test_distributed.py: a BatchNorm1d net trained with
cr.fit(distributed=True); every rank writes its running statistics, rank 0 saves the model."""

import sys

import numpy as np

import chainrule as cr
from chainrule import nn
from chainrule.distributed import run, shard_range, world

EPOCHS = 2


def problem():
    rng = np.random.default_rng(3)
    # 25 rows: shards of 13 and 12 (2 ranks) or 9, 8, 8 (3 ranks), with different means so a
    # per-rank or rank-0-only rule would give other numbers than the documented mean.
    X = rng.normal(size=(25, 3)) * [1.0, 2.0, 0.5] + np.arange(25)[:, None] / 5
    y = (X[:, 0] > X[:, 1]).astype(np.int64)
    model = nn.Sequential(nn.BatchNorm1d(3, dtype=np.float64), nn.Linear(3, 2, dtype=np.float64,
                                                                          rng=1))
    return X, y, model


def main():
    out = sys.argv[1]
    comm = world()
    rank, size = comm.Get_rank(), comm.Get_size()
    X, y, model = problem()
    lo, hi = shard_range(len(X), rank, size)
    # batch_size=None: each rank's whole shard is one batch, so each epoch is one step
    cr.fit(model, X[lo:hi], y[lo:hi], optimizer="sgd", lr=0.1, epochs=EPOCHS, batch_size=None,
           shuffle=False, verbose=0, distributed=True)
    bn = model[0]
    np.savez(f"{out}.rank{rank}.npz", mean=bn.running_mean, var=bn.running_var)
    if rank == 0:
        cr.save(model, f"{out}.safetensors")


if __name__ == "__main__":
    run(main)
