"""Ranks simulated by threads, for testing code that combines shares of the rows without
mpiexec (tests/distributed runs real MPI).

Each gather is numbered per rank, so the k-th gather of every rank meets the k-th of the
others; a rank that makes fewer gathers than the others (the desynchronisation a rank raising
early would cause under MPI) leaves them waiting, and they fail after ``timeout`` seconds
instead of hanging the test run.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

_EMPTY = object()


class GatherError(RuntimeError):
    """A gather that some rank never joined."""


class ThreadRanks:
    """``size`` ranks as threads: ``gather`` waits for every rank, as MPI's allgather does.

    >>> ThreadRanks(3).run(lambda comm, rank: comm.gather(rank * 10))
    [[0, 10, 20], [0, 10, 20], [0, 10, 20]]
    """

    def __init__(self, size: int, timeout: float = 20.0) -> None:
        self.size, self.timeout = size, timeout
        self._cond = threading.Condition()
        self._rounds: list[list[Any]] = []  # the k-th gather's slots
        self._made = [0] * size  # gathers each rank has made
        self._aborted = False

    def comm(self, rank: int) -> Any:
        """The communicator of ``rank`` (``gather``, ``agree``, ``rank``, ``size``)."""
        ranks = self

        class Comm:
            def gather(self, value: Any) -> list[Any]:
                return ranks._gather(rank, value)

            def agree(self, fn: Callable[[], Any], what: str) -> Any:
                return fn()

        c = Comm()
        c.rank, c.size = rank, self.size
        return c

    def _gather(self, rank: int, value: Any) -> list[Any]:
        with self._cond:
            k = self._made[rank]
            self._made[rank] += 1
            while len(self._rounds) <= k:
                self._rounds.append([_EMPTY] * self.size)
            slots = self._rounds[k]
            slots[rank] = value
            self._cond.notify_all()
            done = self._cond.wait_for(
                lambda: self._aborted or all(s is not _EMPTY for s in slots), self.timeout)
            # A gather every rank joined is complete, even if a rank failed afterwards.
            if all(s is not _EMPTY for s in slots):
                return list(slots)
            missing = [r for r, s in enumerate(slots) if s is _EMPTY]
            why = "another rank failed" if done else f"timed out after {self.timeout} s"
            raise GatherError(f"gather {k + 1} of rank {rank}: ranks {missing} never came "
                                f"({why})")

    def outcomes(self, fn: Callable[[Any, int], Any]) -> list[Any]:
        """``fn(comm, rank)`` on every rank: each rank's result, or the exception it raised.
        A rank that fails stops the others' waiting gathers (as MPI's abort would)."""
        results: list[Any] = [_EMPTY] * self.size

        def one(rank: int) -> None:
            try:
                results[rank] = fn(self.comm(rank), rank)
            except BaseException as err:  # handed to the test thread
                results[rank] = err
                with self._cond:
                    self._aborted = True
                    self._cond.notify_all()

        threads = [threading.Thread(target=one, args=(r,)) for r in range(self.size)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=self.timeout + 40)
        stuck = [r for r, t in enumerate(threads) if t.is_alive()]
        if stuck:
            raise GatherError(f"ranks {stuck} did not finish")
        return results

    def run(self, fn: Callable[[Any, int], Any]) -> list[Any]:
        """Every rank's result of ``fn(comm, rank)``; a rank's own error is raised (before
        the gathers it left the others waiting in)."""
        results = self.outcomes(fn)
        errors = [r for r in results if isinstance(r, BaseException)]
        if errors:
            raise next((e for e in errors if not isinstance(e, GatherError)), errors[0])
        return results
