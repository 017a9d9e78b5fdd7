"""A wrapper that averages an optimizer's gradients across MPI ranks before each step, for
hand-written training loops."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import DistributedError
from ..optim import Optimizer
from .mpi import MPICommunicator

__all__ = ["DistributedOptimizer"]


class DistributedOptimizer:
    """Wrap an optimizer so each ``step()`` first averages gradients across MPI ranks.

    For hand-written loops (``cr.fit(distributed=True)`` needs none of this).  Call
    ``step(n_examples)`` with the number of examples this rank used for the gradient (it
    defaults to 1, an unweighted mean, which is right when every rank's batch is equally
    large).  Everything else (``zero_grad``, ``lr``, ``state_dict``) is the wrapped
    optimizer's.  Parameters are broadcast from rank 0 when the optimizer is wrapped, so all
    ranks start from the same weights; if any rank's gradient is not finite, every rank raises
    :class:`DistributedError` at the same step instead of hanging or diverging.
    """

    def __init__(self, optimizer: Optimizer, comm: Any = None) -> None:
        self.optimizer = optimizer
        self.communicator = comm if isinstance(comm, MPICommunicator) else MPICommunicator(comm)
        self.comm = self.communicator.comm
        self.rank = self.communicator.rank
        self.size = self.communicator.size
        dtypes = {p.data.dtype for p in optimizer.params}
        if len(dtypes) != 1:
            raise DistributedError(
                f"all parameters must share one dtype, got {sorted(map(str, dtypes))}")
        self.broadcast_parameters()

    def broadcast_parameters(self) -> None:
        """Copy rank 0's parameters to every rank (one Bcast of a flat buffer)."""
        self.communicator.broadcast_parameters(self.optimizer.params)

    @property
    def allreduce_seconds(self) -> float:
        """Seconds spent in gradient reductions so far."""
        return self.communicator.allreduce_seconds

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
        failed = self.communicator.average_gradients(self.optimizer.params, n_examples,
                                                     0.0).nonfinite
        if failed:
            raise DistributedError(
                f"{failed} of {self.size} ranks produced a non-finite gradient; all ranks "
                f"stopped at the same step (this is rank {self.rank}). Lower the learning rate "
                "or check the data for NaN/inf values.")

    def sum(self, values: np.ndarray) -> np.ndarray:
        """Element-wise sum of ``values`` over all ranks (for metrics and counts)."""
        return self.communicator.sum(values)

    def max(self, value: int) -> int:
        """The largest ``value`` over all ranks."""
        return self.communicator.max(value)

    @property
    def lr(self) -> float:
        """The wrapped optimizer's learning rate (schedules that set it reach the optimizer)."""
        return self.optimizer.lr

    @lr.setter
    def lr(self, value: float) -> None:
        self.optimizer.lr = value

    def __getattr__(self, name: str) -> Any:
        return getattr(self.optimizer, name)
