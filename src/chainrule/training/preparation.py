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

from ..data.preprocessing import train_test_split
from ..errors import ConfigError
from . import checkpoint as ckpt
from .progress import warn_user
from .targets import TargetScaler, check_classes, stratify_labels, weights_for
from .tasks import as_rows

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
    steps: int = 0  # per epoch over every rank; the loop sets it (loop.steps_per_epoch)



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
                                                             t.stratify),
                                    seed=t.split_rng)
    tr, va = tr[:, 0], va[:, 0]
    wv = None if w is None else w[va]
    return X[tr], y[tr], None if w is None else w[tr], (X[va], y[va], wv)

def prepare_run(t: Trainer, X: Any, y: Any, validation_data: Any, validation_split: Any,
                 sample_weight: Any) -> RunData:
    """Everything this rank checks on its own, before the ranks compare notes."""
    X, y = t.prepare_arrays(X, y, "")
    if not t.allow_single_class and t.is_classifier and t.comm.size == 1:
        check_classes(y)
    w = weights_for(sample_weight, len(X), t.loss_fn)
    X, y, w, (Xv, yv, wv) = _validation(t, X, y, w, validation_data, validation_split)
    n = len(X)
    bs = n if t.batch_size is None else t.batch_size
    if bs > n:  # the whole set in every step, as in Keras, but said out loud
        warn_user(f"batch_size {bs} is larger than the {n} training examples; every step "
              f"uses all {n} (full-batch gradient descent). Pass batch_size=None to ask "
              "for that, or a smaller batch_size")
        bs = n
    return RunData(X, y, y, w, Xv, yv, wv, bs)

def agree_on_run(t: Trainer, data: RunData) -> RunData:
    """What the ranks must share: validation or not, target statistics, step count."""
    comm = t.comm
    if comm.any(data.Xv is not None) and data.Xv is None:
        data.Xv, data.yv = data.X[:0], data.y[:0]
    if t.config.standardize_target:
        layer = TargetScaler.check_model(t.model, t.loss_fn)
        if t.target_scaler is None:
            t.target_scaler = TargetScaler.fit(data.y, comm.sum)
        elif t.target_folded:
            t.target_scaler.unfold(layer)
        t.target_folded = False
        data.y = t.target_scaler.transform(data.y)
    rows, batch = comm.sum(np.array([len(data.X), data.batch_size], dtype=float))
    # other sample weights or other validation rows are other data too
    rows_of = [np.hstack([as_rows(data.X), as_rows(data.y_raw),
                          *([] if data.w is None else [as_rows(data.w)])])]
    if data.Xv is not None:
        rows_of.append(np.hstack([as_rows(data.Xv), as_rows(data.yv),
                                  *([] if data.wv is None else [as_rows(data.wv)])]))
    t.data_info = {"rows": int(rows), "batch_size": int(batch),  # over every rank
                   "fingerprint": sum(ckpt.fingerprint(a, comm) for a in rows_of)}
    comm.agree(lambda: ckpt.check_resume(t, len(data.X), data.batch_size),
               "resume the checkpoint's run")
    t.resumed_data = None
    return data
