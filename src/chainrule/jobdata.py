"""A training job's data: read (a CSV file or DataFrame, or a named data set), split into
training, validation and test rows, and for a table typed and encoded by a
:class:`~chainrule.pipeline.TableStep` fitted on the training rows only.

Under MPI each rank holds its share of the rows; the typing, the split and the encoder's
statistics are agreed over all of them, so every rank ends with what one process makes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .data import load_dataset, train_val_test_split
from .data.columns import infer_columns, prepare_target, unknown_warning
from .data.diagnosis import quote
from .data.shards import shard_range
from .data.shares import read_share
from .distributed.communicator import Communicator
from .errors import Option, OptionError
from .job import TrainConfig
from .pipeline.steps import TableStep

__all__ = ["PreparedData", "read_dataset", "read_table"]


@dataclass
class PreparedData:
    """A training job's data, encoded: the rows this process holds (all of them in one
    process; under MPI this rank's share, in file order) as the feature matrix ``X`` and the
    target ``y`` (class codes or numbers), and ``split``: the positions in ``X`` of this
    rank's training, validation and test rows.  ``split_rows`` holds each split's positions
    among all ``n_rows`` rows kept (those with a target), the same on every rank; ``X[0]`` is
    row ``offset`` of them.  ``encoder`` is the fitted table step (a
    :class:`chainrule.pipeline.TableStep`; None for a named data set)."""

    X: np.ndarray
    y: np.ndarray
    task: str
    feature_names: list[str]
    class_names: list[str] | None
    name: str
    target: str | None
    split: tuple[np.ndarray, np.ndarray, np.ndarray]
    encoder: TableStep | None = None
    notes: list[str] = field(default_factory=list)
    split_rows: tuple[np.ndarray, np.ndarray, np.ndarray] = ()  # type: ignore[assignment]
    n_rows: int = 0
    offset: int = 0


def _split(y: np.ndarray, task: str, fractions: tuple[float, float], seed: int, comm: Any
           ) -> tuple[tuple[np.ndarray, ...], tuple[np.ndarray, ...], int, int]:
    """The split of all the ranks' rows (``y``: this rank's targets) into training,
    validation and test rows (``fractions``: validation and test) as one process on all of
    them makes it, and this rank's part of it: (split of all rows, this rank's positions of
    each split, rows in all, this rank's first row)."""
    shares = comm.gather(y)
    y_all = np.concatenate(shares) if len(shares) > 1 else shares[0]
    offset = sum(len(s) for s in shares[:comm.rank])
    idx = np.arange(len(y_all))
    (tr, _), (va, _), (te, _) = train_val_test_split(
        idx, y_all, *fractions, stratify=y_all if task == "classification" else None,
        seed=seed)
    mine = tuple(g[(g >= offset) & (g < offset + len(y))] - offset for g in (tr, va, te))
    return (tr, va, te), mine, len(y_all), offset


def read_table(cfg: TrainConfig, comm: Any = None) -> PreparedData:
    """What ``chainrule train --data`` does before training: read ``cfg.data``, type its
    columns, drop the rows without a target, split, fit the encoder on the training rows only
    and encode every row.  Under MPI (``comm``, a ``chainrule.distributed.Communicator``) each
    rank reads only its share of the file's records (:mod:`chainrule.data.shares`); the
    column typing, the target's classes, the split and the encoder's statistics are agreed
    over all the ranks' rows, so every rank ends with the preprocessing one process fits."""
    comm = Communicator() if comm is None else comm
    comm.agree(lambda: _needs_target(cfg.target), "check the options")
    frame = read_share(cfg.data, comm, delimiter=cfg.delimiter)
    target = comm.agree(lambda: prepare_target(frame, cfg.target, cfg.task, comm=comm),
                        "read the target column")
    notes = []
    dropped = int(comm.sum(np.array([float(target.dropped)]))[0])
    if dropped:
        notes.append(f"{dropped} row(s) with a missing target {quote(cfg.target)} were left "
                     "out")
        frame = frame[target.keep]
    plans = comm.agree(lambda: infer_columns(frame, cfg.target, features=cfg.features,
                                             drop=cfg.drop, categorical=cfg.categorical,
                                             comm=comm), "type the columns")
    split_rows, (tr, va, te), n_rows, offset = _split(
        target.y, target.task, (cfg.val_split, cfg.test_split), cfg.seed, comm)
    name = frame.attrs.get("chainrule_source", "the table")
    encoder = TableStep(plans, cfg.unknown).fit(frame.iloc[tr], comm=comm,
                                                target=target.y[tr],
                                                classes=target.class_names)
    # unseen categories of validation and test rows are noted, never refused; the training
    # rows get their out-of-fold target encodings (chainrule.data.codes)
    X = comm.agree(lambda: encoder.transform(frame, "zeros", fitted_rows=tr),
                   "encode the table")
    unseen: dict[str, list[str]] = {}
    for found in comm.gather(encoder.unknown):
        for column, values in found.items():
            unseen.setdefault(column, [])
            unseen[column] += [v for v in values if v not in unseen[column]]
    seen = unknown_warning(unseen, "validation or test rows hold categories absent from the "
                                   "training split, encoded", encoder.target_encoded)
    if seen:
        notes.append(seen)
    return PreparedData(X, target.y, target.task, encoder.feature_names, target.class_names,
                        name, cfg.target, (tr, va, te), encoder, notes, split_rows, n_rows,
                        offset)


def _needs_target(target: str | None) -> None:
    if not target:
        raise OptionError("{data} needs {target} COL, the name of the column to predict",
                          data=Option("data"), target=Option("target"))


def read_dataset(cfg: TrainConfig, comm: Any) -> PreparedData:
    """A named data set: every rank loads it and keeps its contiguous share of the rows."""
    ds = comm.agree(lambda: load_dataset(cfg.dataset or "flower"), "load the data set")
    task = ds.task if cfg.task == "auto" else cfg.task
    y = ds.y.astype(np.float64) if task == "regression" else ds.y
    rows = slice(*shard_range(len(y), comm.rank, comm.size))
    split_rows, mine, n_rows, offset = _split(y[rows], task, (cfg.val_split, cfg.test_split),
                                              cfg.seed, comm)
    return PreparedData(ds.X[rows], y[rows], task, list(ds.feature_names),
                        ds.class_names if task == "classification" else None,
                        cfg.dataset or "flower", ds.target, mine, None, [], split_rows,
                        n_rows, offset)
