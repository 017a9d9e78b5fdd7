"""From a table of mixed columns to a numeric feature matrix, and the target column.

:func:`infer_columns` (from :mod:`chainrule.data.kinds`, re-exported here) decides how each
column is used (numeric, boolean, categorical, date/time or dropped, with the reason);
:class:`TableEncoder` learns from the training rows only what it
needs (medians, category vocabularies) and turns any table with those columns into a float
matrix: numbers with the training median for missing cells plus a missing-indicator column,
categories one-hot (a missing cell is its own category; an unseen category is all zeros),
or for a column of more than :data:`~chainrule.data.codes.MANY` categories, given the
training targets, target encoded with cross-fitting (:mod:`chainrule.data.codes`),
dates as their numeric parts (year, month, day, weekday, and hour and minute where the column
holds a time of day).  Its :meth:`~TableEncoder.to_dict` is JSON, stored in the model
file, so prediction repeats exactly what training did.  The cells are read by
:mod:`chainrule.data.cells`; the target column by :mod:`chainrule.data.target`
(:func:`prepare_target` is re-exported here).

pandas is needed only for the tables themselves; nothing here imports it at module level.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from ..errors import ConfigError, DataError
from .cells import booleans, column_strings, datetimes, names_list, number_matrix, source
from .codes import MANY, fit_codes
from .combine import agreed_medians, gatherer, union
from .diagnosis import quote, record_number
from .fitted import DATE_PARTS, TIME_PARTS, FittedColumn
from .kinds import KINDS, ColumnPlan, infer_columns
from .labels import sorted_labels
from .target import TargetColumn, prepare_target

__all__ = ["KINDS", "UNKNOWN_POLICIES", "ColumnPlan", "TableEncoder", "TargetColumn",
           "infer_columns", "prepare_target", "unknown_warning"]

UNKNOWN_POLICIES = ("zeros", "error")
"""What :meth:`TableEncoder.transform` does with a category not seen in training."""
_GROUP_BYTES = 4 << 20  # transform reads about this much of the table's numbers at a time


# -- encoding ------------------------------------------------------------------------------------
class TableEncoder:
    """Turn table columns into float features, with statistics from the training rows only.

    >>> import pandas as pd
    >>> train = pd.DataFrame({"x": [1.0, None, 3.0], "c": ["a", "b", None]})
    >>> enc = TableEncoder(infer_columns(train)).fit(train)
    >>> enc.feature_names
    ['x', 'x (missing)', 'c=a', 'c=b', 'c (missing)']
    >>> enc.transform(pd.DataFrame({"x": [None], "c": ["zebra"]})).tolist()
    [[2.0, 1.0, 0.0, 0.0, 0.0]]
    >>> enc.unknown
    {'c': ['zebra']}

    ``unknown`` is the policy for categories not seen in training: ``"zeros"`` (all-zero
    rows, listed in :attr:`unknown` after each transform) or ``"error"``; it is stored as
    :attr:`unknown_policy` and saved with the encoder.

    >>> strict = TableEncoder(infer_columns(train), unknown="error").fit(train)
    >>> strict.transform(pd.DataFrame({"x": [1.0], "c": ["zebra"]}))  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    chainrule.errors.DataError: column 'c' holds the value 'zebra' not seen in training ...
    >>> TableEncoder.from_dict(strict.to_dict()).unknown_policy
    'error'
    """

    def __init__(self, plans: Sequence[ColumnPlan] = (), unknown: str = "zeros") -> None:
        if unknown not in UNKNOWN_POLICIES:
            raise ConfigError(f"unknown must be 'zeros' or 'error', got {quote(unknown)}")
        self.plans = list(plans)
        self.columns: list[FittedColumn] = []
        self.unknown_policy = unknown
        self.unknown: dict[str, list[str]] = {}

    def fit(self, frame: Any, comm: Any = None, *, target: Any = None,
            classes: Sequence[str] | None = None) -> TableEncoder:
        """Learn medians and vocabularies from ``frame`` (the training rows); returns self.

        ``target`` (the rows' targets: numbers, or class codes into ``classes`` for a
        classification) lets a categorical column of more than
        :data:`~chainrule.data.codes.MANY` categories be target encoded with cross-fitting
        (:mod:`chainrule.data.codes`); without it every categorical column is one-hot.
        :meth:`transform` with ``fitted_rows`` gives these rows their out-of-fold numbers.

        With ``comm`` (a ``chainrule.distributed.Communicator``), ``frame`` is this rank's
        share of the training rows and every rank ends with the same statistics, those of
        all the shares together: the vocabulary is the union over ranks, a missing indicator
        or category is kept where any rank has a missing cell, and medians follow
        :func:`chainrule.data.combine.agreed_median` (exact up to a million values).  A cell
        that cannot be read on any rank stops every rank, before any statistic is combined.
        """
        def agreed(fn: Any, what: str) -> Any:  # a bad cell on any rank stops every rank
            return fn() if comm is None else comm.agree(fn, what)

        c = gatherer(comm)
        # The number columns are read a group at a time (about _GROUP_BYTES of the rows of
        # every rank; the same groups on every rank) and each group's statistics take one
        # gather per kind, not one per column.
        rows = sum(c.gather(len(frame)))
        used = [p for p in self.plans if p.kind in ("numeric", "boolean", "datetime")]
        every = DATE_PARTS + TIME_PARTS  # read them all; keep the time where one is given
        group = max(1, _GROUP_BYTES // max(1, 8 * len(every) * rows))
        stats: dict[str, tuple[bool, list[float], bool]] = {}
        for start in range(0, len(used), group):
            chunk = used[start:start + group]
            parts, where = agreed(lambda: self._parts(frame, chunk, lambda _: every),  # noqa: B023
                                  "encode its share of the training rows")
            missing = np.any(c.gather(np.isnan(parts).any(axis=0)), axis=0)
            nonzero = np.any(c.gather((np.nan_to_num(parts) != 0).any(axis=0)), axis=0)
            medians = agreed_medians(parts, comm)
            for p in chunk:
                cols = range(*where[p.name])
                timed = p.kind == "datetime" and bool(nonzero[cols[len(DATE_PARTS)]:
                                                              cols[-1] + 1].any())
                kept = cols if timed or p.kind != "datetime" else cols[:len(DATE_PARTS)]
                stats[p.name] = (bool(missing[cols].any()),
                                 [0.0 if medians[j] is None else medians[j] for j in kept],
                                 timed)
            del parts
        shares = c.gather(agreed(lambda: self._categories(frame),
                                 "encode its share of the training rows"))
        self.columns = []
        k = 0
        for p in self.plans:
            f = FittedColumn(p.name, p.kind, p.reason)
            if p.name in stats:
                f.missing_indicator, f.median, f.time_of_day = stats[p.name]
                if f.time_of_day:
                    f.reason = "date-times: year, month, day, weekday, hour, minute"
            elif p.kind == "categorical":
                f.missing_category = any(share[k][1] for share in shares)
                f.categories = sorted_labels(union(share[k][0] for share in shares))
                k += 1
            self.columns.append(f)
        many = [f for f in self.columns if f.kind == "categorical" and
                len(f.categories) > MANY] if target is not None else []
        if many:
            texts = agreed(lambda: [column_strings(frame, f.name) for f in many],
                           "read its share of the training rows")
            fitted = fit_codes(texts, np.asarray(target), classes, comm,
                               getattr(comm, "rank", 0))
            for f, codes in zip(many, fitted):
                f.codes = codes
                f.categories = codes.categories
                f.missing_category = False
        return self

    def _categories(self, frame: Any) -> list[tuple[list[str], bool]]:
        """Each categorical column's present categories in this share of the rows, and
        whether a cell is missing."""
        out = []
        for p in self.plans:
            if p.kind == "categorical":
                text = column_strings(frame, p.name)
                out.append((sorted({t for t in text if t is not None}),
                            any(t is None for t in text)))
        return out

    @staticmethod
    def _parts(frame: Any, plans: Sequence[Any],
               date_parts: Callable[[Any], tuple[str, ...]] = lambda f: f.parts
               ) -> tuple[np.ndarray, dict[str, tuple[int, int]]]:
        """The numeric parts of the number, true/false and date columns of ``plans`` as one
        matrix (NaN where missing), and the columns [start, stop) of each column's parts
        (``date_parts(plan)``: a date column's parts, by default its fitted ones).
        Number columns are read in blocks (:func:`~chainrule.data.cells.number_matrix`): one
        pandas column access costs tens of microseconds, 20,000 of them about a second."""
        used = [p for p in plans if p.kind in ("numeric", "boolean", "datetime")]
        where, at = {}, 0
        for p in used:
            width = len(date_parts(p)) if p.kind == "datetime" else 1
            where[p.name] = (at, at + width)
            at += width
        out = np.empty((len(frame), at), dtype=np.float64)
        numeric = [p.name for p in used if p.kind == "numeric"]
        group = max(1, _GROUP_BYTES // max(1, 8 * len(frame)))  # no second copy of them all
        for start in range(0, len(numeric), group):
            chunk = numeric[start:start + group]
            out[:, [where[n][0] for n in chunk]] = number_matrix(frame, chunk)
        for p in used:
            start, stop = where[p.name]
            if p.kind == "boolean":
                out[:, start] = booleans(frame, p.name)
            elif p.kind == "datetime":
                d = datetimes(frame, p.name)
                values = {"year": d.year, "month": d.month, "day": d.day,
                          "weekday": d.day_of_week, "hour": d.hour, "minute": d.minute}
                out[:, start:stop] = np.column_stack([values[k] for k in date_parts(p)])
                out[np.asarray(d.isna()), start:stop] = np.nan
        return out, where

    @property
    def feature_names(self) -> list[str]:
        """The names of the output columns, in order."""
        out: list[str] = []
        for f in self.columns:
            if f.kind in ("numeric", "boolean"):
                out.append(f.name)
            elif f.kind == "datetime":
                out += [f"{f.name}.{part}" for part in f.parts]
            elif f.kind == "categorical" and f.codes is not None:
                out += [f"{f.name}.{o}" for o in f.codes.outputs]
                continue
            elif f.kind == "categorical":
                out += [f"{f.name}={c}" for c in f.categories]
                if f.missing_category:
                    out.append(f"{f.name} (missing)")
                continue
            if f.kind != "dropped" and f.missing_indicator:
                out.append(f"{f.name} (missing)")
        return out

    @property
    def target_encoded(self) -> list[str]:
        """The columns target encoded (:mod:`chainrule.data.codes`) rather than one-hot."""
        return [f.name for f in self.columns if f.codes is not None]

    @property
    def input_columns(self) -> list[str]:
        """The table columns the encoder reads (dropped ones excluded)."""
        return [f.name for f in self.columns if f.kind != "dropped"]

    def transform(self, frame: Any, unknown: str | None = None, *,
                  fitted_rows: Any = None) -> np.ndarray:
        """The float64 feature matrix of ``frame``.  Unseen categories become all-zero rows
        and are listed in :attr:`unknown`; ``unknown="error"`` refuses them instead (default:
        the encoder's :attr:`unknown_policy`).  In a target-encoded column an unseen value
        reads the level of the rare categories (listed, or refused, alike).  ``fitted_rows``: the
        positions in ``frame`` of the rows :meth:`fit` was given, in that order, which get
        their out-of-fold target encodings (the rows of one :meth:`fit`, in the same
        process)."""
        if not self.columns:
            raise DataError("TableEncoder is not fitted yet; call fit(training_table) first")
        if unknown is None:
            unknown = self.unknown_policy
        if unknown not in UNKNOWN_POLICIES:
            raise DataError(f"unknown must be 'zeros' or 'error', got {quote(unknown)}")
        absent = [c for c in self.input_columns if c not in frame.columns]
        if absent:
            raise DataError(f"{source(frame)}missing column(s) {names_list(absent)}: the model "
                            "was trained with them; the columns are "
                            f"{names_list(list(frame.columns))}")
        self.unknown = {}
        # Each column is written into its place in X (no list of blocks to stack: that held
        # a second copy of the whole matrix).
        X = np.empty((len(frame), len(self.feature_names)), dtype=np.float64)
        used = [f for f in self.columns if f.kind != "dropped"]
        group = max(1, _GROUP_BYTES // max(1, 8 * len(frame)))  # columns read at a time
        k = 0
        for start in range(0, len(used), group):
            chunk = used[start:start + group]
            parts, where = self._parts(frame, chunk)
            for f in chunk:
                if f.codes is not None:
                    block = self._coded(frame, f, fitted_rows, unknown)
                    X[:, k:k + block.shape[1]] = block
                    k += block.shape[1]
                    continue
                if f.kind == "categorical":
                    block = self._one_hot(frame, f, unknown)
                    X[:, k:k + block.shape[1]] = block
                    k += block.shape[1]
                    continue
                mine = parts[:, slice(*where[f.name])]
                missing = np.isnan(mine)
                width = mine.shape[1]
                np.copyto(X[:, k:k + width], np.where(missing, np.asarray(f.median), mine)
                          if missing.any() else mine)
                k += width
                if f.missing_indicator:
                    X[:, k] = missing.any(axis=1)
                    k += 1
        if not np.all(np.isfinite(X)):
            r, c = np.argwhere(~np.isfinite(X))[0]
            raise DataError(f"{source(frame)}an infinite value at row "
                            f"{record_number(frame, int(r))}, feature "
                            f"{quote(self.feature_names[c])}; features must be finite")
        return X

    def _coded(self, frame: Any, f: FittedColumn, fitted_rows: Any,
               unknown: str) -> np.ndarray:
        """A target-encoded column's numbers (the fitted rows' own out of fold).  A value not
        seen in training reads the rare level, and is listed in :attr:`unknown`, or refused
        with ``unknown="error"`` (a model file written before the encoding kept its rare
        categories' names cannot tell them from unseen ones, and takes any value)."""
        assert f.codes is not None
        levels, unseen = f.codes.levels(column_strings(frame, f.name))
        out = f.codes.table[levels]
        if fitted_rows is not None:
            rows = np.asarray(fitted_rows)
            if f.codes.oof is None or len(f.codes.oof) != len(rows):
                raise DataError(f"column {quote(f.name)}: fitted_rows must be the rows the "
                                "encoder was fitted on, in the same process")
            out[rows] = f.codes.oof
        if unseen and f.codes.rare is not None:
            if unknown == "error":
                row = next(iter(unseen.values()))
                raise DataError(f"{source(frame)}column {quote(f.name)} holds "
                                f"{_values(unseen)} not seen in training (first at row "
                                f"{record_number(frame, row)}); the known categories are "
                                f"{names_list(f.codes.categories + f.codes.rare)}")
            self.unknown[f.name] = list(unseen)
        return out

    def _one_hot(self, frame: Any, f: FittedColumn, unknown: str) -> np.ndarray:
        text = column_strings(frame, f.name)
        index = {c: i for i, c in enumerate(f.categories)}
        width = len(f.categories) + int(f.missing_category)
        out = np.zeros((len(text), width))
        unseen: dict[str, int] = {}
        for r, t in enumerate(text):
            if t is None:
                if f.missing_category:
                    out[r, -1] = 1.0
            elif t in index:
                out[r, index[t]] = 1.0
            else:
                unseen.setdefault(t, r)
        if unseen:
            if unknown == "error":
                row = next(iter(unseen.values()))
                raise DataError(f"{source(frame)}column {quote(f.name)} holds "
                                f"{_values(unseen)} not seen in training (first at row "
                                f"{record_number(frame, row)}); the known categories are "
                                f"{names_list(f.categories)}")
            self.unknown[f.name] = list(unseen)
        return out

    def describe(self) -> list[dict[str, Any]]:
        """One row per input column: name, kind, reason and what it became."""
        rows = []
        for f in self.columns:
            if f.kind == "dropped":
                became = "dropped"
            elif f.codes is not None:
                c = f.codes
                became = (f"target encoding ({', '.join(c.outputs)}; out of fold on training "
                          f"rows), {len(c.categories)} categories"
                          + (f" + {c.pooled} rare pooled" if c.pooled else "")
                          + " + missing")
            elif f.kind == "categorical":
                became = f"one-hot, {len(f.categories)} categories" + (
                    " + missing" if f.missing_category else "")
            elif f.kind == "datetime":
                became = f"{len(f.parts)} numbers ({', '.join(f.parts)})"
            else:
                became = "1 number"
            if f.kind in ("numeric", "boolean", "datetime") and f.missing_indicator:
                became += " + missing indicator (median fill)"
            rows.append({"column": f.name, "kind": f.kind, "used_as": became,
                         "reason": f.reason})
        return rows

    def to_dict(self) -> dict[str, Any]:
        """The fitted encoder and its policy for unseen categories as JSON-ready data."""
        return {"columns": [f.to_dict() for f in self.columns], "unknown": self.unknown_policy}

    @classmethod
    def from_dict(cls, d: Any) -> TableEncoder:
        """Rebuild a fitted encoder from :meth:`to_dict`, checking every field (it comes from
        a file; one written without a policy for unseen categories gets ``"zeros"``)."""
        if not isinstance(d, dict) or not isinstance(d.get("columns"), list):
            raise DataError("invalid table encoder: expected an object with a 'columns' list")
        policy = d.get("unknown", "zeros")
        if policy not in UNKNOWN_POLICIES:
            raise DataError("invalid table encoder: unknown must be 'zeros' or 'error'")
        columns = []
        for i, c in enumerate(d["columns"]):
            columns.append(FittedColumn.from_dict(c, f"invalid table encoder: column {i}"))
        enc = cls([ColumnPlan(f.name, f.kind, f.reason) for f in columns], policy)
        enc.columns = columns
        return enc


def _values(values: Any, limit: int = 5) -> str:
    vals = list(values)
    shown = ", ".join(quote(v, 30) for v in vals[:limit])
    return ("the value " if len(vals) == 1 else "the values ") + shown + (
        f" (and {len(vals) - limit} more)" if len(vals) > limit else "")


def unknown_warning(unknown: dict[str, list[str]],
                    lead: str = "categories not seen in training were encoded",
                    pooled: Sequence[str] = ()) -> str:
    """One line about the unseen categories an encoder met (empty when there were none);
    ``lead`` says where they were met; ``pooled``: the target-encoded columns (see
    :attr:`TableEncoder.target_encoded`), whose unseen values read the rare categories' level.

    >>> unknown_warning({"city": ["Oslo"]}, "test rows hold new categories, encoded")
    "test rows hold new categories, encoded as all zeros: column 'city': 'Oslo'"
    >>> unknown_warning({"city": ["Oslo"], "zip": ["0150"]}, pooled=["zip"])
    "categories not seen in training were encoded as all zeros: column 'city': 'Oslo'; as the \
column's rare categories: column 'zip': '0150'"
    """
    if not unknown:
        return ""
    groups: dict[str, list[str]] = {}
    for col, vals in unknown.items():
        shown = ", ".join(quote(v, 30) for v in vals[:5])
        more = f" (and {len(vals) - 5} more)" if len(vals) > 5 else ""
        how = "as the column's rare categories" if col in pooled else "as all zeros"
        groups.setdefault(how, []).append(f"column {quote(col)}: {shown}{more}")
    return f"{lead} " + "; ".join(f"{how}: " + "; ".join(parts)
                                  for how, parts in sorted(groups.items()))
