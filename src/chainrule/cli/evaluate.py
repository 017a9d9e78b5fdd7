"""``chainrule evaluate``: score a saved model on labelled data and print the metrics."""

from __future__ import annotations

import argparse
from typing import Any

from .options import add_command, data_options
from .output import json_text
from .report import OK, need_pandas, printable, warn

NAME = "evaluate"

EXAMPLES = """\
examples:
  chainrule evaluate runs/penguins/model.safetensors --data test.csv
  chainrule evaluate runs/penguins/model.safetensors --data test.csv --json
  chainrule evaluate runs/digits/model.safetensors --dataset digits --confusion-matrix cm.png"""


def add_parser(sub: Any) -> None:
    p = add_command(sub, NAME, "score a saved model on labelled data",
                    "Report accuracy and log loss (classification) or MSE, RMSE, MAE and R^2 "
                    "(regression) of a saved model.", EXAMPLES)
    p.add_argument("model", metavar="MODEL", help="a .safetensors file from 'chainrule train'")
    data_options(p, required=True)
    p.add_argument("--confusion-matrix", metavar="FILE.png",
                   help="also draw the confusion matrix (classification)")
    p.add_argument("--json", action="store_true",
                   help="print the metrics as one JSON object and nothing else")


def warn_unknown(pred: Any) -> None:
    """Say how many unseen categories the model met (also used by ``predict``)."""
    from ..data.columns import unknown_warning

    text = unknown_warning(pred.unknown)
    if text:
        warn(text + "; pass --unknown error to refuse such rows")


def run(args: argparse.Namespace) -> int:
    """Score a saved model on labelled data."""
    from ..predictor import Predictor, labelled_rows

    if args.data is not None:
        need_pandas("chainrule evaluate --data")
    pred = Predictor.load(args.model)
    X, y = labelled_rows(pred, args.data, dataset=args.dataset, target=args.target,
                         delimiter=args.delimiter)
    metrics = pred.score(X, y, encoded=True)
    warn_unknown(pred)
    if args.json:
        print(json_text(metrics))
    else:
        print(f"model: {printable(args.model)}\ndata:  {printable(args.data or args.dataset)} "
              f"({metrics['n']} examples)")
        if "accuracy" in metrics:
            correct = round(metrics["accuracy"] * metrics["n"])
            print(f"accuracy: {metrics['accuracy']:.2%}  ({correct}/{metrics['n']} correct)")
            print(f"log loss: {metrics['log_loss']:.4f}")
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
            plots.plot_confusion_matrix(y, pred.class_codes(X, encoded=True),
                                        args.confusion_matrix, class_names=pred.class_names)
        if not args.json:
            print(f"confusion matrix: {printable(args.confusion_matrix)}")
    return OK
