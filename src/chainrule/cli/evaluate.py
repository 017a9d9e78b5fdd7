"""``chainrule evaluate``: score a saved model on labelled data and print the metrics."""

from __future__ import annotations

import argparse
from typing import Any

from ..predictor import ROWS
from ..training.class_metrics import class_report
from .options import add_command, data_options
from .output import json_text
from .report import OK, need_pandas, printable, warn
from .scores import baseline_text, report_lines

NAME = "evaluate"

EXAMPLES = """\
examples:
  chainrule evaluate runs/penguins/model.safetensors --data test.csv
  chainrule evaluate runs/penguins/model.safetensors --data test.csv --json
  chainrule evaluate runs/digits/model.safetensors --dataset digits --confusion-matrix cm.png
  chainrule evaluate runs/digits/model.safetensors --dataset digits --split all

A --data file is scored whole.  On a built-in --dataset the model was trained on, the rows
its training held out are scored (the test rows, else the validation rows: the split is
repeated from the fractions and seed in the model file); --split picks others.
Classifiers are reported beside the baseline of always answering the training rows'
majority class, with balanced accuracy, per-class precision, recall and F1, ROC AUC (two
classes) and the confusion matrix."""


def add_parser(sub: Any) -> None:
    p = add_command(sub, NAME, "score a saved model on labelled data",
                    "Report accuracy and log loss (classification) or MSE, RMSE, MAE and R^2 "
                    "(regression) of a saved model.", EXAMPLES)
    p.add_argument("model", metavar="MODEL", help="a .safetensors file from 'chainrule train'")
    data_options(p, required=True)
    p.add_argument("--confusion-matrix", metavar="FILE.png",
                   help="also draw the confusion matrix (classification)")
    p.add_argument("--split", choices=ROWS, default="held-out",
                   help="which rows of a built-in --dataset to score (default: held-out, "
                        "the rows the training did not fit)")
    p.add_argument("--json", action="store_true",
                   help="print the metrics as one JSON object and nothing else (with the "
                        "baseline, balanced accuracy, macro F1, ROC AUC, per-class numbers and "
                        "confusion matrix for a classifier, and which rows were scored)")


def warn_unknown(pred: Any) -> None:
    """Say how many unseen categories the model met (also used by ``predict``)."""
    from ..data.columns import unknown_warning

    text = unknown_warning(pred.unknown, pooled=pred.target_encoded)
    if text:
        warn(text + "; pass --unknown error to refuse such rows")


def _class_report(pred: Any, y: Any, out: Any) -> Any:
    """The classifier's report on the scored rows, beside always answering the training
    rows' majority class (recorded in the model file; else the scored rows' own)."""
    proba = pred.head.probabilities(out)
    names = pred.head.names(proba.shape[1])
    training = pred.meta.get("training")
    majority = training.get("majority_class") if isinstance(training, dict) else None
    return class_report(y, proba, names, baseline_class=names.index(majority)
                        if majority in names else None)


def run(args: argparse.Namespace) -> int:
    """Score a saved model on labelled data."""
    from ..predictor import Predictor, scored_rows

    if args.data is not None:
        need_pandas("chainrule evaluate --data")
    pred = Predictor.load(args.model)
    picked = scored_rows(pred, args.data, dataset=args.dataset, target=args.target,
                         delimiter=args.delimiter, rows=args.split)
    X, y = picked.X, picked.y
    out = pred.outputs(X, encoded=True)
    metrics = pred.metrics(y, out)
    report = _class_report(pred, y, out) if pred.task.is_classifier and len(y) else None
    warn_unknown(pred)
    if args.json:
        metrics = {**metrics, **(report.scores() if report else {}), "rows": picked.rows,
                   "rows_scored": picked.description,
                   **({"class_report": report.per_class()} if report else {})}
        print(json_text(metrics))
    else:
        print(f"model: {printable(args.model)}\ndata:  {printable(args.data or args.dataset)} "
              f"({metrics['n']} examples)")
        print(f"rows:  {printable(picked.description)}")
        if "accuracy" in metrics:
            correct = round(metrics["accuracy"] * metrics["n"])
            base = f"  {baseline_text(report)}" if report else ""
            print(f"accuracy: {metrics['accuracy']:.2%}  ({correct}/{metrics['n']} "
                  f"correct){base}")
            print(f"log loss: {metrics['log_loss']:.4f}")
            for line in report_lines(report) if report else []:
                print(line)
        else:
            print(f"MSE {metrics['mse']:.6g}  RMSE {metrics['rmse']:.6g}  MAE "
                  f"{metrics['mae']:.6g}  R^2 {metrics['r2']:.4f}")
    if args.confusion_matrix and pred.task.is_classifier:
        from .. import plots
        from ..io import writes_to
        from ..runs import refuse_overwrite

        refuse_overwrite("--confusion-matrix", args.confusion_matrix,
                         {"the --data file": args.data, "the MODEL file": args.model})
        with writes_to(args.confusion_matrix):
            plots.plot_confusion_matrix(y, pred.classes_of(out),
                                        args.confusion_matrix, class_names=pred.class_names)
        if not args.json:
            print(f"confusion matrix: {printable(args.confusion_matrix)}")
    return OK
