"""Weight initialisers.  Each fills a tensor in place and returns it.

Every random initialiser takes ``rng`` (a ``numpy.random.Generator``, an int seed, or None for
the shared generator that :func:`chainrule.manual_seed` resets), so runs are reproducible.

A warning from the course: :func:`constant_` on a layer's weights makes every hidden unit
compute the same function, and gradient descent keeps them identical.  Random initialisation
breaks that symmetry.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from ..engine import ConfigError, ShapeError, Tensor
from ..engine.backend import NUMPY, ndarray
from ..engine.random import RNGLike, get_rng
from ._arrays import as_array_like, dtype_name
from ._checks import lookup
from .activations import ACTIVATIONS, Identity

__all__ = [
    "INITIALIZERS",
    "calculate_gain",
    "constant_",
    "get",
    "kaiming_normal_",
    "kaiming_uniform_",
    "normal_",
    "uniform_",
    "xavier_normal_",
    "xavier_uniform_",
    "zeros_",
]


def _fill(t: Tensor, values: Any) -> Tensor:
    data = t.data
    if type(data) is not ndarray and not isinstance(values, (int, float)):
        # Drawn on the host (so a seed gives the same weights on every device), cast there
        # as NumPy would in place, then copied to the tensor's device once.
        values = as_array_like(NUMPY.asarray(values, dtype=dtype_name(data.dtype)), data)
    data[...] = values
    return t


def _fans(t: Tensor) -> tuple[int, int]:
    shape = t.data.shape
    if len(shape) < 2:
        raise ShapeError(f"fan-in and fan-out need a tensor with at least 2 dimensions, got "
                         f"shape {shape}")
    receptive = math.prod(shape[2:])
    return shape[1] * receptive, shape[0] * receptive


_NONLINEARITIES = {"linear": Identity, **ACTIVATIONS}


def calculate_gain(nonlinearity: str, param: float | None = None) -> float:
    """The recommended weight scale before an activation: a name of
    :data:`chainrule.nn.activations.ACTIVATIONS`, or 'linear' for none (PyTorch's name);
    ``param`` is leaky_relu's slope.  Each activation class keeps its own gain.

    >>> calculate_gain("relu"), calculate_gain("linear"), round(calculate_gain("tanh"), 4)
    (1.4142135623730951, 1.0, 1.6667)
    """
    return lookup(_NONLINEARITIES, {}, nonlinearity, "nonlinearity").init_gain(param)


def zeros_(t: Tensor) -> Tensor:
    """Fill with zeros."""
    return _fill(t, 0)


def constant_(t: Tensor, value: float) -> Tensor:
    """Fill with one value (for weights this makes all hidden units identical: see module doc)."""
    return _fill(t, value)


# Values are drawn in float64 blocks of this many, each cast into the weights: a seed gives
# the same weights as one whole float64 draw cast down, without holding that draw.
_BLOCK = 1 << 16


def _draw(t: Tensor, draw: Callable[..., Any], scale: float, offset: float) -> Tensor:
    """Fill ``t`` with ``offset + scale * draw()``, straight into its array.

    ``Generator.normal`` and ``Generator.uniform`` compute ``offset + scale * draw`` in
    float64; so does this, block by block, casting each block into the tensor's dtype.  The
    numbers are those of a whole float64 draw cast down (the weights a seed gave before), but
    building a 784-4096-4096-10 float32 model now peaks at its 76 MiB of weights instead of
    204 MiB (a float64 draw and its float32 cast held beside them).
    """
    data = t.data
    direct = type(data) is ndarray and data.flags.c_contiguous and data.flags.writeable
    # Other devices draw on the host (so a seed gives the same weights everywhere), then copy.
    host = data if direct else NUMPY.empty(data.shape, dtype=dtype_name(data.dtype))
    flat = host.reshape(-1)
    if flat.dtype == NUMPY.float64:
        draw(out=flat)
        flat *= scale
        flat += offset
    else:
        block = NUMPY.empty(min(_BLOCK, flat.size))
        for start in range(0, flat.size, _BLOCK):
            part = block[: min(_BLOCK, flat.size - start)]
            draw(out=part)
            part *= scale
            part += offset
            flat[start:start + part.size] = part
    return t if direct else _fill(t, host)


def normal_(t: Tensor, mean: float = 0.0, std: float = 1.0, rng: RNGLike = None) -> Tensor:
    """Draw from N(mean, std**2).

    >>> import chainrule as cr
    >>> w = normal_(cr.tensor(NUMPY.zeros((2, 3), dtype="float32")), std=0.01, rng=0)
    >>> w.data.dtype, bool(abs(w.data).max() < 0.05)
    (dtype('float32'), True)
    """
    return _draw(t, get_rng(rng).standard_normal, std, mean)


def uniform_(t: Tensor, a: float = 0.0, b: float = 1.0, rng: RNGLike = None) -> Tensor:
    """Draw from U(a, b)."""
    return _draw(t, get_rng(rng).random, b - a, a)


def xavier_uniform_(t: Tensor, gain: float = 1.0, rng: RNGLike = None) -> Tensor:
    """Glorot uniform: U(-a, a) with a = gain * sqrt(6 / (fan_in + fan_out))."""
    fan_in, fan_out = _fans(t)
    a = gain * math.sqrt(6.0 / (fan_in + fan_out))
    return uniform_(t, -a, a, rng)


def xavier_normal_(t: Tensor, gain: float = 1.0, rng: RNGLike = None) -> Tensor:
    """Glorot normal: N(0, std**2) with std = gain * sqrt(2 / (fan_in + fan_out))."""
    fan_in, fan_out = _fans(t)
    return normal_(t, 0.0, gain * math.sqrt(2.0 / (fan_in + fan_out)), rng)


def _kaiming_std(t: Tensor, a: float, mode: str, nonlinearity: str) -> float:
    if mode not in ("fan_in", "fan_out"):
        raise ConfigError(f"unknown mode {mode!r}; choose fan_in or fan_out")
    fan_in, fan_out = _fans(t)
    fan = fan_in if mode == "fan_in" else fan_out
    return calculate_gain(nonlinearity, a) / math.sqrt(fan)


def kaiming_uniform_(t: Tensor, a: float = 0.0, mode: str = "fan_in",
                     nonlinearity: str = "leaky_relu", rng: RNGLike = None) -> Tensor:
    """He uniform: U(-b, b) with b = gain * sqrt(3 / fan)."""
    bound = math.sqrt(3.0) * _kaiming_std(t, a, mode, nonlinearity)
    return uniform_(t, -bound, bound, rng)


def kaiming_normal_(t: Tensor, a: float = 0.0, mode: str = "fan_in",
                    nonlinearity: str = "leaky_relu", rng: RNGLike = None) -> Tensor:
    """He normal: N(0, std**2) with std = gain / sqrt(fan)."""
    return normal_(t, 0.0, _kaiming_std(t, a, mode, nonlinearity), rng)


def _small_normal(t: Tensor, rng: RNGLike = None) -> Tensor:
    # The course notebooks' np.random.randn(n_h, n_x) * 0.01.
    return normal_(t, 0.0, 0.01, rng)


INITIALIZERS: dict[str, Callable[..., Tensor]] = {
    "xavier_uniform": xavier_uniform_,
    "xavier_normal": xavier_normal_,
    "kaiming_uniform": lambda t, rng=None: kaiming_uniform_(t, nonlinearity="relu", rng=rng),
    "kaiming_normal": lambda t, rng=None: kaiming_normal_(t, nonlinearity="relu", rng=rng),
    "normal": _small_normal,
    "zeros": lambda t, rng=None: zeros_(t),
}


def get(name: str) -> Callable[..., Tensor]:
    """The weight initialiser called ``name`` (any case, ``-`` or ``_``; see
    :data:`INITIALIZERS`); ConfigError listing the valid names otherwise.

    >>> get("glorot")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
        ...
    chainrule.errors.ConfigError: unknown initialiser 'glorot'; choose one of kaiming_normal, ...
    """
    return lookup(INITIALIZERS, {}, name, "initialiser")
