"""A last batch of one row, with BatchNorm in the model: merged into the batch before it, so
an epoch of 65 rows in batches of 32 is two steps (32 and 33 rows), every row is seen once,
a checkpoint taken inside the epoch resumes at the same batch, and under MPI each rank merges
its own shard's last row."""

from __future__ import annotations

import importlib.util
import itertools
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

import chainrule as cr
from chainrule import nn
from chainrule.errors import ShapeError
from chainrule.training import Callback
from chainrule.training.checkpoint import read_checkpoint
from chainrule.training.loop import batch_rows, steps_per_epoch

HAS_MPI = importlib.util.find_spec("mpi4py") is not None and shutil.which("mpiexec")
needs_mpi = pytest.mark.skipif(not HAS_MPI, reason="mpi4py/mpiexec not installed")

FIT = {"batch_size": 32, "optimizer": "adam", "lr": 0.01, "verbose": 0, "seed": 0}


def _data(n: int = 65) -> tuple[np.ndarray, np.ndarray]:
    X = np.random.default_rng(0).normal(size=(n, 3))
    return X, (X[:, 0] + X[:, 1] > 0).astype(np.int64)


def _bn_model() -> nn.Sequential:
    return nn.Sequential(nn.Linear(3, 8, rng=0), nn.BatchNorm1d(8), nn.ReLU(),
                         nn.Linear(8, 2, rng=1))


class Sizes(Callback):
    """The size of every batch, per epoch."""

    def __init__(self) -> None:
        self.epochs: list[list[int]] = []

    def on_epoch_begin(self, epoch, logs=None):
        self.epochs.append([])

    def on_batch_end(self, batch, logs=None):
        if not self.epochs:  # resumed inside an epoch: it did not begin here
            self.epochs.append([])
        self.epochs[-1].append(logs["size"])


class StopAt(Callback):
    """Raise KeyboardInterrupt after batch ``batch`` of epoch ``epoch`` (both from 0)."""

    def __init__(self, epoch: int, batch: int) -> None:
        self.at = (epoch, batch)

    def on_batch_end(self, batch, logs=None):
        if (self.trainer.epoch, batch) == self.at:
            raise KeyboardInterrupt


def test_a_one_row_last_batch_is_merged_when_the_model_has_batch_norm() -> None:
    X, y = _data(65)  # 32 + 32 + 1
    sizes = Sizes()
    h = cr.fit(_bn_model(), X, y, epochs=3, callbacks=[sizes], **FIT)
    assert len(h) == 3 and all(np.isfinite(h.history["loss"]))
    assert sizes.epochs == [[32, 33]] * 3  # every row once an epoch, one step fewer
    # without BatchNorm nothing changes: the last step trains on its one row
    plain = Sizes()
    cr.fit(nn.Sequential(nn.Linear(3, 2, rng=0)), X, y, epochs=1, callbacks=[plain], **FIT)
    assert plain.epochs == [[32, 32, 1]]


def test_the_batch_plan_covers_every_row_once() -> None:
    for n in range(1, 80):
        for bs in (1, 2, 5, 32):
            for least in (1, 2):
                steps = steps_per_epoch(n, bs, least)
                rows = [batch_rows(b, n, bs, steps) for b in range(steps)]
                assert rows[0][0] == 0 and rows[-1][1] == n
                assert all(a[1] == b[0] for a, b in itertools.pairwise(rows))
                if bs >= least:  # (batches of one row each cannot be helped by merging)
                    assert all(stop - start >= min(least, n) for start, stop in rows)
                assert all(stop - start <= bs + 1 for start, stop in rows)
                assert batch_rows(steps, n, bs, steps) == (n, n)  # past this rank's rows


def test_a_checkpoint_inside_an_epoch_resumes_the_merged_batch(tmp_path: Path) -> None:
    X, y = _data(65)
    straight = _bn_model()
    h_straight = cr.fit(straight, X, y, epochs=3, **FIT)
    path = tmp_path / "run.ckpt"
    h1 = cr.fit(_bn_model(), X, y, epochs=3, checkpoint=path, callbacks=[StopAt(1, 0)], **FIT)
    assert h1.interrupted
    assert read_checkpoint(path)["position"]["batch"] == 1  # the 33-row batch comes next
    resumed = _bn_model()
    sizes = Sizes()
    h2 = cr.fit(resumed, X, y, epochs=3, checkpoint=path, resume=True, callbacks=[sizes],
                **FIT)
    assert h2.history == h_straight.history
    for (name, a), (_, b) in zip(straight.state_dict().items(), resumed.state_dict().items()):
        np.testing.assert_array_equal(a, b, err_msg=name)
    assert sizes.epochs[-1] == [32, 33]


def test_a_direct_call_on_one_row_says_why_and_how_to_avoid_it() -> None:
    bn = nn.BatchNorm1d(3)
    with pytest.raises(ShapeError, match=r"\(1, 3\).*batch's own mean and variance.*"
                                         r"model\.eval\(\)"):
        bn(np.ones((1, 3)))
    bn.eval()
    assert bn(np.ones((1, 3))).data.shape == (1, 3)  # evaluation uses the running statistics


SCRIPT = """
import sys
import numpy as np
import chainrule as cr
from chainrule import nn
from chainrule.distributed import run, world

def main():
    rank = world().Get_rank()
    X = np.random.default_rng(rank).normal(size=({rows})[rank] * 3).reshape(-1, 3)
    y = (X[:, 0] > 0).astype(np.int64)
    model = nn.Sequential(nn.Linear(3, 4, rng=0), nn.BatchNorm1d(4), nn.Linear(4, 2, rng=1))
    sizes = []
    class Sizes(cr.training.Callback):
        def on_batch_end(self, batch, logs=None):
            sizes.append(logs["size"])
    h = cr.fit(model, X, y, epochs=2, batch_size=4, verbose=0, distributed=True,
               callbacks=[Sizes()])
    assert all(np.isfinite(h.history["loss"])), h.history
    with open(f"{{sys.argv[1]}}.{{rank}}", "w") as f:
        f.write(repr(sizes))

run(main)
"""


@needs_mpi
def test_under_mpi_each_rank_merges_its_own_last_row(tmp_path: Path) -> None:
    # shards of 9 rows (4 + 4 + 1: merged, 4 + 5) and 12 rows (4 + 4 + 4): three steps, rank 0
    # joining the last one with no rows
    script = tmp_path / "last_batch.py"
    script.write_text(textwrap.dedent(SCRIPT.format(rows=(9, 12))))
    env = {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}
    out = tmp_path / "sizes"
    proc = subprocess.run(["mpiexec", "-n", "2", sys.executable, str(script), str(out)],
                          capture_output=True, text=True, timeout=90, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert (tmp_path / "sizes.0").read_text() == "[4, 5, 0, 4, 5, 0]"
    assert (tmp_path / "sizes.1").read_text() == "[4, 4, 4, 4, 4, 4]"
