"""The training data's fingerprint (recorded in checkpoints, so that resuming with other data is
refused) is read in blocks of rows, and is the same number as of the whole table at once: a
checkpoint written before still resumes with its data."""

import numpy as np
import pytest

from chainrule.distributed import communicator
from chainrule.training.checkpoint import fingerprint


def _whole_table(parts):
    """The fingerprint's definition, on the whole table in one float64 array."""
    rows = np.hstack([p.reshape(len(p), int(np.prod(p.shape[1:]))) for p in parts])
    rows = rows.astype(np.float64)
    direction = np.random.default_rng(20261202).uniform(0.5, 1.5, size=rows.shape[1])
    mixed = np.ascontiguousarray(rows @ direction).view(np.uint64) \
        * np.uint64(0x9E3779B97F4A7C15)
    return int((mixed >> np.uint64(44)).sum())


@pytest.mark.parametrize("n,block", [(1, 4096), (999, 100), (5000, 4096), (0, 16)])
def test_blocks_give_the_whole_tables_fingerprint(n, block):
    rng = np.random.default_rng(n)
    X = rng.normal(size=(n, 3, 4)).astype(np.float32)  # images: rows of 12 values
    y = rng.integers(0, 5, n)
    w = rng.random(n)
    parts = [X, y, w]
    assert fingerprint(parts, communicator(False), block=block) == _whole_table(parts)


def test_other_rows_give_another_fingerprint_the_same_rows_in_any_order_the_same():
    X = np.arange(12.0).reshape(6, 2)
    y = np.zeros(6)
    comm = communicator(False)
    assert fingerprint([X, y], comm) != fingerprint([X + 1, y], comm)
    assert fingerprint([X, y], comm) == fingerprint([X[::-1].copy(), y], comm)
