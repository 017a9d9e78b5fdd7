"""The communicator: how the training loop talks to the other processes (ranks).

:class:`Communicator` is the interface and its single-process form: every collective
returns its input, so the loop runs unchanged with one process and has no ``if
distributed`` branches.  :class:`~chainrule.distributed.mpi.MPICommunicator` implements it
over MPI.

>>> Communicator().sum(np.array([1.0, 2.0]))      # one process: nothing to add
array([1., 2.])
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, NamedTuple, TypeVar

import numpy as np

__all__ = ["AGREED", "Communicator", "Reduced", "agreed"]

T = TypeVar("T")
AGREED = "chainrule_every_rank_raised"  # marks an error that every rank raised together


class Reduced(NamedTuple):
    """What a gradient reduction tells every rank besides the gradients."""

    loss: float  # the weighted mean loss over ranks
    nonfinite: int  # ranks whose gradient was not finite
    stop: bool  # whether any rank asked to stop



def agreed(err: BaseException) -> BaseException:
    """Mark ``err`` as raised by every rank together: no rank is left waiting, so nothing
    needs to abort the job."""
    setattr(err, AGREED, True)
    return err


class Communicator:
    """One process: every collective returns its input.  The interface the training loop
    uses; :class:`MPICommunicator` implements it over MPI."""

    rank = 0
    size = 1
    allreduce_seconds = 0.0

    @property
    def is_chief(self) -> bool:
        """Whether this rank prints, writes files and warns (rank 0)."""
        return self.rank == 0

    def broadcast_parameters(self, params: Sequence[Any]) -> None:
        """Give every rank the chief's parameter values."""

    def average_gradients(self, params: Sequence[Any], weight: float, loss: float,
                          stop: bool = False) -> Reduced:
        """Replace each ``.grad`` by the ``weight``-weighted mean over ranks; returns the
        weighted mean ``loss`` over ranks, how many ranks had a non-finite gradient, and
        whether any rank passed ``stop``."""
        return Reduced(loss, 0, bool(stop))

    def sum(self, values: np.ndarray) -> np.ndarray:
        """Element-wise sum of ``values`` (float64) over all ranks."""
        return values

    def max(self, value: int) -> int:
        """The largest ``value`` over all ranks."""
        return int(value)

    def any(self, flag: bool) -> bool:
        """Whether ``flag`` is true on any rank."""
        return bool(flag)

    def gather(self, value: Any) -> list[Any]:
        """Every rank's ``value`` (any picklable object), in rank order, on every rank."""
        return [value]

    def agree(self, fn: Callable[[], T], what: str) -> T:
        """Run ``fn`` on every rank; if it raises on any, every rank raises (the failing rank
        its own error, the others a DistributedError quoting it)."""
        return fn()

    def run(self, fn: Callable[[], T]) -> T:
        """Run ``fn``; an error that not every rank raised ends the whole job."""
        return fn()

