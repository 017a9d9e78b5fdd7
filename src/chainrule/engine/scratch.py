"""Arrays an operation may take from its layer instead of making them fresh every step.

A layer that trains step after step makes the same large arrays every time (a dense layer's
output, its weight's gradient).  Made fresh, their memory goes back to the system whenever
glibc's allocator trims its heap or maps such a block on its own, and comes back as new pages,
each one a page fault: a 784-1024-1024-10 network at batch 256 took 20-22 ms a step in some
processes, with about 2,200 faults a step, and 15-17 ms in others.  An operation given a
:class:`Scratch` (a layer's workspace) writes into the array it hands out, which is one that
no one else holds any more, so a result a caller keeps is never written over.

Small arrays gain nothing (glibc keeps them on its free lists) and would pay a call: only
arrays of at least :data:`KEPT_BYTES` come from the workspace.
"""

from __future__ import annotations

from typing import Any, Protocol

__all__ = ["KEPT_BYTES", "Scratch"]

KEPT_BYTES = 1 << 17
"""Arrays from this size on come from a workspace: glibc's default thresholds (128 KiB) from
which a freed block is given back to the system (mapped on its own, or trimmed off the heap).
Below it the workspace's call costs more than it saves (a 784-128-10 step, timed both ways:
the same to 1-2%)."""


class Scratch(Protocol):
    """What an operation needs of a layer's workspace."""

    def empty(self, slot: str, shape: tuple[int, ...], dtype: Any) -> Any:
        """An uninitialised NumPy array for ``slot`` that nothing else refers to."""
        ...
