"""Run under mpiexec by test_distributed.py: cr.fit(distributed=True) on this rank's shard."""

import sys

import numpy as np

import chainrule as cr
from chainrule import nn
from chainrule.distributed import run, shard_range, world

LOCAL_BATCH, EPOCHS = 4, 3


def problem():
    rng = np.random.default_rng(0)
    # 25 rows: uneven shards; with 2 ranks (13, 12) and 3 ranks (9, 8, 8) some ranks run out of
    # batches one step before the others and must join that Allreduce empty-handed.
    X = rng.normal(size=(25, 3))
    y = (X[:, 0] + X[:, 1] * X[:, 2] > 0).astype(np.int64)
    model = nn.Sequential(nn.Linear(3, 5, dtype=np.float64, rng=1), nn.Tanh(),
                          nn.Linear(5, 2, dtype=np.float64, rng=2))
    return X, y, model


def single_process_order(n: int, size: int) -> np.ndarray:
    """Row order that makes one process see the same global batches as ``size`` ranks."""
    shards = [np.arange(*shard_range(n, r, size)) for r in range(size)]
    steps = max(-(-len(s) // LOCAL_BATCH) for s in shards)
    order = [s[k * LOCAL_BATCH:(k + 1) * LOCAL_BATCH] for k in range(steps) for s in shards]
    return np.concatenate(order)


def main():
    out = sys.argv[1]
    comm = world()
    X, y, model = problem()
    lo, hi = shard_range(len(X), comm.Get_rank(), comm.Get_size())
    history = cr.fit(model, X[lo:hi], y[lo:hi], optimizer="adam", lr=0.05, epochs=EPOCHS,
                     batch_size=LOCAL_BATCH, shuffle=False, validation_data=(X[lo:hi], y[lo:hi]),
                     verbose=0, distributed=True)
    if comm.Get_rank() == 0:
        np.savez(out, *[p.data for p in model.parameters()],
                 loss=np.array(history["loss"]), val_loss=np.array(history["val_loss"]))


if __name__ == "__main__":
    run(main)
