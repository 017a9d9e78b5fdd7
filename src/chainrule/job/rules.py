"""The job's rules that need the data: what a training job refuses once the table is read
(the task its target and loss make, the class weights, the features' range, the network's
size, a split an option needs), each raising the error that names what to change.

Each takes the few values it judges (not the data object), so the workflow calls it where the
values are known, on every rank alike.

>>> count_parameters(2, [4], 1)
17
>>> task_of("regression", None, "y", "auto", 3, [8]).name
'regression'
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any

import numpy as np

from ..data.cells import all_numbers
from ..data.diagnosis import quote
from ..data.target import MAX_CLASSES_FROM_NUMBERS
from ..errors import DataError, Option, OptionError, OptionWarning
from ..training import tasks
from ..training.registry import get_loss
from .options import check_class_weight

__all__ = [
    "MAX_PARAMETERS",
    "check_range",
    "check_shares",
    "check_target",
    "class_weights",
    "count_parameters",
    "needs_validation",
    "task_for_loss",
    "task_of",
]

MAX_PARAMETERS = 200_000_000  # 800 MB of float32: beyond it a typo, not a plan
MIN_ROWS_FOR_TARGET_CHECK = 20  # below this, "a class in most rows" says nothing


def _literal(text: str) -> str:
    """``text`` (which may quote the user's values) as part of a message template."""
    return text.replace("{", "{{").replace("}", "}}")


def check_shares(n_train: int, fewest: int, ranks: int) -> None:
    """DataError unless every one of ``ranks`` MPI ranks holds a training row (``fewest``:
    the training rows of the rank that holds fewest, of ``n_train`` in all)."""
    if fewest < 1:
        raise DataError(f"{n_train} training row(s) cannot be shared by {ranks} MPI ranks: "
                        "every rank needs at least one of its share of the rows; start fewer "
                        f"(mpiexec -n {max(1, min(n_train, ranks - 1))}) or use more data")


def task_of(kind: str, class_names: list[str] | None, target: str | None, loss: str,
            n_features: int, layers: Sequence[int]) -> Any:
    """The output and loss (a :class:`chainrule.training.tasks.Task`) for a target of
    ``kind`` with ``class_names`` trained with ``loss`` (``"auto"``: the task's own), refusing
    what cannot train: one class, a loss that does not fit the target, a network beyond
    :data:`MAX_PARAMETERS`."""
    if kind == "classification" and len(class_names or []) < 2:
        only = (class_names or ["?"])[0]
        raise DataError(f"the target {quote(target)} has only one class ({quote(only)}); "
                        "a classifier needs at least two")
    n_classes = len(class_names or [])
    task = tasks.for_target(kind, n_classes)
    if loss != "auto":
        task = task_for_loss(loss, kind, n_classes, task)
    n_params = count_parameters(n_features, layers, task.n_outputs(n_classes or None))
    if n_params > MAX_PARAMETERS:
        raise OptionError(f"{{layers}} gives {n_params:,} parameters, beyond the "
                          f"{MAX_PARAMETERS:,} this command builds; use smaller layers",
                          layers=Option("layers", list(layers)))
    return task


def check_target(kind: str, class_names: list[str] | None, target: str | None,
                 n_rows: int, asked: str) -> list[OptionWarning]:
    """Refuse a class target that cannot be learned, warn about one learned against the
    grain; the warnings are returned.  ``asked`` is the task the user chose (``auto``,
    ``classification`` or ``regression``), ``n_rows`` the rows with a target.

    - Distinct values in more than half the rows (1,047 classes in 1,300 rows): most classes
      would be met once, so nothing generalises; it is an ID or free-text column.  Refused
      (the same line the feature typing draws for text columns).
    - ``classification`` asked for a target of numbers with more distinct values than a
      class target of numbers gets by itself (111 prices): each value becomes a class and
      the nearness of 10.1 to 10.2 is lost.  Warned, suggesting regression.

    >>> check_target("classification", ["a", "b"], "y", 100, "auto")
    []
    >>> [str(w)[:45] for w in check_target("classification", [str(v / 10) for v in range(30)],
    ...                                      "y", 100, "classification")]
    ["the target 'y' holds 30 distinct numbers, not"]
    """
    names = class_names or []
    if kind != "classification" or not names:
        return []
    k = len(names)
    numbers = all_numbers(names)
    if n_rows >= MIN_ROWS_FOR_TARGET_CHECK and k > 0.5 * n_rows:
        if numbers:
            raise OptionError(
                _literal(f"the target {quote(target)} holds {k:,} distinct numbers in {n_rows:,} "
                         "rows; as classes most would be seen once and none could be learned; "
                         "predict the number with ") + "{task}",
                task=Option("task", "regression"))
        raise DataError(f"the target {quote(target)} has {k:,} distinct values in {n_rows:,} "
                        f"rows ({k / n_rows:.0%}); as classes most would be seen once and none "
                        "could be learned: it looks like an ID or free-text column, not a "
                        "label; choose another column as the target")
    if numbers and asked == "classification" and k > MAX_CLASSES_FROM_NUMBERS:
        whole = all(float(v) == round(float(v)) for v in names if v.lower() != "nan")
        what = "whole numbers" if whole else "not whole numbers"
        return [OptionWarning(
            _literal(f"the target {quote(target)} holds {k:,} distinct numbers, {what}, and "
                     f"classification makes each one a class ({n_rows / k:.1f} rows each) "
                     "that knows nothing of how near the others are; ")
            + "{task} predicts the number itself", task=Option("task", "regression"))]
    return []


def task_for_loss(loss: str, kind: str, n_classes: int, default: Any) -> Any:
    """The task ``loss`` makes of a target of ``kind`` with ``n_classes`` (``default``: the
    target's own task); ConfigError for a loss that does not fit the target."""
    get_loss(loss)  # an unknown name is refused with the list of valid ones
    if kind == "classification" and loss == "mse":
        raise OptionError("{loss} on a classification target: use {task} for numbers, or "
                          "leave {no_loss} out", loss=Option("loss", loss),
                          task=Option("task", "regression"), no_loss=Option("loss"))
    if kind == "regression" and loss != "mse":
        raise OptionError("{loss} needs class labels but the target is numeric "
                          "(regression); leave {no_loss} out or pass {task}",
                          loss=Option("loss", loss), no_loss=Option("loss"),
                          task=Option("task", "classification"))
    if loss == "cross_entropy" and n_classes == 2:
        return tasks.get("multiclass")  # two logits and softmax: allowed, same as bce
    if loss == "bce_with_logits" and n_classes == 2:
        return tasks.get("binary_logits")
    if loss in ("bce", "bce_with_logits") and n_classes > 2:
        raise OptionError(f"{{loss}} is for two classes but the target has {n_classes}; "
                          "leave {no_loss} out (cross_entropy)", loss=Option("loss", loss),
                          no_loss=Option("loss"))
    return default


def class_weights(class_weight: Any, counts: np.ndarray, names: list[str]) -> np.ndarray:
    """The weight of each class: 'balanced' is scikit-learn's n / (k * count), from the
    training rows' class ``counts``; label=weight pairs set some (the others weigh 1).

    >>> class_weights("balanced", np.array([3.0, 1.0]), ["a", "b"]).tolist()
    [0.6666666666666666, 2.0]
    """
    if class_weight == "balanced":
        return np.where(counts > 0, counts.sum() / (len(names) * np.maximum(counts, 1)), 0.0)
    per_class = np.ones(len(names))
    for label, w in dict(class_weight).items():
        if label not in names:
            known = _literal(f"the class {quote(label)}, which the target does not hold; "
                             f"the classes are {', '.join(names)}")
            raise OptionError("{class_weight} names " + known,
                              class_weight=Option("class_weight"))
        per_class[names.index(label)] = check_class_weight(label, w)
    if not (per_class * counts).sum() > 0:
        raise OptionError("{class_weight} gives every class of the training rows weight 0, "
                          "so nothing is left to learn from; give one a positive weight",
                          class_weight=Option("class_weight"))
    return per_class


def check_range(Z: np.ndarray, names: list[str], course_job: bool, scaled: bool) -> None:
    """DataError naming the feature columns whose (scaled) values the float32 network cannot
    hold: they would become infinity inside it and training would 'diverge'."""
    if course_job or not len(Z):  # the course's job trains in float64
        return
    limit = float(np.finfo(np.float32).max)
    over = np.flatnonzero(np.maximum(Z.max(axis=0), -Z.min(axis=0)) > limit)
    if len(over):
        shown = ", ".join(quote(names[j] if j < len(names) else f"column {j}")
                          for j in over[:5])
        more = " and more" if len(over) > 5 else ""
        what = (f"the feature column(s) {shown}{more} hold values beyond float32's range "
                f"(about {limit:.1e})")
        if scaled:
            raise DataError(f"{what} even after standardising with the training rows' mean "
                            "and std; rescale them (or their outliers)")
        # prose naming the flag: a DataError naming options as data needs a class in
        # chainrule.errors (asked for), and the CLI's hint follows the DataError kind
        raise DataError(f"{what}; standardise them (leave --standardize on) or rescale them")


def needs_validation(n_validation: int) -> None:
    """ConfigError unless early stopping has validation rows to watch."""
    if not n_validation:
        raise OptionError("{patience} needs a validation split ({val_split})",
                          patience=Option("patience"), val_split=Option("val_split", 0.2))


def count_parameters(n_in: int, hidden: Sequence[int], n_out: int) -> int:
    """The weights and biases of a fully connected network of these layer sizes."""
    sizes = [n_in, *hidden, n_out]
    return sum((a + 1) * b for a, b in itertools.pairwise(sizes))
