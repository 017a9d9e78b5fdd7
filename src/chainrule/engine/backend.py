"""The array library behind every tensor.

All array math in the engine goes through ``xp``.  Today that is NumPy; keeping the name in one
place is what lets a GPU array library with the same interface (CuPy) stand in later without
touching the operations themselves.
"""

from __future__ import annotations

import numpy as xp

ndarray = xp.ndarray

__all__ = ["ndarray", "xp"]
