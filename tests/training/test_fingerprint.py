"""The training data's fingerprint (recorded in checkpoints, so that resuming with other data is
refused) is read in blocks of rows into one reused buffer, and is the number the plain formula
gives block by block and, for the tables here, of the whole table at once: a checkpoint
written before still resumes with its data."""

import numpy as np
import pytest

from chainrule.distributed import communicator
from chainrule.training import checkpoint
from chainrule.training.fingerprint import fingerprint


def _whole_table(parts):
    """The fingerprint's definition, on the whole table in one float64 array."""
    rows = np.hstack([p.reshape(len(p), int(np.prod(p.shape[1:]))) for p in parts])
    rows = rows.astype(np.float64)
    direction = np.random.default_rng(20261202).uniform(0.5, 1.5, size=rows.shape[1])
    mixed = np.ascontiguousarray(rows @ direction).view(np.uint64) \
        * np.uint64(0x9E3779B97F4A7C15)
    return int((mixed >> np.uint64(44)).sum())


def _blockwise(parts, block=4096):
    """The formula as releases before the one-buffer conversion computed it: each block's
    parts converted and stacked, then projected."""
    n = len(parts[0])
    cols = sum(int(np.prod(p.shape[1:])) for p in parts)
    direction = np.random.default_rng(20261202).uniform(0.5, 1.5, size=cols)
    total = 0
    for start in range(0, n, block):
        rows = np.hstack([p[start:start + block].reshape(len(p[start:start + block]), -1)
                          .astype(np.float64) for p in parts])
        mixed = np.ascontiguousarray(rows @ direction).view(np.uint64) \
            * np.uint64(0x9E3779B97F4A7C15)
        total += int((mixed >> np.uint64(44)).sum())
    return total


def _parts(kind, n, rng):
    if kind == "images":
        return [rng.normal(size=(n, 3, 4)).astype(np.float32), rng.integers(0, 5, n),
                rng.random(n)]
    if kind == "wide":
        return [rng.normal(size=(n, 784)).astype(np.float32), rng.integers(0, 10, n)]
    if kind == "binary":
        return [rng.normal(size=(n, 2)), (rng.random((n, 1)) > 0.5).astype(np.float32)]
    return [rng.normal(size=(n, 5)).astype(np.float32)[:, ::2], rng.random((n, 2)) > 0.5]


@pytest.mark.parametrize("kind", ["images", "wide", "binary", "strided_and_bool"])
@pytest.mark.parametrize("n", [0, 1, 3, 513, 1797, 4099])
def test_the_checkpoints_fingerprint(kind, n):
    rng = np.random.default_rng(n)
    parts = _parts(kind, n, rng)
    comm = communicator(False)
    assert fingerprint(parts, comm) == _blockwise(parts)
    assert fingerprint(parts, comm, block=100) == _blockwise(parts, block=100)
    if n <= 4096:
        assert fingerprint(parts, comm) == _whole_table(parts)


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


def test_checkpoints_record_the_same_fingerprint():
    assert checkpoint.fingerprint is fingerprint
