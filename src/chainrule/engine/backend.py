"""The array library behind every tensor: the one seam between the primitives and NumPy.

Every primitive (the engine's operations and ``nn``'s conv, pooling, normalization and
losses) reaches its array library through ``xp`` here, never by importing NumPy itself
(``tests/test_layering.py`` holds this), so another library with NumPy's interface (CuPy) can
stand in at one place.  What the array API standard lacks and a primitive needs lives here
too, one function each: :func:`sliding_windows` (convolution and pooling windows).
"""

from __future__ import annotations

from typing import Any

import numpy as xp
from numpy.lib.stride_tricks import sliding_window_view

ndarray = xp.ndarray

__all__ = ["ndarray", "sliding_windows", "xp"]


def sliding_windows(a: ndarray, window_shape: Any, axis: Any = None) -> ndarray:
    """A read-only view of every window of ``window_shape`` along ``axis`` (NumPy's
    ``sliding_window_view``; no copy).

    >>> sliding_windows(xp.arange(4), 2).tolist()
    [[0, 1], [1, 2], [2, 3]]
    """
    return sliding_window_view(a, window_shape, axis=axis)
