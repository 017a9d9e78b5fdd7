"""A saved model and its preprocessing, used: what ``chainrule predict``, ``evaluate``,
``info`` and ``gradcheck`` do, as library functions.

- :class:`Predictor` is a :class:`chainrule.pipeline.Pipeline` read from a model file (the
  model, its preprocessing and its output head as one object), with the file's metadata.
- :func:`evaluate`, :func:`describe` and :func:`check_gradients` score, describe and
  gradient-check a saved model; :func:`write_predictions` writes ``chainrule predict``'s file.

Training lives in :mod:`chainrule.workflow`; the printing in :mod:`chainrule.cli`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import numpy as np

from .data import load_dataset
from .data.columns import prepare_target
from .data.diagnosis import quote
from .data.splits import train_val_test_split
from .data.tabular import read_frame
from .errors import ConfigError, DataError, GradcheckError
from .io.atomic import atomic_write
from .nn import Module
from .onnx import export_onnx
from .pipeline import Pipeline, layout
from .pipeline.head import regression_scores
from .pipeline.predictions import FORMULA_START, spreadsheet_text, write_predictions
from .tools.gradcheck import gradcheck
from .tools.saving import architecture_of, build_from_architecture, load_with_metadata
from .training.registry import get_loss

__all__ = ["FORMULA_START", "ROWS", "GradcheckReport", "Predictor", "ScoredRows",
           "check_gradients", "describe", "evaluate", "labelled_rows", "regression_scores",
           "scored_rows", "spreadsheet_text", "write_predictions"]

ROWS = ("held-out", "test", "validation", "train", "all")
"""Which rows of a built-in data set :func:`scored_rows` picks: ``held-out`` (the test rows
the model's training set aside, else its validation rows), one split by name, or ``all``."""


class Predictor(Pipeline):
    """A model file's pipeline: raw rows in, outputs, classes or values out.

    Build it from a model file (``Predictor.load(path)``) or from a network and the metadata
    :func:`chainrule.workflow.train` saved with it (``meta["preprocessing"]``, read by
    :mod:`chainrule.pipeline.layout`).  Rows are a pandas DataFrame or CSV path (for models
    trained on a table: the columns it used, by name) or a float array (already-numeric
    features).
    """

    def __init__(self, model: Module, meta: dict[str, Any], path: str = "the model") -> None:
        steps, head, names = layout.read(meta.get("preprocessing"), model, path)
        super().__init__(steps, model, head, names, path)
        self.meta, self.path = meta, path

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Predictor:
        """The predictor of a model file written by :func:`chainrule.workflow.train` (or
        ``chainrule.save``)."""
        model, meta = load_with_metadata(path)
        return cls(model, meta, os.fspath(path))

    @property
    def results(self) -> dict[str, dict[str, float]]:
        """Each split's numbers as the training measured them (``train``, ``validation``,
        ``test``); empty for a file written without them."""
        return dict(self.meta.get("training", {}).get("results", {}))

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write this model file again at ``path`` (the same bytes: network, preprocessing and
        what the training recorded), atomically."""
        with open(self.path, "rb") as f:
            data = f.read()
        atomic_write(path, [data])

    def export_onnx(self, path: str | os.PathLike[str]) -> Any:
        """Write the whole pipeline (preprocessing and network) as an ONNX file; returns the
        ``onnx.ModelProto`` (needs ``pip install 'chainrule[onnx]'``)."""
        return export_onnx(self.path, path)

    # -- the names a predictor has always had ---------------------------------------------------
    @property
    def model(self) -> Module:
        """The network."""
        return self.network

    @property
    def preprocessing(self) -> dict[str, Any]:
        """The model file's ``preprocessing`` entry as read ({} when it has none)."""
        return self.meta.get("preprocessing") or {}

    @property
    def task(self) -> Any:
        """How the outputs read (a :class:`chainrule.training.tasks.Task`)."""
        return self.head.task

    @property
    def kind(self) -> str:
        """``classification`` or ``regression``."""
        return self.head.kind

    @property
    def class_names(self) -> list[str] | None:
        return self.head.class_names

    @property
    def target(self) -> str | None:
        """The target column's name."""
        return self.head.target

    @property
    def encoder(self) -> Any:
        """The fitted table encoder, the table step (None for a model trained on arrays)."""
        return self.table

    @property
    def scaler(self) -> Any:
        """The feature scaler (None when the features were not standardised)."""
        return self.step("scaler")

    @property
    def target_scaler(self) -> dict[str, Any] | None:
        """The regression target's standardisation as the model file stores it
        (``{"mean": [...], "scale": [...]}``), or None when the target was not standardised."""
        return self.preprocessing.get("target_scaler")

    @property
    def unknown_policy(self) -> str:
        """What encoding does with a category not seen in training: zeros or error."""
        table = self.table
        return table.unknown_policy if table is not None else "zeros"


def evaluate(model: str | os.PathLike[str] | Predictor, data: Any = None, *,
             dataset: str | None = None, target: str | None = None,
             delimiter: str | None = None, rows: str = "held-out") -> dict[str, float]:
    """Score a saved model on labelled rows: a CSV path or DataFrame (``target`` defaults to
    the column the model was trained for; every row is scored) or a named ``dataset`` (the
    rows its training held out, by default: see :func:`scored_rows`)."""
    pred = model if isinstance(model, Predictor) else Predictor.load(model)
    picked = scored_rows(pred, data, dataset=dataset, target=target, delimiter=delimiter,
                         rows=rows)
    return pred.score(picked.X, picked.y, encoded=True)


@dataclass
class ScoredRows:
    """Labelled rows picked for scoring: encoded features ``X``, targets ``y``, which rows
    they are (``rows``: a name of :data:`ROWS`) and a sentence saying so (``description``)."""

    X: np.ndarray
    y: np.ndarray
    rows: str
    description: str


def scored_rows(pred: Predictor, data: Any = None, *, dataset: str | None = None,
                target: str | None = None, delimiter: str | None = None,
                rows: str = "held-out") -> ScoredRows:
    """The labelled rows to score ``pred`` on, and which they are.

    A ``data`` table is scored whole (it is the caller's choice of rows).  A built-in
    ``dataset`` the model was trained on is split again as its training split it (the same
    fractions, seed and stratification, recorded in the model file), so ``rows="held-out"``
    scores the rows the training never fitted: the test rows, else the validation rows.
    Where that split cannot be repeated (another data set, a file without the record), every
    row is scored and the description says why."""
    if rows not in ROWS:
        raise ConfigError(f"unknown rows {quote(rows)}; choose one of {', '.join(ROWS)}")
    X, y = labelled_rows(pred, data, dataset=dataset, target=target, delimiter=delimiter)
    if dataset is None:
        if rows not in ("held-out", "all"):
            raise ConfigError(f"rows={rows!r} picks a split of a built-in data set (dataset=); "
                              "a data table is scored whole: pass the rows you want scored")
        return ScoredRows(X, y, "all", f"all {len(y)} rows of the table")
    if rows == "all":
        return ScoredRows(X, y, "all", f"all {len(y)} rows of {dataset}, the training rows "
                                       "included")
    split, why = _training_split(pred, dataset, y)
    if split is None:
        if rows != "held-out":
            raise ConfigError(f"cannot pick the {rows} rows of {dataset}: {why}")
        return ScoredRows(X, y, "all", f"all {len(y)} rows of {dataset} ({why})")
    if rows == "held-out":
        rows = "test" if len(split["test"]) else "validation" if len(split["validation"]) \
            else "all"
        if rows == "all":
            return ScoredRows(X, y, "all", f"all {len(y)} rows of {dataset} (its training "
                                           "held none out: every row was a training row)")
    picked = split[rows]
    if not len(picked):
        held = [k for k in ("validation", "test") if len(split[k])]
        raise ConfigError(f"the model's training held out no {rows} rows of {dataset}; "
                          f"choose {', '.join(held + ['train', 'all'])}")
    how = "the training rows" if rows == "train" else f"the {rows} rows held out in training"
    tr = pred.meta["training"]
    return ScoredRows(X[picked], y[picked], rows,
                      f"{how}: {len(picked)} of the {len(y)} rows of {dataset} "
                      f"(validation {tr['val_split']:g}, test {tr['test_split']:g}, "
                      f"seed {tr['seed']})")


def _training_split(pred: Predictor, dataset: str, y: np.ndarray
                    ) -> tuple[dict[str, np.ndarray] | None, str]:
    """The positions of the training, validation and test rows of ``dataset`` as the
    model's training split them, or None and the reason it cannot be repeated."""
    tr = pred.meta.get("training")
    if not isinstance(tr, dict) or not all(isinstance(tr.get(k), (int, float)) and
                                           not isinstance(tr.get(k), bool)
                                           for k in ("val_split", "test_split", "seed")):
        return None, "the model file does not record how its training split the rows"
    if str(tr.get("data", "")).lower().replace("-", "_") != dataset.lower().replace("-", "_"):
        return None, f"the model was trained on {quote(tr.get('data'), 60)}, not on {dataset}"
    if isinstance(tr.get("split"), list) and sum(
            v for v in tr["split"] if isinstance(v, int)) != len(y):
        return None, "the data set's size differs from the one the model was trained on"
    idx = np.arange(len(y))
    (a, _), (b, _), (c, _) = train_val_test_split(
        idx, y, float(tr["val_split"]), float(tr["test_split"]),
        stratify=y if pred.kind == "classification" else None, seed=int(tr["seed"]))
    return {"train": a, "validation": b, "test": c}, ""


def labelled_rows(pred: Predictor, data: Any = None, *, dataset: str | None = None,
                  target: str | None = None, delimiter: str | None = None
                  ) -> tuple[np.ndarray, np.ndarray]:
    """Encoded features and targets (class codes or floats) of labelled rows for ``pred``."""
    if dataset is not None:
        ds = load_dataset(dataset)
        if pred.class_names and ds.class_names and ds.class_names != pred.class_names:
            raise DataError(f"the data set's classes ({', '.join(ds.class_names)}) differ from "
                            f"the model's ({', '.join(map(quote, pred.class_names))}); "
                            "evaluate on the data the model was trained for")
        return pred.encode(ds.X), ds.y
    target = target or pred.target
    if not target:
        raise ConfigError("--data needs --target COL: the model does not name its target")
    frame = read_frame(data, delimiter=delimiter)
    t = prepare_target(frame, target, pred.kind, pred.class_names
                       if pred.kind == "classification" else None)
    return pred.encode(frame[t.keep]), t.y


def describe(path: str | os.PathLike[str]) -> dict[str, Any]:
    """What ``chainrule info`` shows: file, parameters, architecture, preprocessing, training
    (every string from the file made safe to print)."""
    pred = Predictor.load(path)
    meta, model = pred.meta, pred.model
    params = model.parameters()
    info: dict[str, Any] = {
        "file": os.fspath(path), "bytes": os.path.getsize(path),
        "format_version": _safe(meta.get("format_version")),
        "chainrule_version": _safe(meta.get("chainrule_version", "?")),
        "parameters": model.num_parameters(), "tensors": len(params),
        "dtype": str(params[0].data.dtype) if params else "-",
        "architecture": _safe(repr(model), 4000),
    }
    pre = pred.preprocessing
    if pre:
        info["task"] = pre.get("task")
        info["target"] = _safe(pre.get("target"))
        info["features"] = [_safe(f) for f in pre.get("feature_names") or []]
        info["classes"] = [_safe(c) for c in pre.get("class_names") or []]
        info["scaled"] = pred.scaler is not None
        # columns the scaler passes through (mean 0, scale 1: a table's 0/1 columns)
        info["unscaled_columns"] = 0 if pred.scaler is None or pred.scaler.mean_ is None \
            else int(np.sum((pred.scaler.mean_ == 0) & (pred.scaler.scale_ == 1)))
        info["target_scaled"] = pred.head.scaler is not None
        info["columns"] = [{k: _safe(v) for k, v in row.items()}
                           for row in pred.encoder.describe()] if pred.encoder else []
    tr = meta.get("training")
    if isinstance(tr, dict):
        keys = ("data", "optimizer", "lr", "loss", "epochs_run", "epochs", "batch_size",
                "seed", "seconds")
        info["training"] = {k: _safe(tr.get(k)) for k in keys}
        results = tr.get("results")
        info["results"] = {_safe(part): {_safe(k): v for k, v in m.items()
                                         if isinstance(v, (int, float))}
                           for part, m in results.items() if isinstance(m, dict)} \
            if isinstance(results, dict) else {}
    extra = sorted(set(meta) - {"format", "format_version", "chainrule_version",
                                "architecture", "preprocessing", "training"})
    info["other_metadata"] = [_safe(k) for k in extra]
    return info


def _safe(value: Any, limit: int = 200) -> Any:
    """A value read from a file, made safe to print (numbers stay numbers)."""
    if value is None or isinstance(value, (bool, int, float)):
        return value
    text = quote(value, limit)
    return text[1:-1] if text.endswith(("'", '"')) else text


@dataclass
class GradcheckReport:
    """The outcome of :func:`check_gradients`."""

    passed: bool
    parameters: int
    tensors: int
    rows: int
    mode: str
    message: str = ""


def check_gradients(path: str | os.PathLike[str], data: Any = None, *,
                    dataset: str | None = None, target: str | None = None, rows: int = 16,
                    full: bool = False) -> GradcheckReport:
    """Compare backpropagation with central finite differences on a float64 copy of a saved
    model, on its first ``rows`` labelled examples (random directions, or every entry with
    ``full=True``)."""
    pred = Predictor.load(path)
    X, y = labelled_rows(pred, data, dataset=dataset, target=target)
    X, y = X[:rows], y[:rows]
    X = pred.features(X)
    state = {k: v.astype(np.float64) for k, v in pred.model.state_dict().items()}
    model64 = build_from_architecture(architecture_of(pred.model), state)
    names = [n for n, _ in model64.named_parameters()]
    layers = dict(model64.named_modules())
    loss_fn = get_loss(pred.task.loss)
    target_arr = pred.head.transform(np.asarray(y))  # standardised, shaped for the loss
    if not pred.head.is_classifier:
        target_arr = np.asarray(target_arr, dtype=np.float64).reshape(-1, 1)

    def loss_of(*tensors: Any) -> Any:
        for name, t in zip(names, tensors):  # run the copy with the checker's tensors
            owner, _, attr = name.rpartition(".")
            object.__setattr__(layers[owner], attr, t)
        return loss_fn(model64(X.astype(np.float64)), target_arr)

    inputs = [p.data for p in model64.parameters()]
    n = sum(a.size for a in inputs)
    mode = "every entry" if full else "3 random directions"
    try:
        gradcheck(loss_of, inputs, fast=not full)
    except GradcheckError as err:
        return GradcheckReport(False, n, len(inputs), len(X), mode, str(err))
    return GradcheckReport(True, n, len(inputs), len(X), mode)

