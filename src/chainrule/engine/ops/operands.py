"""How the operations read their operands: tensors, Python numbers and arrays, in one dtype.

Python scalars combine with tensors of any float dtype without changing it (NumPy's NEP 50
rules).  Arrays and tensors of a *different* float dtype raise :class:`DTypeError` naming the
operation: chainrule never widens or narrows a tensor behind your back.
"""

from __future__ import annotations

import numbers
from typing import Any

from ...errors import DeviceError, DTypeError, ShapeError
from ..backend import is_floating, namespace, ndarray
from ..tensor import Tensor

__all__ = ["as_tensor", "binary", "broadcast_error", "match_dtypes", "scalar"]


def as_tensor(x: Any) -> Tensor:
    return x if isinstance(x, Tensor) else Tensor(x)


def scalar(x: Any) -> Any:
    """Python scalars pass through; NumPy scalars become Python ones (they would upcast)."""
    t = type(x)
    if t is float or t is int:
        return x
    if isinstance(x, numbers.Integral):  # bool and NumPy's integers too
        return int(x)
    if isinstance(x, numbers.Real):  # NumPy's floating scalars too
        return float(x)
    return None


def match_dtypes(a: ndarray, b: ndarray, op: str) -> tuple[ndarray, ndarray]:
    """Bring two arrays to one dtype without silently changing a floating-point precision."""
    if type(a) is not type(b):
        try:
            namespace(a, b)
        except DeviceError as err:
            raise DeviceError(f"{op}: {err}") from None
    da, db = a.dtype, b.dtype
    if da is db or da == db:
        return a, b
    fa, fb = is_floating(da), is_floating(db)
    if fa and fb:
        raise DTypeError(
            f"{op}: cannot combine {da} and {db} operands; convert one explicitly, "
            f"e.g. x.astype('{da}'), so the precision you get is the one you chose"
        )
    if fa:
        return a, namespace(b).astype(b, da)
    if fb:
        return namespace(a).astype(a, db), b
    return a, b


def binary(a: Any, b: Any, op: str) -> tuple[Tensor, Tensor]:
    """Both operands as tensors of one dtype; a number takes the dtype of the other operand."""
    if not isinstance(a, Tensor):
        a = _like(a, b)
    if not isinstance(b, Tensor):
        b = _like(b, a)
    ad, bd = match_dtypes(a.data, b.data, op)
    if ad is not a.data:
        a = Tensor(ad)
    if bd is not b.data:
        b = Tensor(bd)
    return a, b


def _like(x: Any, ref: Any) -> Tensor:
    s = scalar(x)
    if s is not None and isinstance(ref, Tensor) and is_floating(ref.data.dtype):
        return Tensor(namespace(ref.data).asarray(s, dtype=ref.data.dtype))
    if isinstance(x, (str, bytes)):
        raise DTypeError(f"cannot compute with the text {x!r:.40} as a number; convert it "
                         "first, e.g. float(value)")
    if isinstance(ref, Tensor) and (type(x) is ndarray or isinstance(x, (list, tuple))):
        return Tensor(x, device=ref.device)  # a constant from the host joins the tensor
    return Tensor(x)


def broadcast_error(op: str, a: Tensor, b: Tensor) -> ShapeError | DeviceError:
    """Why two operands did not combine: two devices, or shapes that do not broadcast."""
    try:
        namespace(a.data, b.data)
    except DeviceError as err:
        return DeviceError(f"{op}: {err}")
    return ShapeError(f"{op}: shapes {a.shape} and {b.shape} cannot be broadcast together; "
                      "each dimension must be equal or 1 (reshape one operand)")
