"""How each column of a table is used as a feature: :func:`infer_columns`.

The typing reads every row of a column, but under MPI a rank holds only its share of the
rows.  So one rule set runs in three steps, the same with one process as with many:

1. **evidence** (:func:`_evidence`): what this share says about each column, small enough to
   send: counts, min and max, for whole numbers whether they are distinct and by how many
   steps of one they count up, for text its distinct strings, their total length, whether
   all are true/false words or numbers, and the first :data:`_DATE_HEAD` cells;
2. **combining** (:func:`_combine`): every rank's evidence, gathered once for all columns,
   merged into what the whole column says (a share with no rows, or with no present value,
   which the parser may have read as float NaN whatever the column's type, adds nothing but
   its row count);
3. **deciding** (:func:`_decide`): the plan of a column from its combined evidence.

So every rank ends with the plans (kinds and reasons, counts included) of the whole table.
Numeric columns are read in blocks of columns, not one by one: one pandas column access costs
tens of microseconds, which a table of 20,000 columns pays 20,000 times.  pandas is needed
only for the tables themselves; nothing here imports it at module level.
"""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..errors import DataError
from .cells import FALSE, TRUE, all_numbers, names_list, quiet, strings
from .combine import Gatherer, gatherer, union
from .diagnosis import quote

__all__ = ["KINDS", "ColumnPlan", "infer_columns"]

KINDS = ("numeric", "boolean", "categorical", "datetime", "dropped")
"""How a column can be used."""

_ID_MIN_ROWS = 20  # below this, "every value distinct" says nothing
_CYCLE_ROWS = 20  # a counter whose values fill this many rows each on average is a cycle
_TEXT_MIN_LENGTH = 25  # average characters of a free-text column
_DATE_HEAD = 500  # the cells that decide whether text is dates
_BLOCK_BYTES = 4 << 20  # numeric columns are read in blocks of about this size
_TRUE_FALSE = TRUE | FALSE


@dataclass
class ColumnPlan:
    """How one input column is used: ``kind`` is one of :data:`KINDS`; ``reason`` says why
    (shown to the user and stored in the model file)."""

    name: str
    kind: str
    reason: str = ""


@dataclass
class _Evidence:
    """What one share of the rows says about one column (or, combined, the whole column).

    ``cls`` is the cells' type: ``int``, ``float``, ``bool``, ``date`` or ``text``.  For
    integers, ``unique`` holds the sorted values when they are distinct within the share
    (None when not: then the whole column is not distinct either); ``ones`` of ``steps``
    row-to-row steps go up by exactly one, and ``first``/``last`` let the steps across the
    border between two shares be counted.  For text, ``words`` are the distinct present
    strings and ``head`` the first cells (None where missing)."""

    cls: str
    rows: int
    present: int
    low: Any = None
    high: Any = None
    unique: np.ndarray | None = None
    ones: int = 0
    steps: int = 0
    first: int | float = 0
    last: int | float = 0
    words: set[str] = field(default_factory=set)
    length: int = 0
    truth: bool = True
    numeric: bool = True
    head: list[str | None] = field(default_factory=list)


# -- 1. evidence from this share ---------------------------------------------------------------
def _evidence(frame: Any, columns: Sequence[str]) -> list[_Evidence]:
    """The evidence of each of ``columns`` in this share (numeric columns in blocks)."""
    out: dict[str, _Evidence] = {}
    position = {c: j for j, c in enumerate(frame.columns)}
    dtypes = list(frame.dtypes)  # one Series lookup per column costs as much as the typing
    blocks: dict[Any, list[str]] = {}
    for c in columns:
        dt = dtypes[position[c]]
        if isinstance(dt, np.dtype) and dt.kind in "iuf":
            blocks.setdefault(dt, []).append(c)
        else:
            out[c] = _other_evidence(frame[c])
    rows = len(frame)
    group = max(1, _BLOCK_BYTES // max(1, 8 * rows))
    for dt, names in blocks.items():
        for start in range(0, len(names), group):
            part = names[start:start + group]
            block = frame.iloc[:, [position[c] for c in part]].to_numpy(dtype=dt)
            out.update(zip(part, _number_evidence(block, dt.kind == "f")))
    return [out[c] for c in columns]


def _number_evidence(block: np.ndarray, floats: bool) -> list[_Evidence]:
    """Evidence of each column of a (rows x columns) block of floats or integers."""
    rows, width = block.shape
    if floats:
        mask = ~np.isnan(block)
        present = mask.sum(axis=0)
        low = np.min(block, axis=0, where=mask, initial=np.inf)
        high = np.max(block, axis=0, where=mask, initial=-np.inf)
        return [_Evidence("float", rows, int(present[j]), float(low[j]), float(high[j]))
                for j in range(width)]
    if rows == 0:
        return [_Evidence("int", 0, 0) for _ in range(width)]
    ordered = np.sort(block, axis=0)
    distinct = np.all(ordered[1:] != ordered[:-1], axis=0)
    # steps in the integers themselves: as float64, 2**60 + 1 - 2**60 is 0
    with np.errstate(over="ignore"):
        ones = (np.diff(block, axis=0) == 1).sum(axis=0)
    first, last = block[0].tolist(), block[-1].tolist()
    return [_Evidence("int", rows, rows, ordered[0, j].item(), ordered[-1, j].item(),
                      ordered[:, j].copy() if distinct[j] else None, int(ones[j]), rows - 1,
                      first[j], last[j])
            for j in range(width)]


def _other_evidence(s: Any) -> _Evidence:
    """Evidence of a column that is not a plain NumPy number column."""
    rows = len(s)
    kind = s.dtype.kind
    if kind in "bM":
        return _Evidence("bool" if kind == "b" else "date", rows, int(s.notna().sum()))
    if kind in "iuf":  # a pandas extension type (e.g. Int64): its present values
        values = s[s.notna()].to_numpy(dtype=np.float64 if kind == "f" else np.int64)
        e = _number_evidence(values[:, None], kind == "f")[0]
        e.rows = rows
        return e
    text = strings(s)
    present = [t for t in text if t is not None]
    return _Evidence("text", rows, len(present), words=set(present),
                     length=sum(map(len, present)),
                     truth=all(t.lower() in _TRUE_FALSE for t in present),
                     numeric=all_numbers(present), head=list(text[:_DATE_HEAD]))


# -- 2. combining the shares -------------------------------------------------------------------
def _combine(name: str, shares: Sequence[_Evidence]) -> _Evidence:
    """The evidence of the whole column from that of every share, in rank order."""
    rows = sum(e.rows for e in shares)
    seen = [e for e in shares if e.present]  # an all-missing share may be typed float NaN
    classes = {e.cls for e in seen}
    if not seen:
        return _Evidence("text", rows, 0)
    if classes == {"int", "float"}:  # whole numbers on one share, decimals on another
        classes = {"float"}
    if len(classes) > 1:
        raise DataError(f"column {quote(name)} was read as {' and '.join(sorted(classes))} "
                        "on different shares of the rows; pass --categorical "
                        f"{name} or make its cells one type")
    cls = classes.pop()
    out = _Evidence(cls, rows, sum(e.present for e in seen))
    if cls in ("int", "float"):
        out.low, out.high = min(e.low for e in seen), max(e.high for e in seen)
    if cls == "int":
        _combine_integers(out, seen)
    elif cls == "text":
        out.words = union(e.words for e in seen)
        out.length = sum(e.length for e in seen)
        out.truth = all(e.truth for e in seen)
        out.numeric = all(e.numeric for e in seen)
        for e in shares:  # the first cells of the whole column, missing shares included
            room = _DATE_HEAD - len(out.head)
            out.head += e.head[:room] if e.cls == "text" else [None] * min(room, e.rows)
    return out


def _combine_integers(out: _Evidence, seen: Sequence[_Evidence]) -> None:
    """Distinct over all shares (no share repeats a value, nor do two shares share one) and
    the steps of one, the steps across the border between neighbouring shares included."""
    if all(e.unique is not None for e in seen):
        values = np.concatenate([e.unique for e in seen])
        out.unique = values if len(np.unique(values)) == len(values) else None
    out.ones = sum(e.ones for e in seen)
    out.steps = sum(e.steps for e in seen) + len(seen) - 1
    out.ones += sum(b.first - a.last == 1 for a, b in itertools.pairwise(seen))


# -- 3. deciding ---------------------------------------------------------------------------------
def _decide(name: str, e: _Evidence, chosen: bool) -> ColumnPlan:
    """The plan of a column from the evidence of all its rows."""
    n = e.present
    if n == 0:
        return ColumnPlan(name, "dropped", "every value is missing")
    if e.cls == "bool":
        return ColumnPlan(name, "boolean", "true/false values")
    if e.cls == "date":
        return ColumnPlan(name, "datetime", "dates: year, month, day, weekday")
    if e.cls in ("int", "float"):
        if e.cls == "int" and n >= _ID_MIN_ROWS and not chosen:
            if e.unique is not None:
                return ColumnPlan(name, "dropped", "identifier-like: whole numbers, every "
                                                   "value distinct; --features keeps it")
            # A row counter, such as a sample number (restarting per group, too); not a
            # cycle whose every value fills many rows, such as the hour of day in hourly
            # data (ISLP's Bikeshare: 0..23 over 8,645 rows, its most telling column).
            if e.steps and e.ones / e.steps >= 0.9 and \
                    (e.high - e.low + 1) * _CYCLE_ROWS >= n:
                return ColumnPlan(name, "dropped", "identifier-like: counts up by one from "
                                                   "row to row; --features keeps it")
        if e.low == e.high:
            return ColumnPlan(name, "dropped", "constant: one value only")
        return ColumnPlan(name, "numeric", "numbers")
    if e.truth:
        return ColumnPlan(name, "boolean", "true/false values")
    if e.numeric:
        return ColumnPlan(name, "numeric", "numbers")
    if _looks_like_dates(e.head):
        return ColumnPlan(name, "datetime", "dates: year, month, day, weekday")
    distinct = len(e.words)
    long = e.length / n >= _TEXT_MIN_LENGTH
    why = "free text" if long else "identifier-like"
    if not chosen and distinct == n and n >= _ID_MIN_ROWS:
        return ColumnPlan(name, "dropped", f"{why}: every value distinct; --features keeps it")
    if not chosen and n >= _ID_MIN_ROWS and distinct > 0.5 * n:
        # One-hot columns for values seen about once each teach nothing and bloat the model.
        return ColumnPlan(name, "dropped", f"{why}: {distinct} distinct values in {n} rows; "
                                           "--features keeps it")
    if distinct == 1:
        return ColumnPlan(name, "dropped", "constant: one value only")
    return ColumnPlan(name, "categorical", f"text, {distinct} categories")


def _looks_like_dates(head: Sequence[str | None]) -> bool:
    """Whether the present cells among the first ones all look like dates (digits and a
    separator) and pandas reads at least 95% of them as dates."""
    present = [t for t in head if t is not None]
    if not present or not all(any(ch.isdigit() for ch in t) and any(ch in "-/:" for ch in t)
                              for t in present):
        return False
    pd = __import__("pandas")
    with quiet():
        parsed = pd.to_datetime(pd.Series(present, dtype=object), errors="coerce",
                                format="mixed")
    return bool(parsed.notna().mean() >= 0.95)


def infer_columns(frame: Any, target: str | None = None, *,
                  features: Sequence[str] | None = None, drop: Sequence[str] = (),
                  categorical: Sequence[str] = (), comm: Gatherer | None = None
                  ) -> list[ColumnPlan]:
    """How each column of ``frame`` is used as a feature (the target is left out).

    ``features`` limits the columns to those named (they are then never dropped as
    identifier-like or free text); ``drop`` removes columns; ``categorical`` forces columns
    (e.g. integer codes) to be one-hot encoded.  With ``comm`` (a communicator whose
    ``gather`` returns every rank's value in rank order), ``frame`` is this rank's share of
    the rows and every rank returns the plans of all the shares together (one gather).

    >>> import pandas as pd
    >>> t = pd.DataFrame({"id": range(30), "size": [1.5] * 15 + [2.5] * 15,
    ...                   "colour": ["red", "blue", None] * 10, "y": [0, 1] * 15})
    >>> [(p.name, p.kind) for p in infer_columns(t, "y")]
    [('id', 'dropped'), ('size', 'numeric'), ('colour', 'categorical')]
    """
    # The names are checked before the gather: every rank has the same columns and
    # arguments, so every rank raises here alike.
    columns = list(frame.columns)
    for what, names in (("--features", features or ()), ("--drop", drop),
                        ("--categorical", categorical)):
        absent = [c for c in names if c not in columns]
        if absent:
            shown = ", ".join(quote(a, 30) for a in absent[:20]) + (
                f" (and {len(absent) - 20:,} more)" if len(absent) > 20 else "")
            raise DataError(f"{what}: no column named {shown}; the "
                            f"columns are {names_list(columns)}")
    if target is not None and features is not None and target in features:
        raise DataError(f"the target {quote(target)} is also listed as a feature; a model "
                        "that reads its answer learns nothing; remove it from --features")
    chosen = list(features) if features is not None else [c for c in columns if c != target]
    dropped, forced = set(drop), set(categorical)
    typed = [c for c in chosen if c not in dropped and c not in forced]
    shares = gatherer(comm).gather(_evidence(frame, typed))
    combined = {c: _combine(c, [s[k] for s in shares]) for k, c in enumerate(typed)}
    plans = []
    for c in chosen:
        if c in dropped:
            plans.append(ColumnPlan(c, "dropped", "--drop"))
        elif c in forced:
            plans.append(ColumnPlan(c, "categorical", "--categorical"))
        else:
            plans.append(_decide(c, combined[c], features is not None))
    if not any(p.kind != "dropped" for p in plans):
        raise DataError("no feature columns are left"
                        + (f" besides the target {quote(target)}" if target else "")
                        + (": " + _why_dropped(plans) if plans else "")
                        + "; pass --features to choose columns")
    return plans


def _why_dropped(plans: Sequence[ColumnPlan], limit: int = 20) -> str:
    """Why each column was dropped, for a message: the first ``limit`` columns, then how
    many more and a count per reason (a table of 30,000 constant columns made a message of
    a megabyte)."""
    shown = "; ".join(f"{quote(p.name, 30)[1:-1]}: {p.reason}" for p in plans[:limit])
    if len(plans) <= limit:
        return shown
    counts = Counter(p.reason.split(":")[0] for p in plans)
    return shown + f"; and {len(plans) - limit:,} more (" + ", ".join(
        f"{quote(why, 40)[1:-1]}: {n:,}" for why, n in counts.most_common(5)) + \
        (", ..." if len(counts) > 5 else "") + ")"
