"""Where a tensor's numbers live, and moving them: the device table.

========================  ===============================  ====================================
device                    array library                    install
========================  ===============================  ====================================
``"cpu"``                 NumPy                            (always there)
``"cuda"``                CuPy, on an NVIDIA GPU           ``pip install chainrule[gpu]``
``"array_api_strict"``    array-api-strict (on the CPU)    ``pip install array-api-strict``
========================  ===============================  ====================================

``"array_api_strict"`` is for testing: it refuses everything outside the array API standard,
so a model that trains there asks nothing of the GPU's library that it lacks.  Arrays move
between devices through the host (NumPy); :func:`to_numpy` is the one way back, used wherever
numbers are read (losses, metrics, plots, saving).

>>> device("cpu"), device_of(NUMPY.zeros(2))
('cpu', 'cpu')
>>> device("tpu")  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
chainrule.errors.ConfigError: unknown device 'tpu'; choose from cpu, cuda, array_api_strict
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..errors import ConfigError, DeviceError
from .backend import NUMPY, is_array, ndarray

__all__ = ["DEVICES", "Device", "device", "device_of", "get_default_device",
           "set_default_device", "to_device", "to_numpy"]


class Device(str):
    """A device's name, as a string (``"cpu"``, ``"cuda"``) with PyTorch's ``.type``."""

    __slots__ = ()

    @property
    def type(self) -> str:
        return str(self)


@dataclass(frozen=True)
class Kind:
    """One row of the device table: how to reach its library and move arrays in and out."""

    name: str
    module: str  # the module whose arrays live there
    install: str
    from_numpy: Callable[[Any, ndarray], Any]  # (library module, host array) -> device array
    to_numpy: Callable[[Any], ndarray]

    def load(self) -> Any:
        """The library module, or a DeviceError saying what is missing and how to install it."""
        try:
            lib = importlib.import_module(self.module)
        except ImportError:
            raise DeviceError(f"device {self.name!r} needs {self.module}, which is not "
                              f"installed: {self.install}") from None
        if self.name == "cuda":
            _check_gpu(lib)
        return lib


def _check_gpu(cupy: Any) -> None:
    try:
        count = cupy.cuda.runtime.getDeviceCount()
    except Exception as err:  # CUDARuntimeError without a driver; its type lives in CuPy
        raise DeviceError(f"device 'cuda': CuPy is installed but finds no usable NVIDIA GPU "
                          f"({err}); train on 'cpu' instead") from None
    if count < 1:
        raise DeviceError("device 'cuda': CuPy is installed but finds no NVIDIA GPU; train on "
                          "'cpu' instead")
    try:
        importlib.import_module("array_api_compat.cupy")
    except ImportError:
        raise DeviceError("device 'cuda' needs array-api-compat beside CuPy: "
                          "pip install chainrule[gpu]") from None


DEVICES: dict[str, Kind] = {
    k.name: k for k in (
        Kind("cpu", "numpy", "pip install numpy",
             lambda lib, h: h, lambda a: a),
        Kind("cuda", "cupy", "pip install chainrule[gpu] (CuPy for CUDA 12, and "
             "array-api-compat)",
             lambda lib, h: lib.asarray(h), lambda a: a.get()),
        Kind("array_api_strict", "array_api_strict", "pip install array-api-strict",
             lambda lib, h: lib.asarray(h, copy=True),
             lambda a: NUMPY.array(a, copy=True)),
    )
}
"""Every device by name (the order is the one error messages list)."""

CPU = Device("cpu")


def device(name: Any) -> Device:
    """The device called ``name`` (``"cuda:0"`` is ``"cuda"``), checked to be usable here.

    An unknown name is a ConfigError listing the valid ones; a device whose library or
    hardware is missing is a DeviceError naming what to install.

    Args:
        name: A device name (``"cpu"``, ``"cuda"``, ``"cuda:0"``, ``"array_api_strict"``) or a
            ``Device``.

    Returns:
        The device, ready to use.

    Raises:
        ConfigError: An unknown device name.
        DeviceError: The device's library or hardware is missing.
    """
    if isinstance(name, Device):
        return name
    text = name if isinstance(name, str) else getattr(name, "type", None)  # torch.device too
    base, _, index = str(text).strip().lower().partition(":")
    kind = DEVICES.get(base) if isinstance(text, str) else None
    if kind is None:
        raise ConfigError(f"unknown device {name!r}; choose from {', '.join(DEVICES)}")
    if index not in ("", "0"):
        raise DeviceError(f"device {name!r}: chainrule uses one device of each kind "
                          f"({base!r}, that is {base}:0)")
    if base != "cpu":
        kind.load()
    return Device(base)


def device_of(a: Any) -> Device:
    """The device holding array ``a``."""
    if type(a) is ndarray:
        return CPU
    root = type(a).__module__.partition(".")[0]
    for kind in DEVICES.values():
        if kind.module == root:
            return Device(kind.name)
    if root == "numpy":
        return CPU
    raise DeviceError(f"{type(a).__module__}.{type(a).__name__} is not an array of any "
                      f"device chainrule knows ({', '.join(DEVICES)})")


def to_device(a: Any, target: Any) -> Any:
    """Array ``a`` on device ``target`` (``a`` itself when it is there already)."""
    target = device(target)
    source = device_of(a)
    if source == target:
        return a
    host = DEVICES[source].to_numpy(a)
    kind = DEVICES[target]
    return kind.from_numpy(kind.load(), host)


def to_numpy(a: Any) -> ndarray:
    """Array ``a`` as a NumPy array on the host (shared, not copied, when it is one)."""
    if type(a) is ndarray:
        return a
    if not is_array(a) or type(a).__module__.partition(".")[0] == "numpy":
        return NUMPY.asarray(a)  # numbers, lists, NumPy scalars and array subclasses
    return DEVICES[device_of(a)].to_numpy(a)


_default: Device = CPU


def get_default_device() -> Device:
    """The device new tensors and layers are made on (``"cpu"`` unless set)."""
    return _default


def set_default_device(name: Any) -> Device:
    """Make new tensors and layers on ``name`` from now on; returns the previous default.

    As ``torch.set_default_device``; ``cr.tensor(data)``, ``Tensor(array)`` and every layer's
    parameters are then made there.

    Args:
        name: A device name (``"cpu"``, ``"cuda"``, ``"array_api_strict"``) or a ``Device``.

    Returns:
        The default device before this call, to restore it later.

    Raises:
        ConfigError: An unknown device name (the message lists the valid ones).
        DeviceError: The device is not usable here (its library or hardware is missing).
    """
    global _default
    previous, _default = _default, device(name)
    return previous
