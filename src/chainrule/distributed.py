"""Data-parallel training over MPI (``pip install chainrule[mpi]``, run under ``mpiexec``).

Every process (rank) holds the whole model and a shard of the data.  After ``backward()`` each
rank has the gradient of *its* examples; :class:`DistributedOptimizer` averages them across
ranks with one ``Allreduce`` over a single flat buffer per step, so every rank takes the same
step and the models stay identical.  Parameters are broadcast from rank 0 when the optimizer is
wrapped, so all ranks start from the same weights.

The average is weighted by each rank's number of examples in the step, so shards of uneven
size give exactly the gradient of the mean loss over the global batch, as one process would.
The same buffer carries a health flag: if any rank's gradient is not finite, every rank raises
:class:`DistributedError` at the same step instead of hanging or diverging.

>>> from chainrule.distributed import shard_range
>>> [shard_range(10, rank, 3) for rank in range(3)]
[(0, 4), (4, 7), (7, 10)]
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from time import perf_counter, sleep
from typing import Any

import numpy as np

from .errors import DistributedError
from .optim import Optimizer

__all__ = ["DistributedError", "DistributedOptimizer", "run", "shard_range", "world"]




def world() -> Any:
    """MPI's COMM_WORLD (imports mpi4py on first use, with a clear error where it is absent)."""
    try:
        from mpi4py import MPI
    except ImportError:
        raise DistributedError(
            "distributed training needs mpi4py and an MPI library: pip install 'chainrule[mpi]' "
            "(mpi4py and mpich from PyPI), then start with mpiexec -n N ..."
        ) from None
    return MPI.COMM_WORLD


def shard_range(n_rows: int, rank: int, size: int) -> tuple[int, int]:
    """Rows ``[start, stop)`` of ``n_rows`` that ``rank`` of ``size`` owns.

    Contiguous blocks; the first ``n_rows % size`` ranks get one row more, so the shards cover
    every row exactly once and differ in size by at most one.
    """
    if not 0 <= rank < size:
        raise ValueError(f"shard_range: rank {rank} is outside 0..{size - 1}")
    base, extra = divmod(n_rows, size)
    start = rank * base + min(rank, extra)
    return start, start + base + (1 if rank < extra else 0)


class DistributedOptimizer:
    """Wrap an optimizer so each ``step()`` first averages gradients across MPI ranks.

    Call ``step(n_examples)`` with the number of examples this rank used for the gradient
    (it defaults to 1, an unweighted mean, which is right when every rank's batch is equally
    large).  Everything else (``zero_grad``, ``lr``, ``state_dict``) is the wrapped optimizer's.

    With one process this adds a copy and an Allreduce on one rank, and the step is exactly the
    wrapped optimizer's step.
    """

    def __init__(self, optimizer: Optimizer, comm: Any = None) -> None:
        self.optimizer = optimizer
        self.comm = world() if comm is None else comm
        self.rank = self.comm.Get_rank()
        self.size = self.comm.Get_size()
        params = optimizer.params
        dtypes = {p.data.dtype for p in params}
        if len(dtypes) != 1:
            raise DistributedError(
                f"all parameters must share one dtype, got {sorted(map(str, dtypes))}")
        self._dtype = dtypes.pop()
        self._sizes = [p.data.size for p in params]
        total = sum(self._sizes)
        # [gradient * n_examples ..., n_examples, ok-flag]: one Allreduce per step.
        self._send = np.empty(total + 2, dtype=self._dtype)
        self._recv = np.empty_like(self._send)
        self.allreduce_seconds = 0.0
        self.broadcast_parameters()

    def broadcast_parameters(self) -> None:
        """Copy rank 0's parameters to every rank (one Bcast of a flat buffer)."""
        flat = np.concatenate([p.data.ravel() for p in self.optimizer.params])
        self.comm.Bcast(flat, root=0)
        offset = 0
        for p, n in zip(self.optimizer.params, self._sizes):
            p.data[...] = flat[offset:offset + n].reshape(p.data.shape)
            offset += n

    def zero_grad(self) -> None:
        self.optimizer.zero_grad()

    def step(self, n_examples: float = 1.0) -> None:
        """Average gradients over ranks (weighted by ``n_examples``), then step everywhere."""
        self.allreduce_gradients(n_examples)
        self.optimizer.step()

    def allreduce_gradients(self, n_examples: float = 1.0) -> None:
        """Replace every rank's ``.grad`` with the example-weighted mean over all ranks.

        A rank with no examples in this step passes ``n_examples=0``: it still takes part in
        the Allreduce (so no rank waits forever) and contributes nothing.
        """
        send, recv = self._send, self._recv
        offset = 0
        for p, n in zip(self.optimizer.params, self._sizes):
            if p.grad is None:
                send[offset:offset + n] = 0.0
            else:
                np.multiply(p.grad.ravel(), n_examples, out=send[offset:offset + n])
            offset += n
        ok = bool(np.isfinite(send[:offset].sum()))  # one pass, no mask: NaN/inf survive a sum
        send[offset] = n_examples
        send[offset + 1] = 0.0 if ok else 1.0  # count of failing ranks
        start = perf_counter()
        self.comm.Allreduce(send, recv)
        self.allreduce_seconds += perf_counter() - start
        failed = int(recv[offset + 1])
        if failed:
            where = "this rank" if not ok else "another rank"
            raise DistributedError(
                f"{failed} of {self.size} ranks produced a non-finite gradient (first seen on "
                f"{where}, rank {self.rank}); all ranks stopped at the same step. Lower the "
                "learning rate or check the data for NaN/inf values."
            )
        total = recv[offset]
        offset = 0
        for p, n in zip(self.optimizer.params, self._sizes):
            p.grad = (recv[offset:offset + n] / total).reshape(p.data.shape)
            offset += n

    def sum(self, values: np.ndarray) -> np.ndarray:
        """Element-wise sum of ``values`` over all ranks (for metrics and counts)."""
        out = np.empty_like(values)
        self.comm.Allreduce(np.ascontiguousarray(values), out)
        return out

    def max(self, value: int) -> int:
        """The largest ``value`` over all ranks."""
        from mpi4py import MPI

        return int(self.comm.allreduce(int(value), op=MPI.MAX))

    @property
    def lr(self) -> float:
        """The wrapped optimizer's learning rate (schedules that set it reach the optimizer)."""
        return self.optimizer.lr

    @lr.setter
    def lr(self, value: float) -> None:
        self.optimizer.lr = value

    def __getattr__(self, name: str) -> Any:
        return getattr(self.optimizer, name)


def run(main: Callable[[], Any]) -> Any:
    """Run ``main()`` on this rank; if it raises, print the error and abort every rank.

    Without this, one rank that fails before an Allreduce leaves the others waiting forever.
    """
    try:
        return main()
    except BaseException as err:  # any failure must take the whole job down
        comm = world()
        if comm.Get_size() == 1:
            raise
        print(f"chainrule: rank {comm.Get_rank()} failed: {type(err).__name__}: {err}; "
              "aborting all ranks", file=sys.stderr, flush=True)
        sleep(0.5)  # mpiexec forwards output asynchronously; let the message out before Abort
        comm.Abort(1)
        raise
