"""Moving a tensor between devices, differentiably: ``t.to("cuda")``, ``t.cpu()``.

The move is a node like any other: its backward moves the arriving gradient back to the
device the input lives on, so a graph may cross devices where the user says so (and only
there: operands on two devices in one operation are a DeviceError).
"""

from __future__ import annotations

from typing import Any

from ..backend import ndarray
from ..devices import device, device_of, to_device
from ..primitive import Primitive, node
from ..tensor import Tensor

__all__ = ["cpu", "cuda", "to"]


def to(x: Tensor, target: Any) -> Tensor:
    """This tensor on device ``target`` ("cpu", "cuda"); itself when it is there already."""
    where = device(target)
    if device_of(x.data) == where:
        return x
    return node(to_device(x.data, where), (x,), TO, None, (x, str(where)))


def _to_backward(out: Tensor, g: ndarray) -> tuple:
    source = out._parents[0].data
    if isinstance(g, Tensor):  # a gradient of a gradient: the move back is recorded too
        return (to(g, device_of(source.data if isinstance(source, Tensor) else source)),)
    return (to_device(g, device_of(source)),)


TO = Primitive("to", _to_backward, lambda a: f"{a[0]}.to({a[1]!r})", saved="constant")


def cpu(x: Tensor) -> Tensor:
    """This tensor on the CPU (``to("cpu")``)."""
    return to(x, "cpu")


def cuda(x: Tensor) -> Tensor:
    """This tensor on the GPU (``to("cuda")``; needs CuPy: ``pip install chainrule[gpu]``)."""
    return to(x, "cuda")
