"""How the operations read their operands: tensors, Python numbers and arrays, in one dtype.

Python scalars combine with tensors of any float dtype without changing it (NumPy's NEP 50
rules).  Arrays and tensors of a *different* float dtype raise :class:`DTypeError` naming the
operation: chainrule never widens or narrows a tensor behind your back.
"""

from __future__ import annotations

from typing import Any

from ...errors import DTypeError, ShapeError
from ..backend import ndarray, xp
from ..tensor import Tensor

__all__ = ["as_tensor", "binary", "broadcast_error", "match_dtypes", "scalar"]


def as_tensor(x: Any) -> Tensor:
    return x if isinstance(x, Tensor) else Tensor(x)


def scalar(x: Any) -> Any:
    """Python scalars pass through; NumPy scalars become Python ones (they would upcast)."""
    t = type(x)
    if t is float or t is int:
        return x
    if isinstance(x, (bool, int, xp.integer, xp.bool_)):
        return int(x)
    if isinstance(x, (float, xp.floating)):
        return float(x)
    return None


def match_dtypes(a: ndarray, b: ndarray, op: str) -> tuple[ndarray, ndarray]:
    """Bring two arrays to one dtype without silently changing a floating-point precision."""
    da, db = a.dtype, b.dtype
    if da is db or da == db:
        return a, b
    fa, fb = da.kind == "f", db.kind == "f"
    if fa and fb:
        raise DTypeError(
            f"{op}: cannot combine {da} and {db} operands; convert one explicitly, "
            f"e.g. x.astype('{da}'), so the precision you get is the one you chose"
        )
    if fa:
        return a, b.astype(da)
    if fb:
        return a.astype(db), b
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
    if s is not None and isinstance(ref, Tensor) and ref.data.dtype.kind == "f":
        return Tensor(xp.asarray(s, dtype=ref.data.dtype))
    if isinstance(x, (str, bytes)):
        raise DTypeError(f"cannot compute with the text {x!r:.40} as a number; convert it "
                         "first, e.g. float(value)")
    return Tensor(x)


def broadcast_error(op: str, a: Tensor, b: Tensor) -> ShapeError:
    return ShapeError(f"{op}: shapes {a.shape} and {b.shape} cannot be broadcast together; "
                      "each dimension must be equal or 1 (reshape one operand)")
