"""Run under mpiexec by test_audit_mpi.py: ranks that disagree, chosen by argv[1].

Each case makes the ranks run different collectives (more epochs on one rank, other metrics,
another model or dtype) or drift apart (another learning rate).  Every one must end the whole
job within seconds with a DistributedError on every rank, never with MPI's "Message
truncated", a hang, or numbers mixed between collectives.
"""

import sys

import numpy as np

import chainrule as cr
from chainrule import nn
from chainrule.distributed import shard_range, world


def main():
    mode = sys.argv[1]
    comm = world()
    rank = comm.Get_rank()
    odd = rank == 1
    rng = np.random.default_rng(0)
    X = rng.normal(size=(24, 3))
    y = (X[:, 0] + X[:, 1] > 0).astype(np.int64)
    width = 5 if mode == "width" and odd else 4
    dtype = np.float32 if mode == "dtype" and odd else np.float64
    model = nn.Sequential(nn.Linear(3, width, dtype=dtype, rng=1), nn.Tanh(),
                          nn.Linear(width, 2, dtype=dtype, rng=2))
    lo, hi = shard_range(len(X), rank, comm.Get_size())
    opts = {"optimizer": "adam", "lr": 0.05, "epochs": 3, "batch_size": 4, "shuffle": False,
            "verbose": 0, "distributed": True}
    if mode == "epochs" and odd:
        opts["epochs"] = 4
    if mode == "metrics" and odd:
        opts["metrics"] = []
    if mode == "lr" and odd:
        opts["lr"] = 0.5
    h = cr.fit(model, X[lo:hi], y[lo:hi], **opts)
    print(f"rank {rank} finished {len(h)} epochs", flush=True)


if __name__ == "__main__":
    main()
