"""Statistics fitted on shares of the rows (one share per MPI rank), combined into those of
all the rows, so every rank ends with the same preprocessing as one process on all the rows.

- **means and variances**: each share's count, mean and sum of squared deviations (M2) are
  merged with Chan, Golub and LeVeque's pairwise formula,
  ``M2 = M2_a + M2_b + delta^2 n_a n_b / n`` with ``delta = mean_b - mean_a``: exact up to
  rounding, with no catastrophic cancellation (:func:`combine_moments`).
- **medians**: while the column has at most :data:`EXACT_MEDIAN_LIMIT` present values over
  all ranks, they are gathered and the median is exactly ``np.median`` of all of them.
  Beyond that, each rank sends :data:`MEDIAN_QUANTILES` evenly spaced quantiles of its share
  and the median is the weighted median of the pooled quantiles (each standing for
  ``n_rank / (MEDIAN_QUANTILES - 1)`` values): its position among all the values is within
  about ``n / (MEDIAN_QUANTILES - 1)`` of the middle (:func:`agreed_median`).
- **vocabularies** (category names): the union over ranks.

The ranks talk through a communicator (``chainrule.distributed.Communicator``: ``gather``
returns every rank's value in rank order); the default single-process one returns its input,
so the same code serves one process and many.  This module needs only NumPy.

>>> parts = [moments(np.array([[1.0], [2.0]])), moments(np.array([[4.0]]))]
>>> n, mean, m2 = combine_moments(parts)
>>> all_rows = np.array([1.0, 2.0, 4.0])
>>> n, bool(np.isclose(mean[0], all_rows.mean())), bool(np.isclose(m2[0] / n, all_rows.var()))
(3, True, True)
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any, Protocol

import numpy as np

from ..errors import DataError

__all__ = ["EXACT_MEDIAN_LIMIT", "GATHER_BYTES", "MEDIAN_QUANTILES", "Gatherer",
           "agreed_mean_std", "agreed_median", "agreed_medians", "combine_moments", "gatherer",
           "mean_std", "moments", "square_safe_unit", "union"]

EXACT_MEDIAN_LIMIT = 1_000_000
"""Up to this many present values of a column (over all ranks), the median is exact."""

MEDIAN_QUANTILES = 1001
"""Quantiles each rank sends for a column too large to gather."""

GATHER_BYTES = 4 << 20
"""About the most values (in bytes, over all ranks) one gather of exact medians moves."""

Moments = tuple[int, np.ndarray, np.ndarray]


class Gatherer(Protocol):
    """What the combining needs of a communicator."""

    def gather(self, value: Any) -> list[Any]:
        """Every rank's ``value``, in rank order."""
        ...


def _same(values: np.ndarray) -> np.ndarray:
    return values


class _Alone:
    def gather(self, value: Any) -> list[Any]:
        return [value]


def gatherer(comm: Gatherer | None) -> Gatherer:
    """``comm``, or for None one process alone (its gather returns ``[value]``)."""
    return _Alone() if comm is None else comm


def moments(X: np.ndarray) -> Moments:
    """Count, column means and column sums of squared deviations (M2) of ``X`` (rows x
    columns; zeros for no rows)."""
    X = np.asarray(X, dtype=np.float64)
    if X.ndim == 1:
        X = X[:, None]
    n = len(X)
    if n == 0:
        return 0, np.zeros(X.shape[1]), np.zeros(X.shape[1])
    mean = X.mean(axis=0)
    return n, mean, ((X - mean) ** 2).sum(axis=0)


def combine_moments(parts: Iterable[Moments]) -> Moments:
    """Merge per-share (count, mean, M2) into those of all the rows (Chan et al.)."""
    n, mean, m2 = 0, None, None
    for nb, mb, m2b in parts:
        if mean is None:
            n, mean, m2 = nb, np.asarray(mb, dtype=np.float64), np.asarray(m2b, dtype=np.float64)
            continue
        if nb == 0:
            continue
        total = n + nb
        delta = np.asarray(mb) - mean
        mean = mean + delta * (nb / total)
        m2 = m2 + np.asarray(m2b) + delta * delta * (n * nb / total)
        n = total
    if mean is None:
        raise DataError("combine_moments needs at least one part (one per rank)")
    return n, mean, m2


_HUGE = 2.0 ** 480  # squares below 2^960, summed over up to 2^64 rows, stay finite
_TINY = 2.0 ** -480  # squares above 2^-960 keep their precision
_SHIFT = 2.0 ** 600


def _flags(X: np.ndarray) -> np.ndarray:
    """Per column of ``X``: 1.0 where some |x| > 2^480, then 1.0 where some |x| >= 2^-480."""
    k = X.shape[1]
    # from the extremes, not np.abs(X): no temporary copy of a wide feature table
    largest = np.maximum(X.max(axis=0), -X.min(axis=0)) if len(X) else np.zeros(k)
    return np.concatenate([largest > _HUGE, largest >= _TINY]).astype(np.float64)


def _unit(flags: np.ndarray) -> np.ndarray:
    k = len(flags) // 2
    return np.where(flags[:k] > 0, 1.0 / _SHIFT, np.where(flags[k:] > 0, 1.0, _SHIFT))


def square_safe_unit(X: np.ndarray, total: Callable[[np.ndarray], np.ndarray] = _same
                     ) -> np.ndarray:
    """A power of two per column of ``X`` (N, k) to multiply the values by before their sums
    of squares, agreed over every rank (``total`` sums an array over the ranks): ``2^-600``
    where some rank holds a value beyond ``2^480`` (about 3e144: its square would overflow),
    ``2^600`` where every value of every rank is below ``2^-480`` (its square would underflow
    to zero), else 1, which keeps ordinary values' statistics bit for bit.  Multiplying by a
    power of two changes only the exponent, so it is exact.

    >>> square_safe_unit(np.array([[3e300], [1.0]])) * 2.0 ** 600
    array([1.])
    """
    return _unit(total(_flags(np.asarray(X, dtype=np.float64))))


def mean_std(X: np.ndarray, total: Callable[[np.ndarray], np.ndarray] = _same
             ) -> tuple[np.ndarray, np.ndarray, int]:
    """Column means and population standard deviations of the rows of every rank together,
    and their count, for values of any finite magnitude; ``total`` sums an array over the
    ranks (the default: one process alone).

    The one rule for a mean and standard deviation that survive huge and tiny values: a
    column whose squares would overflow or underflow is measured after multiplying by the
    power of two of :func:`square_safe_unit` (exact) and moved back; any other column is not
    touched, so one process gets exactly ``np.mean`` and ``np.std``.  Two sums over the ranks
    (a third only when some column needs the power of two).

    >>> mean, std, n = mean_std(np.array([[1e308, 1.0], [-1e308, 3.0]]))
    >>> mean.tolist(), std.tolist(), n
    ([0.0, 2.0], [1e+308, 1.0], 2)
    """
    X = np.asarray(X, dtype=np.float64)
    if X.ndim == 1:
        X = X[:, None]
    k = X.shape[1]
    with np.errstate(over="ignore", invalid="ignore"):  # a huge column's sum is redone below
        first = total(np.concatenate([[len(X)], _flags(X), X.sum(axis=0)]))
    n, unit, sums = int(first[0]), _unit(first[1:1 + 2 * k]), first[1 + 2 * k:]
    if np.any(unit != 1.0):  # every rank sees the same flags, so every rank sums again
        X = X * unit
        sums = total(X.sum(axis=0))
    mean = sums / max(n, 1)
    var = total(((X - mean) ** 2).sum(axis=0)) / max(n, 1)
    return mean / unit, np.sqrt(var) / unit, n


def agreed_mean_std(X: np.ndarray, comm: Gatherer | None = None) -> tuple[np.ndarray,
                                                                           np.ndarray, int]:
    """Column means and population standard deviations (as ``np.mean``/``np.std``) of the
    rows of every rank together, and their count: :func:`mean_std` with sums made of
    ``comm``'s gathers."""
    c = gatherer(comm)
    return mean_std(X, lambda a: np.sum(c.gather(a), axis=0))


def agreed_median(values: np.ndarray, comm: Gatherer | None = None, *,
                  exact_limit: int = EXACT_MEDIAN_LIMIT) -> float | None:
    """The median of the present (non-NaN) ``values`` of every rank together (None when
    there are none): exact up to ``exact_limit`` values, else from pooled quantiles (see the
    module docstring)."""
    v = np.asarray(values, dtype=np.float64).ravel()
    return agreed_medians(v[:, None], comm, exact_limit=exact_limit)[0]


def agreed_medians(X: np.ndarray, comm: Gatherer | None = None, *,
                   exact_limit: int = EXACT_MEDIAN_LIMIT) -> list[float | None]:
    """:func:`agreed_median` of each column of ``X`` (rows x columns, NaN where missing).

    The ranks gather their present values for several columns at once, at most about
    :data:`GATHER_BYTES` a time (a table of 20,000 columns takes one gather, not 20,000; a
    tall one keeps each rank from receiving every other rank's whole table at once)."""
    c = gatherer(comm)
    X = np.asarray(X, dtype=np.float64)
    present = ~np.isnan(X)
    counts = c.gather((len(X), present.sum(axis=0)))
    rows = sum(n for n, _ in counts)
    totals = np.sum([t for _, t in counts], axis=0)
    out: list[float | None] = [None] * X.shape[1]
    exact = [j for j in range(X.shape[1]) if 0 < totals[j] <= exact_limit]
    group = max(1, GATHER_BYTES // max(1, 8 * rows))  # columns per gather, on every rank
    for start in range(0, len(exact), group):
        chunk = exact[start:start + group]
        block = np.concatenate(c.gather(X[:, chunk]), axis=0)  # every rank's rows, in order
        # the median of the present values (NaN marks a missing cell; no column is all NaN)
        medians = np.nanmedian(block, axis=0) if np.isnan(block).any() else \
            np.median(block, axis=0)
        for j, m in zip(chunk, medians):
            out[j] = float(m)
    large = [j for j in range(X.shape[1]) if totals[j] > exact_limit]
    if large:
        grid = np.linspace(0.0, 1.0, MEDIAN_QUANTILES)
        mine = [(int(present[:, j].sum()), np.quantile(X[present[:, j], j], grid)
                 if present[:, j].any() else np.empty(0)) for j in large]
        shares = c.gather(mine)
        for i, j in enumerate(large):
            out[j] = _weighted_median([s[i][1] for s in shares], [s[i][0] for s in shares])
    return out


def _weighted_median(quantiles: Sequence[np.ndarray], counts: Sequence[int]) -> float:
    points = np.concatenate([q for q in quantiles if len(q)])
    weights = np.concatenate([np.full(len(q), n / len(q)) for q, n in zip(quantiles, counts)
                              if len(q)])
    order = np.argsort(points, kind="stable")
    points, weights = points[order], weights[order]
    cumulative = np.cumsum(weights)
    half = cumulative[-1] / 2
    i = int(np.searchsorted(cumulative, half))
    if np.isclose(cumulative[i], half) and i + 1 < len(points):
        return float((points[i] + points[i + 1]) / 2)
    return float(points[i])


def union(sets: Iterable[Iterable[str]]) -> set[str]:
    """The union of every rank's values."""
    out: set[str] = set()
    for s in sets:
        out.update(s)
    return out
