"""Run under mpiexec by test_abort.py: one way for one rank to go wrong, chosen by argv[1].

Every case must end the whole job within the test's time limit: either every rank raises
the same error (bad data, agreed before training), or the job is aborted with the failing
rank's message, or training stops on every rank at the same step.
"""

import sys

import numpy as np

import chainrule as cr
from chainrule import nn
from chainrule.distributed import shard_range, world
from chainrule.training import Callback


def problem(n=24):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(n, 3))
    y = (X[:, 0] + X[:, 1] > 0).astype(np.int64)
    model = nn.Sequential(nn.Linear(3, 4, dtype=np.float64, rng=1), nn.Tanh(),
                          nn.Linear(4, 2, dtype=np.float64, rng=2))
    return X, y, model


class CrashOn(Callback):
    def __init__(self, rank, epoch):
        self.rank, self.epoch = rank, epoch

    def on_epoch_end(self, epoch, logs=None):
        if world().Get_rank() == self.rank and epoch == self.epoch:
            raise ValueError(f"rank {self.rank} lost its disk in epoch {epoch + 1}")


class StopOn(Callback):
    """Asks to stop on one rank only, in the middle of an epoch."""

    def __init__(self, rank, batch):
        self.rank, self.batch = rank, batch

    def on_batch_end(self, batch, logs=None):
        if world().Get_rank() == self.rank and batch == self.batch:
            self.trainer.stop_training = True


def main():
    mode = sys.argv[1]
    comm = world()
    rank, size = comm.Get_rank(), comm.Get_size()
    X, y, model = problem(3 if mode == "empty_shard" else 24)
    lo, hi = shard_range(len(X), rank, size)
    Xs, ys = X[lo:hi].copy(), y[lo:hi]
    opts = {"optimizer": "adam", "lr": 0.05, "epochs": 3, "batch_size": 4, "shuffle": False,
            "verbose": 0, "distributed": True}
    if mode == "nan_shard" and rank == 1:
        Xs[2, 1] = np.nan
    if mode == "no_val_rows":
        # the validation rows all sit on rank 0 (as a split of 10 rows over 2 ranks can)
        val = (X[:3], y[:3]) if rank == 0 else None
        h = cr.fit(model, Xs, ys, validation_data=val, **opts)
        print(f"rank {rank} val_loss {h['val_loss']!r}", flush=True)
        if rank == 0:
            np.savez(sys.argv[2], *[p.data for p in model.parameters()],
                     val_loss=np.array(h["val_loss"]), loss=np.array(h["loss"]))
        return
    if mode == "crash_mid":
        opts["callbacks"] = [CrashOn(1, 1)]
    if mode == "stop_one_rank":
        opts["callbacks"] = [StopOn(1, 1)]
    if mode == "nonfinite":
        bias = model[2].bias
        calls = {"n": 0}

        def loss(out, target):
            calls["n"] += 1
            value = nn.CrossEntropyLoss()(out, target)
            if rank == 1 and calls["n"] == 5:  # d sqrt(0 * b)/db = nan, on rank 1 only
                value = value + (bias * 0.0).sqrt().sum()
            return value

        opts["loss"] = loss
        opts["metrics"] = []
    h = cr.fit(model, Xs, ys, **opts)
    print(f"rank {rank} stopped after {len(h)} epochs: {h.stop_reason}", flush=True)


if __name__ == "__main__":
    main()
