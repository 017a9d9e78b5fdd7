"""Which rows each process (rank) of a distributed job owns: pure arithmetic, no MPI.

>>> [shard_range(10, rank, 3) for rank in range(3)]
[(0, 4), (4, 7), (7, 10)]
"""

from __future__ import annotations

from ..errors import DistributedError

__all__ = ["shard_range"]


def shard_range(n_rows: int, rank: int, size: int) -> tuple[int, int]:
    """Rows ``[start, stop)`` of ``n_rows`` that ``rank`` of ``size`` owns.

    Contiguous blocks; the first ``n_rows % size`` ranks get one row more, so the shards cover
    every row exactly once and differ in size by at most one.
    """
    if not 0 <= rank < size:
        raise DistributedError(f"shard_range: rank {rank} is outside 0..{size - 1}")
    base, extra = divmod(n_rows, size)
    start = rank * base + min(rank, extra)
    return start, start + base + (1 if rank < extra else 0)
