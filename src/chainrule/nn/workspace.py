"""Scratch arrays a layer keeps from one call to the next, for its NumPy fast paths.

A training step of a conv net makes the same large arrays every time: the convolution's
columns, their gradient, the pooling's argmax, the outputs.  Made fresh each step, their
memory goes back to the system and comes back as new pages (page faults) whenever glibc's
allocator trims its heap, which it does or not depending on the process's history: LeNet-5
at batch 64 took 3.4 ms a step in one process and 12-14 ms in another, with about 3,000
page faults a step.  A :class:`Workspace` hands out the array it made for the same purpose
last time instead, but only when nothing else refers to it any more (the graph of the last
step has been freed, and the caller kept neither the output nor a view of it), so a result
is never overwritten while someone can still read it; otherwise it makes a new one.

>>> import numpy as np
>>> ws = Workspace()
>>> a = ws.empty("cols", (2, 3), np.float32)
>>> b = ws.empty("cols", (2, 3), np.float32)   # a is still held here: a new array
>>> a is b
False
>>> del a, b
>>> ws.empty("cols", (2, 3), np.float32).shape  # now one of them comes back
(2, 3)
"""

from __future__ import annotations

import sys
import threading
from typing import Any

import numpy

__all__ = ["Workspace", "empty"]

#: references to a kept array that is free: the workspace's list, the loop variable and the
#: argument of ``sys.getrefcount`` (CPython's count; a view holds one through its ``base``)
_FREE = 3
#: arrays kept per purpose: a layer called twice in one step (shared weights) keeps two
_PER_SLOT = 2


class Workspace:
    """Arrays kept by purpose (a slot name), handed out again once no one else holds them.

    A layer owns one; copies and pickles of the layer start with an empty one.  The arrays
    stay allocated between calls (about the size of one step's intermediate results);
    :meth:`clear` lets them go.
    """

    __slots__ = ("_arrays", "_lock")

    def __init__(self) -> None:
        self._arrays: dict[str, list[Any]] = {}
        self._lock = threading.Lock()

    def empty(self, slot: str, shape: tuple[int, ...], dtype: Any) -> Any:
        """An uninitialised NumPy array of ``shape`` and ``dtype`` for ``slot``: one kept from
        an earlier call when nothing else refers to it, else a new one, which is kept."""
        with self._lock:  # two threads must not both take the same free array
            kept = self._arrays.setdefault(slot, [])
            for a in kept:
                if sys.getrefcount(a) == _FREE and a.shape == shape and a.dtype == dtype:
                    return a
            a = numpy.empty(shape, dtype)
            if len(kept) >= _PER_SLOT:
                kept.pop(0)
            kept.append(a)
            return a

    def clear(self) -> None:
        """Let every kept array go (those still in use live on with their users)."""
        with self._lock:
            self._arrays.clear()

    def nbytes(self) -> int:
        """Bytes held by the kept arrays."""
        with self._lock:
            return sum(a.nbytes for kept in self._arrays.values() for a in kept)

    def __deepcopy__(self, memo: dict) -> Workspace:
        return Workspace()

    def __reduce__(self) -> tuple:
        return (Workspace, ())

    def __repr__(self) -> str:
        return f"Workspace({len(self._arrays)} slots, {self.nbytes()} bytes)"


def empty(ws: Workspace | None, slot: str, shape: tuple[int, ...], dtype: Any) -> Any:
    """``ws.empty(slot, shape, dtype)``, or a new array where there is no workspace (a
    functional call)."""
    if ws is None:
        return numpy.empty(shape, dtype)
    return ws.empty(slot, shape, dtype)
