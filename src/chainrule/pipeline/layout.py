"""The model file's ``preprocessing`` value: how a pipeline's steps and head are laid out in
it, and read back (checked: a model file is data from outside).

The layout is the one ``chainrule train`` has always written, so model files of any
chainrule load here and files written here load in earlier ones::

    {"task": "classification" | "regression", "target": column, "output": task name,
     "feature_names": [...], "class_names": [...] | null,
     "scaler": {...} | null, "columns": {...} | null, "target_scaler": {...} | null,
     "unknown": "zeros" | "error", "steps": ["columns", "scaler"]}

Each step is stored under its ``kind`` (:data:`chainrule.pipeline.steps.STEPS`) and
``steps`` lists them in the order they run (files without it ran ``columns`` then
``scaler``); the head is ``task``, ``output``, ``target``, ``class_names`` and its target
step ``target_scaler``.  ``unknown`` repeats the table step's policy for the chainrule
versions that read it there.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ..data.diagnosis import quote
from ..errors import ChainruleError, ModelFileError
from ..nn import Module
from ..training import tasks
from .head import Head
from .steps import STEPS, TargetStep, get

__all__ = ["FIELDS", "read", "write"]

FIELDS = ("task", "target", "output", "feature_names", "class_names", "scaler", "columns",
          "target_scaler", "unknown", "steps")
"""The fields of the ``preprocessing`` value, in the order they are written."""

_ORDER_BEFORE_STEPS = ("columns", "scaler")  # the order of files without a "steps" list


def write(steps: Sequence[Any], head: Head, feature_names: Sequence[str] | None
          ) -> dict[str, Any]:
    """The ``preprocessing`` value of a pipeline's ``steps`` and ``head``."""
    out: dict[str, Any] = dict.fromkeys(FIELDS)
    out.update(task=head.kind, target=head.target, output=head.task.name,
               feature_names=list(feature_names) if feature_names is not None else None,
               class_names=head.class_names if head.is_classifier else None,
               target_scaler=head.scaler.to_dict() if head.scaler is not None else None,
               unknown="zeros", steps=[s.kind for s in steps])
    for s in steps:
        out[s.kind] = s.to_dict()
        if s.reads_table:
            out["unknown"] = s.unknown_policy
    return out


def read(d: Any, network: Module, where: str = "the model"
         ) -> tuple[list[Any], Head, list[str] | None]:
    """The steps, head and feature names of a ``preprocessing`` value (None or {} for a
    model saved without preprocessing) for ``network``; ModelFileError when it is damaged
    or does not fit the network."""
    pre = {} if d is None else d
    _check(pre, where)
    try:
        order = pre.get("steps")
        steps = []
        for kind in (order if order is not None else _ORDER_BEFORE_STEPS):
            value = pre.get(kind)
            if not value:  # null, or {} as some writers leave an unused step
                continue
            if kind == "columns" and "unknown" not in value:
                value = {**value, "unknown": pre.get("unknown", "zeros")}
            steps.append(get(kind).from_dict(value))
        scaler = TargetStep.from_dict(pre["target_scaler"]) if pre.get("target_scaler") \
            else None
    except ChainruleError as err:
        raise _damaged(where, str(err)) from None
    kind = pre.get("task") or "regression"
    name = pre.get("output")
    task = tasks.get(name) if name in tasks.TASKS else tasks.infer(
        network, classification=kind == "classification")
    head = Head(task, pre.get("class_names"), pre.get("target"), scaler, kind=kind)
    _check_network(network, head, where)
    return steps, head, pre.get("feature_names")


def _damaged(where: str, what: str) -> ModelFileError:
    return ModelFileError(f"{where}: the preprocessing metadata is damaged: {what}")


def _check(pre: Any, where: str) -> None:
    """The shape of every field (the steps check their own values)."""
    if not isinstance(pre, dict):
        raise _damaged(where, f"expected an object, got {type(pre).__name__}")
    if pre.get("task") not in (None, "classification", "regression"):
        raise _damaged(where, f"unknown task {quote(pre.get('task'))}")
    for key in ("class_names", "feature_names"):
        v = pre.get(key)
        if v is not None and not (isinstance(v, list) and all(isinstance(x, str) for x in v)):
            raise _damaged(where, f"{key} must be a list of strings")
    names = pre.get("class_names")
    if names is not None and (len(names) < 2 or len(set(names)) != len(names)):
        raise _damaged(where, f"class_names must name two or more different classes, got "
                              f"{len(names)} name(s) with {len(set(names))} different")
    if pre.get("target") is not None and not isinstance(pre.get("target"), str):
        raise _damaged(where, "target must be a column name")
    order = pre.get("steps")
    if order is not None and not (isinstance(order, list) and all(
            k in STEPS and k != "target_scaler" for k in order) and len(set(order)) ==
            len(order)):
        raise _damaged(where, f"steps must list different steps among "
                              f"{', '.join(k for k in STEPS if k != 'target_scaler')}")
    for key in STEPS:
        if pre.get(key) is not None and not isinstance(pre.get(key), dict):
            raise _damaged(where, f"{key} must be an object")
    if pre.get("unknown", "zeros") not in ("zeros", "error"):
        raise _damaged(where, "unknown must be 'zeros' or 'error'")


def _check_network(network: Module, head: Head, where: str) -> None:
    """Weights that can predict, and as many outputs as the classes named."""
    if any(not np.all(np.isfinite(p.data)) for p in network.parameters()):
        raise ModelFileError(f"{where}: the model's weights hold NaN or infinity; it cannot "
                             "predict (retrain it)")
    width = tasks.output_width(network)
    n_names = None if head.class_names is None else len(head.class_names)
    # one output (a sigmoid) scores two classes; otherwise one output per class
    if n_names is not None and width is not None and n_names != (2 if width == 1 else width):
        raise ModelFileError(f"{where}: the model has {width} output(s) but its metadata "
                             f"names {n_names} classes")
