"""What the table encoder learnt of each column (:class:`FittedColumn`), and its form in a
model file, read back with every field checked (a model file is data from outside)."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

from ..errors import DataError
from .codes import Codes
from .kinds import KINDS

__all__ = ["DATE_PARTS", "TIME_PARTS", "FittedColumn"]

DATE_PARTS = ("year", "month", "day", "weekday")
"""A date column's numeric parts."""
TIME_PARTS = ("hour", "minute")
"""Added where any training value has a time of day."""


@dataclass
class FittedColumn:
    """What the table encoder learnt of one column (see
    :class:`chainrule.data.columns.TableEncoder`), as stored in a model file."""

    name: str
    kind: str
    reason: str = ""
    median: list[float] = field(default_factory=list)  # one per numeric part
    missing_indicator: bool = False
    categories: list[str] = field(default_factory=list)
    missing_category: bool = False
    time_of_day: bool = False  # a datetime column whose training values have a time of day
    codes: Codes | None = None  # a target-encoded categorical column's table

    @property
    def parts(self) -> tuple[str, ...]:
        """A datetime column's numeric parts."""
        return DATE_PARTS + (TIME_PARTS if self.time_of_day else ())

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready; ``time_of_day`` only where set, so a file reads as before it existed."""
        codes, self.codes = self.codes, None
        try:
            d = asdict(self)
        finally:
            self.codes = codes
        del d["codes"]
        if not self.time_of_day:
            del d["time_of_day"]
        if codes is not None:
            d["codes"] = codes.to_dict()
        return d

    @property
    def width(self) -> int:
        """A categorical column's features."""
        if self.codes is not None:
            return len(self.codes.outputs)
        return len(self.categories) + int(self.missing_category)

    @classmethod
    def from_dict(cls, c: Any, where: str) -> FittedColumn:
        """Rebuild from :meth:`to_dict`; ``where`` starts each message."""
        if not isinstance(c, dict) or not isinstance(c.get("name"), str) or \
                c.get("kind") not in KINDS:
            raise DataError(f"{where}: needs a name and a kind in {', '.join(KINDS)}")
        med = c.get("median", [])
        cats = c.get("categories", [])
        if not isinstance(med, list) or not all(
                isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
                for v in med):
            raise DataError(f"{where}: median must be a list of finite numbers")
        timed = c.get("time_of_day", False)
        if not isinstance(timed, bool) or (timed and c["kind"] != "datetime"):
            raise DataError(f"{where}: time_of_day must be true or false, and only for a "
                            "datetime column")
        want = {"numeric": 1, "boolean": 1,
                "datetime": len(DATE_PARTS) + timed * len(TIME_PARTS)}.get(c["kind"])
        if want is not None and len(med) != want:
            raise DataError(f"{where}: a {c['kind']} column needs {want} median(s)")
        if not isinstance(cats, list) or not all(isinstance(v, str) for v in cats) or \
                len(set(cats)) != len(cats):
            raise DataError(f"{where}: categories must be a list of distinct strings")
        codes = None
        if c.get("codes") is not None:
            if c["kind"] != "categorical":
                raise DataError(f"{where}: only a categorical column has codes")
            codes = Codes.from_dict(c["codes"], where)
            if cats != codes.categories:
                raise DataError(f"{where}: categories must be those of its codes")
        return cls(c["name"], c["kind"], str(c.get("reason", "")), [float(v) for v in med],
                   bool(c.get("missing_indicator")), list(cats), bool(c.get("missing_category")),
                   timed, codes)
