"""Arrays between the host and a tensor's device: user data (targets, weights, lists, NumPy
arrays) as arrays of a tensor's library, host arrays onto the default device, host copies for
saving, and the device and dtype arguments of ``Module.to``.

A loss's target or a layer's random mask is made on the host; the tensor it meets may live on
another device.  Moving it there is what PyTorch asks the user to do (``y.to(device)``);
chainrule does it for data given as plain NumPy arrays or lists, so the same training code
runs on every device.  Kept out of the CPU's way: a NumPy array meeting a NumPy tensor is
returned as it is.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..engine import devices
from ..engine.backend import NUMPY, dtype_name, is_array, namespace, ndarray
from ..engine.devices import DEVICES, Device, device_of, get_default_device, to_device, to_numpy
from ..errors import ConfigError

__all__ = ["as_array_like", "astype_to", "dtype_name", "float_dtype", "host_copy",
           "is_device_name", "on_default_device"]


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


def on_default_device(array: Any) -> Any:
    """A host array on the default device (an array of another library stays where it is,
    as ``torch.nn.Parameter`` keeps its tensor's device)."""
    if not is_array(array):
        array = np.asarray(array)
    if type(array) is np.ndarray:
        where = get_default_device()
        if where != "cpu":
            return to_device(array, where)
    return array


def host_copy(a: Any) -> np.ndarray:
    """A NumPy copy of array ``a`` (read back from its device, or copied on the CPU)."""
    host = to_numpy(a)
    return host.copy() if host is a else host


def is_device_name(value: Any) -> bool:
    """Whether an argument of :meth:`Module.to` names a device rather than a dtype."""
    if isinstance(value, Device) or (not isinstance(value, str) and hasattr(value, "type")
                                     and not isinstance(value, (type, np.dtype))):
        return True  # ours, or a torch.device
    return isinstance(value, str) and value.strip().lower().partition(":")[0] in DEVICES


def float_dtype(dtype: Any) -> np.dtype:
    try:
        dt = np.dtype(dtype if isinstance(dtype, (str, type, np.dtype)) else dtype_name(dtype))
    except TypeError:
        if isinstance(dtype, str):  # neither a dtype nor a device: name the devices
            devices.device(dtype)
        raise ConfigError(f"to: {dtype!r} is neither a device nor a dtype") from None
    if dt.kind != "f":
        raise ConfigError(f"to: dtype must be a floating-point type, got {dt}")
    return dt


def astype_to(a: Any, dt: np.dtype) -> Any:
    if type(a) is np.ndarray:
        return a if a.dtype == dt else a.astype(dt)
    xp = namespace(a)
    target = getattr(xp, dt.name)
    return a if a.dtype == target else xp.astype(a, target)
