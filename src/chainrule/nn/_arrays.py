"""Data from the user (targets, weights, lists, NumPy arrays) as arrays of a tensor's library.

A loss's target or a layer's random mask is made on the host; the tensor it meets may live on
another device.  Moving it there is what PyTorch asks the user to do (``y.to(device)``);
chainrule does it for data given as plain NumPy arrays or lists, so the same training code
runs on every device.  Kept out of the CPU's way: a NumPy array meeting a NumPy tensor is
returned as it is.
"""

from __future__ import annotations

from typing import Any

from ..engine.backend import NUMPY, is_array, ndarray
from ..engine.devices import device_of, to_device, to_numpy

__all__ = ["as_array_like", "dtype_name"]


def as_array_like(value: Any, like: Any) -> Any:
    """``value`` as an array of the library and device of array ``like`` (no copy when it is
    one already; its dtype unchanged).

    >>> as_array_like([1, 2], NUMPY.zeros(2)).tolist()
    [1, 2]
    """
    if type(value) is type(like):
        return value
    host = to_numpy(value) if is_array(value) else NUMPY.asarray(value)
    if type(like) is ndarray:
        return host
    return to_device(host, device_of(like))


def dtype_name(dtype: Any) -> str:
    """A dtype's name on every library ('float32'), for configs and messages.

    >>> dtype_name(NUMPY.dtype("float64"))
    'float64'
    """
    return str(dtype).rpartition(".")[2]
