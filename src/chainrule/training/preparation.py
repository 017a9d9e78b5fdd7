"""One run's data, made ready: checked, split, weighed, and agreed on by every MPI rank.

:func:`prepare_run` is what each rank checks on its own (shapes, values, weights, the
validation split, the batch size); the trainer runs it under the communicator's
``agree``, so bad data on any rank stops every rank with that rank's message.
:func:`agree_on_run` is what the ranks then settle together: whether there is validation
data anywhere, the target statistics for ``standardize_target``, and the rows, batch size
and fingerprint a checkpoint records.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from ..data.splits import train_test_split
from ..errors import ConfigError, Option, OptionWarning
from .fingerprint import fingerprint
from .progress import warn_user
from .state import DataRecord, RunState
from .targets import TargetScaler, check_classes, stratify_labels, weights_for

if TYPE_CHECKING:
    from .trainer import Trainer

__all__ = ["RunData", "agree_on_run", "prepare_run"]

Array = np.ndarray


@dataclass
class RunData:
    """The prepared arrays of one ``fit``: training rows (``y`` as the loss sees it, ``y_raw``
    in the target's units), their weights, validation rows, and the batch size."""

    X: Array
    y: Array
    y_raw: Array
    w: Array | None
    Xv: Array | None
    yv: Array | None
    wv: Array | None
    batch_size: int


def _validation(t: Trainer, X: Array, y: Array, w: Array | None, validation_data: Any,
                validation_split: Any) -> tuple[Array, Array, Array | None, tuple[Any, ...]]:
    """Training rows left after a validation split, and the validation rows."""
    if validation_data is not None and validation_split:
        raise ConfigError("fit: give validation_data or validation_split, not both")
    if validation_data is not None:
        if not (isinstance(validation_data, (tuple, list)) and len(validation_data) in (2,
                                                                                     3)):
            raise ConfigError("fit: validation_data must be a pair (X_val, y_val) or a "
                              "triple (X_val, y_val, sample_weight_val)")
        Xv, yv = t.prepare_arrays(*validation_data[:2], "val_")
        wv = weights_for(validation_data[2], len(Xv), t.loss_fn, "val_") \
            if len(validation_data) == 3 else None
        return X, y, w, (Xv, yv, wv)
    if not validation_split:
        return X, y, w, (None, None, None)
    if isinstance(validation_split, bool) or not isinstance(
            validation_split, (int, float, np.floating)) or not 0 < validation_split < 1:
        raise ConfigError(f"fit: validation_split must be a number in (0, 1), got "
                          f"{validation_split!r}")
    ids = np.arange(len(X)).reshape(-1, 1)  # split row numbers, then take every array
    tr, va, _, _ = train_test_split(ids, y, validation_split,
                                    stratify=stratify_labels(y, t.loss_fn,
                                                             t.config.stratify),
                                    seed=t.state.split_rng)
    tr, va = tr[:, 0], va[:, 0]
    wv = None if w is None else w[va]
    return X[tr], y[tr], None if w is None else w[tr], (X[va], y[va], wv)


def prepare_run(t: Trainer, X: Any, y: Any, validation_data: Any, validation_split: Any,
                 sample_weight: Any) -> RunData:
    """Everything this rank checks on its own, before the ranks compare notes."""
    X, y = t.prepare_arrays(X, y, "")
    if not t.config.allow_single_class and t.is_classifier and t.comm.size == 1:
        check_classes(y)
    w = weights_for(sample_weight, len(X), t.loss_fn)
    X, y, w, (Xv, yv, wv) = _validation(t, X, y, w, validation_data, validation_split)
    n = len(X)
    bs = n if t.config.batch_size is None else t.config.batch_size
    if bs > n:  # the whole set in every step, as in Keras, but said out loud
        warn_user(batch_too_large(bs, n))
        bs = n
    return RunData(X, y, y, w, Xv, yv, wv, bs)


def batch_too_large(batch_size: int, rows: int) -> OptionWarning:
    """The warning for a batch larger than the training rows (which then become one batch).

    >>> str(batch_too_large(64, 10))  # doctest: +ELLIPSIS
    'batch_size 64 is larger than the 10 training examples; ... or a smaller batch_size'
    """
    return OptionWarning(
        f"{{batch_size}} {batch_size} is larger than the {rows} training examples; every "
        f"step uses all {rows} (full-batch gradient descent). Pass {{full}} to ask for that, "
        "or a smaller {batch_size}",
        batch_size=Option("batch_size"), full=Option("batch_size", None))


def agree_on_run(data: RunData, state: RunState, comm: Any, *, model: Any, loss_fn: Any,
                 standardize_target: bool) -> RunData:
    """What the ranks must share: validation or not, target statistics, and the rows, batch
    size and fingerprint of the data (refused when they differ from a resumed checkpoint's)."""
    if comm.any(data.Xv is not None) and data.Xv is None:
        data.Xv, data.yv = data.X[:0], data.y[:0]
    if standardize_target:
        layer = TargetScaler.check_model(model, loss_fn)
        data.y = state.scale_targets(data.y, layer, comm.sum)
    rows, batch = comm.sum(np.array([len(data.X), data.batch_size], dtype=float))
    # other sample weights or other validation rows are other data too
    rows_of = [[data.X, data.y_raw, *([] if data.w is None else [data.w])]]
    if data.Xv is not None:
        rows_of.append([data.Xv, data.yv, *([] if data.wv is None else [data.wv])])
    record = DataRecord(int(rows), int(batch),  # over every rank
                        sum(fingerprint(a, comm) for a in rows_of))
    comm.agree(lambda: state.record_data(record, len(data.X), data.batch_size),
               "resume the checkpoint's run")
    return data
