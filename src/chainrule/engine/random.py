"""Where random numbers come from.

Every function that draws random numbers takes ``rng``: a ``numpy.random.Generator``, an int
seed, or None for the library's shared generator, which :func:`manual_seed` resets.  So a run is
reproducible either by passing seeds explicitly or by calling ``cr.manual_seed(0)`` once.
"""

from __future__ import annotations

import numpy as np

from ..errors import ConfigError

_shared = np.random.default_rng()

RNGLike = np.random.Generator | int | None


def manual_seed(seed: int) -> np.random.Generator:
    """Reset the shared generator used wherever no ``rng`` is given; returns it.

    >>> import chainrule as cr
    >>> _ = cr.manual_seed(0)
    """
    global _shared
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ConfigError(f"manual_seed: the seed must be a non-negative integer, got {seed!r}")
    _shared = np.random.default_rng(seed)
    return _shared


def get_rng(rng: RNGLike = None) -> np.random.Generator:
    """Turn ``rng`` (Generator, seed or None) into a Generator."""
    if rng is None:
        return _shared
    if isinstance(rng, np.random.Generator):
        return rng
    if isinstance(rng, (int, np.integer)):
        return np.random.default_rng(int(rng))
    raise ConfigError(f"rng must be a numpy.random.Generator, an int seed or None, got {rng!r}")
