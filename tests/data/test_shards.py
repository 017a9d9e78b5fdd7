"""Which rows each rank owns: contiguous shards that cover every row once, sizes within one."""

from __future__ import annotations

from itertools import pairwise

import pytest

import chainrule.distributed
from chainrule.data.shards import shard_range
from chainrule.errors import DistributedError


@pytest.mark.parametrize("n_rows", [0, 1, 7, 10, 101])
@pytest.mark.parametrize("size", [1, 2, 3, 8])
def test_the_shards_cover_every_row_once_in_order(n_rows, size):
    shards = [shard_range(n_rows, rank, size) for rank in range(size)]
    assert shards[0][0] == 0 and shards[-1][1] == n_rows
    assert all(a[1] == b[0] for a, b in pairwise(shards))
    lengths = [stop - start for start, stop in shards]
    assert max(lengths) - min(lengths) <= 1 and lengths == sorted(lengths, reverse=True)


def test_a_rank_outside_the_job_is_refused():
    with pytest.raises(DistributedError, match=r"rank 3 is outside 0\.\.2"):
        shard_range(10, 3, 3)


def test_distributed_offers_the_same_function():
    assert chainrule.distributed.shard_range is shard_range
