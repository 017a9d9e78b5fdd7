"""A saved model and its preprocessing, used: what ``chainrule predict``, ``evaluate``,
``info`` and ``gradcheck`` do, as library functions.

- :class:`Predictor` is a model plus its preprocessing: table (or array) rows in, classes,
  probabilities or values out, from the library's stable sigmoid and softmax.
- :func:`evaluate`, :func:`describe` and :func:`check_gradients` score, describe and
  gradient-check a saved model.

Training lives in :mod:`chainrule.workflow`; the printing in :mod:`chainrule.cli`.
"""

from __future__ import annotations

import itertools
import math
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, TextIO

import numpy as np

from .data.tabular import quote
from .errors import ConfigError, DataError, ModelFileError
from .io.text import escape_controls

__all__ = ["FORMULA_START", "GradcheckReport", "Predictor", "check_gradients", "describe",
           "evaluate", "fit_target", "labelled_rows", "regression_scores", "spreadsheet_text",
           "write_predictions"]


def fit_target(y: np.ndarray, task: Any) -> np.ndarray:
    """Targets as the loss of ``task`` takes them (a column of floats for one sigmoid
    output, class codes otherwise)."""
    if task.name in ("binary", "binary_logits"):
        return y.reshape(-1, 1).astype(np.float64)
    return y



def regression_scores(y_true: Any, y_pred: Any) -> dict[str, float]:
    """``mse``, ``rmse``, ``mae``, ``r2`` and ``n`` of
    :func:`chainrule.training.metrics.regression_metrics`, right at any finite magnitude:
    values whose squares would overflow (targets near 1e300) or vanish (near 1e-300) are
    scored after multiplying by a power of two, which is exact, so RMSE, MAE and R^2 keep
    their digits; MSE, RMSE squared, is then the nearest float64 (inf or 0 where it lies
    beyond float64's range).

    >>> s = regression_scores([1e300, 3e300], [2e300, 3e300])
    >>> s["rmse"] / 1e300, s["r2"], s["mse"]
    (0.7071067811865476, 0.5, inf)
    """
    from .training.metrics import regression_metrics
    from .training.targets import square_safe_unit

    y = np.asarray(y_true, dtype=np.float64)
    p = np.asarray(y_pred, dtype=np.float64)
    both = np.concatenate([y.ravel(), p.ravel()])
    unit = float(square_safe_unit(both[np.isfinite(both)].reshape(-1, 1))[0])
    if unit == 1.0:
        return regression_metrics(y, p)
    with np.errstate(all="ignore"):
        m = regression_metrics(y * unit, p * unit)
        rmse = np.float64(m["rmse"]) / unit
        return {**m, "mse": float(rmse * rmse), "rmse": float(rmse),
                "mae": float(np.float64(m["mae"]) / unit)}


def _check_preprocessing(pre: Any, path: str) -> None:
    """The preprocessing metadata of a model file is data from outside: check its shape."""

    def bad(what: str) -> ModelFileError:
        return ModelFileError(f"{path}: the preprocessing metadata is damaged: {what}")

    if not isinstance(pre, dict):
        raise bad(f"expected an object, got {type(pre).__name__}")
    if pre.get("task") not in (None, "classification", "regression"):
        raise bad(f"unknown task {quote(pre.get('task'))}")
    for key in ("class_names", "feature_names"):
        v = pre.get(key)
        if v is not None and not (isinstance(v, list) and all(isinstance(x, str) for x in v)):
            raise bad(f"{key} must be a list of strings")
    names = pre.get("class_names")
    if names is not None and (len(names) < 2 or len(set(names)) != len(names)):
        raise bad(f"class_names must name two or more different classes, got {len(names)} "
                  f"name(s) with {len(set(names))} different")
    if pre.get("target") is not None and not isinstance(pre.get("target"), str):
        raise bad("target must be a column name")
    for key in ("scaler", "columns", "target_scaler"):
        if pre.get(key) is not None and not isinstance(pre.get(key), dict):
            raise bad(f"{key} must be an object")
    ts = pre.get("target_scaler")
    if ts is not None and (not all(
            isinstance(ts.get(k), (int, float)) and not isinstance(ts.get(k), bool)
            and math.isfinite(ts[k]) for k in ("mean", "scale")) or ts["scale"] <= 0):
        raise bad("target_scaler needs a finite mean and a positive finite scale")
    if pre.get("unknown", "zeros") not in ("zeros", "error"):
        raise bad("unknown must be 'zeros' or 'error'")


class Predictor:
    """A model with its preprocessing: raw rows in, outputs, classes or values out.

    Build it from a model file (``Predictor.load(path)``) or from a model and the metadata
    :func:`train` saved with it.  Rows are a pandas DataFrame or CSV path (for models trained
    on a table: the columns it used, by name) or a float array (already-numeric features).
    """

    def __init__(self, model: Any, meta: dict[str, Any], path: str = "the model") -> None:
        from .data import StandardScaler
        from .data.columns import TableEncoder
        from .training import tasks

        self.model, self.meta, self.path = model, meta, path
        model.eval()
        pre = meta.get("preprocessing") or {}
        _check_preprocessing(pre, path)
        self.preprocessing = pre
        self.kind = pre.get("task") or "regression"
        self.class_names = pre.get("class_names")
        self.feature_names = pre.get("feature_names")
        self.target = pre.get("target")
        self.unknown_policy = pre.get("unknown", "zeros")
        try:
            self.scaler = StandardScaler.from_dict(pre["scaler"]) if pre.get("scaler") else None
            self.encoder = TableEncoder.from_dict(pre["columns"]) if pre.get("columns") \
                else None
        except DataError as err:
            raise ModelFileError(f"{path}: the preprocessing metadata is damaged: {err}"
                                 ) from None
        self.target_scaler = pre.get("target_scaler")
        name = pre.get("output")
        self.task = tasks.get(name) if name in tasks.TASKS else tasks.infer(
            model, classification=self.kind == "classification")
        params = model.parameters()
        if any(not np.all(np.isfinite(p.data)) for p in params):
            raise ModelFileError(f"{path}: the model's weights hold NaN or infinity; it cannot "
                                 "predict (retrain it)")
        width = tasks.output_width(model)
        n_names = None if self.class_names is None else len(self.class_names)
        # one output (a sigmoid) scores two classes; otherwise one output per class
        if n_names is not None and width is not None and n_names != (2 if width == 1 else width):
            raise ModelFileError(f"{path}: the model has {width} output(s) but its metadata "
                                 f"names {n_names} classes")
        self.unknown: dict[str, list[str]] = {}

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Predictor:
        """The predictor of a model file written by :func:`train` (or ``chainrule.save``)."""
        from .tools.saving import load_with_metadata

        model, meta = load_with_metadata(path)
        return cls(model, meta, os.fspath(path))

    @property
    def n_inputs(self) -> int:
        """Features the network takes."""
        return int(self.model.parameters()[0].data.shape[1])

    def encode(self, rows: Any, unknown: str | None = None) -> np.ndarray:
        """The numeric features of ``rows`` (before scaling)."""
        from .data import check_features

        if self.encoder is not None:
            from .data.tabular import read_frame

            frame = read_frame(rows) if not isinstance(rows, np.ndarray) else None
            if frame is None:
                raise DataError("this model was trained on a table; pass a DataFrame or a "
                                "CSV file with the columns "
                                f"{', '.join(self.encoder.input_columns)}")
            X = self.encoder.transform(frame, unknown or self.unknown_policy)
            self.unknown = dict(self.encoder.unknown)
            return X
        if isinstance(rows, (str, os.PathLike)) or (
                not isinstance(rows, np.ndarray) and hasattr(rows, "columns")):
            from .data import load_csv

            rows = load_csv(rows, None, features=self.feature_names).X
        return check_features(rows)

    def outputs(self, rows: Any, *, encoded: bool = False) -> np.ndarray:
        """The network's raw outputs (float64) for ``rows``."""
        from .engine import Tensor, no_grad

        X = np.asarray(rows, dtype=np.float64) if encoded else self.encode(rows)
        if X.ndim != 2 or X.shape[1] != self.n_inputs:
            raise DataError(f"the data has {X.shape[1] if X.ndim == 2 else '?'} feature "
                            f"columns but the model takes {self.n_inputs}; use the same "
                            "feature columns as in training")
        if self.scaler is not None:
            X = self.scaler.transform(X)
        Z = X.astype(self.model.parameters()[0].data.dtype)
        out = np.empty((len(Z), 0))
        chunks = []
        with no_grad(), np.errstate(all="ignore"):
            for start in range(0, len(Z), 8192):
                chunks.append(np.asarray(self.model(Tensor(Z[start:start + 8192])).data,
                                         dtype=np.float64))
        out = np.vstack(chunks) if chunks else out
        return out.reshape(len(out), -1)

    def classes_of(self, out: np.ndarray) -> np.ndarray:
        """Class codes from raw outputs."""
        return self.task.classes(out)

    def predict_proba(self, rows: Any, *, encoded: bool = False) -> np.ndarray:
        """Class probabilities, one column per class in ``class_names`` order."""
        if not self.task.is_classifier:
            raise ConfigError("a regression model has no class probabilities")
        return self.task.probabilities(self.outputs(rows, encoded=encoded))

    def predict(self, rows: Any, *, encoded: bool = False) -> np.ndarray:
        """Class labels (strings, for classifiers) or values in the target's units."""
        out = self.outputs(rows, encoded=encoded)
        if self.task.is_classifier:
            codes = self.task.classes(out)
            names = self.class_names or [str(i) for i in range(max(2, out.shape[1]))]
            return np.array([names[int(c)] for c in codes], dtype=object)
        return self._values(out)

    def _values(self, out: np.ndarray) -> np.ndarray:
        """A regression's outputs in the target's units."""
        values = out[:, 0] if out.shape[1] == 1 else out
        if self.target_scaler:
            values = values * self.target_scaler["scale"] + self.target_scaler["mean"]
        return values

    def score(self, rows: Any, y: np.ndarray, *, encoded: bool = False) -> dict[str, float]:
        """``accuracy``, ``log_loss`` (classification) or ``mse``, ``rmse``, ``mae``, ``r2``
        (regression, in the target's units), and ``n``."""
        return self.metrics(y, self.outputs(rows, encoded=encoded))

    def metrics(self, y: np.ndarray, out: np.ndarray) -> dict[str, float]:
        """:meth:`score`'s numbers from the targets ``y`` and the raw outputs ``out`` (of
        :meth:`outputs`) of the same rows."""
        from .training.metrics import classification_metrics

        if self.task.is_classifier:
            return classification_metrics(y, self.task.probabilities(out))
        return regression_scores(y, self._values(out))


# -- the predictions file -----------------------------------------------------------------------
FORMULA_START = "=+-@\t\r"
"""First characters that make a spreadsheet cell a formula (OWASP's CSV injection list)."""

_PLAIN_NUMBER = re.compile(r"[+-]?[0-9.,]*[0-9][0-9.,]*(?:[eE][+-]?[0-9]+)?\Z")


def spreadsheet_text(cell: str) -> str:
    """``cell`` as a spreadsheet will show it rather than run it: a cell starting with one of
    :data:`FORMULA_START` (``=``, ``+``, ``-``, ``@``, tab, carriage return), which Excel,
    LibreOffice and Google Sheets take for a formula, gets a leading ``'``; a plain number
    such as ``-1.5`` or ``-1,5`` stays as it is.

    >>> spreadsheet_text("=SUM(A1:A9)"), spreadsheet_text("@cmd"), spreadsheet_text("-1.5e3")
    ("'=SUM(A1:A9)", "'@cmd", '-1.5e3')
    """
    if cell and cell[0] in FORMULA_START and not _PLAIN_NUMBER.match(cell):
        return "'" + cell
    return cell


def _csv_field(text: str, delimiter: str) -> str:
    """``text`` as one CSV field: quoted (its quotes doubled) where it holds the delimiter, a
    quote or a line break.  A lone carriage return counts too: Python's csv writer leaves it
    bare when rows end in ``\\n``, and Excel, pandas and chainrule read it as a row's end."""
    if delimiter in text or any(c in text for c in '"\r\n'):
        return '"' + text.replace('"', '""') + '"'
    return text


def _new_name(name: str, taken: set[str], notes: list[str]) -> str:
    """``name`` for a column predict adds, or ``name (chainrule)``, ``name (chainrule 2)``,
    ... when the input already has a column of that name (with a note saying so)."""
    chosen, k = name, 1
    while chosen in taken:
        chosen = f"{name} (chainrule{'' if k == 1 else f' {k}'})"
        k += 1
    if chosen != name:
        notes.append(f"the input already has a column {quote(name)}; that output column is "
                     f"named {quote(chosen)}")
    taken.add(chosen)
    return chosen


def write_predictions(pred: Predictor, frame: Any, out: np.ndarray,
                      target: str | os.PathLike[str] | TextIO, *, proba: bool = False,
                      delimiter: str = ",", escape: bool = False) -> list[str]:
    """Write what ``chainrule predict`` writes: every column of ``frame`` (the input rows as
    written, :func:`~chainrule.data.tabular.read_frame` with ``raw=True``), then the
    prediction and, with ``proba``, one ``p_<class>`` column per class, from the raw outputs
    ``out`` of those rows.  Returns notes for the user.

    ``target`` is a file name (written atomically: a reader sees the old file or the whole
    new one, and a full disk names the file) or an open text stream.  Every text cell, input
    and header cells included, goes through :func:`spreadsheet_text`; with ``escape`` (for a
    terminal) control characters are written as escapes such as ``\\x1b``.  A column name
    the input already holds gets another name (noted).
    """
    from .io.atomic import atomic_write

    notes: list[str] = []
    header = [str(c) for c in frame.columns]
    taken = set(header)
    added: list[list[str]] = []
    names = [_new_name("prediction", taken, notes)]
    if pred.task.is_classifier:
        classes = pred.class_names or [str(i) for i in range(max(2, out.shape[1]))]
        added.append([classes[int(c)] for c in pred.classes_of(out)])
        if proba:
            probs = pred.task.probabilities(out)
            for k, cname in enumerate(classes):
                names.append(_new_name(f"p_{cname}", taken, notes))
                added.append([f"{p:.6g}" for p in probs[:, k]])
    else:
        added.append([repr(float(v)) for v in np.ravel(pred._values(out))])
    changed = [0]

    def cell(value: Any) -> str:
        text = str(value)
        safe = spreadsheet_text(text)
        changed[0] += safe is not text
        return safe if not escape or safe.isprintable() else escape_controls(safe)

    def line(cells: Iterator[Any]) -> str:
        return delimiter.join(_csv_field(cell(c), delimiter) for c in cells) + "\n"

    def lines() -> Iterator[str]:
        chunk = [line(iter(header + names))]
        raw = frame.to_numpy(dtype=object)
        for r in range(len(raw)):
            chunk.append(line(itertools.chain(raw[r], (col[r] for col in added))))
            if len(chunk) >= 1024:
                yield "".join(chunk)
                chunk.clear()
        yield "".join(chunk)

    if isinstance(target, (str, os.PathLike)):
        atomic_write(target, (text.encode("utf-8") for text in lines()))
    else:
        for text in lines():
            target.write(text)
    if changed[0]:
        notes.append(f"{changed[0]} cell(s) starting with =, +, -, @, tab or carriage return "
                     "were written with a leading ' so that spreadsheets show them as text "
                     "instead of running them as formulas")
    return notes


def evaluate(model: str | os.PathLike[str] | Predictor, data: Any = None, *,
             dataset: str | None = None, target: str | None = None,
             delimiter: str | None = None) -> dict[str, float]:
    """Score a saved model on labelled rows: a CSV path or DataFrame (``target`` defaults to
    the column the model was trained for) or a named ``dataset``."""
    pred = model if isinstance(model, Predictor) else Predictor.load(model)
    X, y = labelled_rows(pred, data, dataset=dataset, target=target, delimiter=delimiter)
    return pred.score(X, y, encoded=True)


def labelled_rows(pred: Predictor, data: Any = None, *, dataset: str | None = None,
                  target: str | None = None, delimiter: str | None = None
                  ) -> tuple[np.ndarray, np.ndarray]:
    """Encoded features and targets (class codes or floats) of labelled rows for ``pred``."""
    from .data import load_dataset
    from .data.columns import prepare_target
    from .data.tabular import read_frame

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
    frame = frame[t.keep]
    if pred.encoder is None:
        from .data import load_csv

        X = load_csv(frame, None, features=pred.feature_names).X
    else:
        X = pred.encode(frame)
    return X, t.y


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
        info["scaled"] = bool(pre.get("scaler"))
        info["target_scaled"] = bool(pre.get("target_scaler"))
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
    from .errors import GradcheckError
    from .tools import gradcheck
    from .tools.saving import architecture_of, build_from_architecture
    from .training import get_loss

    pred = Predictor.load(path)
    X, y = labelled_rows(pred, data, dataset=dataset, target=target)
    X, y = X[:rows], y[:rows]
    if pred.scaler is not None:
        X = pred.scaler.transform(X)
    if pred.target_scaler:
        y = (y - pred.target_scaler["mean"]) / pred.target_scaler["scale"]
    state = {k: v.astype(np.float64) for k, v in pred.model.state_dict().items()}
    model64 = build_from_architecture(architecture_of(pred.model), state)
    names = [n for n, _ in model64.named_parameters()]
    layers = dict(model64.named_modules())
    loss_fn = get_loss(pred.task.loss)
    target_arr = fit_target(np.asarray(y), pred.task)
    if pred.task.name == "regression":
        target_arr = np.asarray(y, dtype=np.float64).reshape(-1, 1)

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

