"""``chainrule predict``: write a saved model's predictions for each row of a CSV file."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from ..job import flag_of
from .evaluate import warn_unknown
from .options import add_command, argument_type
from .report import OK, need_pandas, printable, warn

NAME = "predict"

EXAMPLES = """\
examples:
  chainrule predict runs/penguins/model.safetensors --data new.csv --out predictions.csv
  chainrule predict runs/penguins/model.safetensors --data new.csv --proba   # CSV to stdout
The output holds every input column as written, then 'prediction', and with --proba one
probability column per class ('p_<label>'); a name the input already uses gets ' (chainrule)'
added (with a warning).  Every row gets a prediction: missing values are filled as in
training; unseen categories count as none (one warning; --unknown error refuses them).
A text cell starting with =, +, -, @, tab or carriage return gets a leading ' so that a
spreadsheet shows it instead of running it as a formula (numbers such as -1.5 stay numbers);
on standard output control characters are written as escapes (\\x1b), in --out kept as they
are."""


def add_parser(sub: Any) -> None:
    p = add_command(sub, NAME, "predict for new rows of a CSV file",
                    "Write predictions for each row of a CSV file.", EXAMPLES)
    p.add_argument("model", metavar="MODEL")
    p.add_argument("--data", required=True, metavar="FILE.csv",
                   help="rows to predict; needs the columns used in training")
    p.add_argument("--delimiter", type=argument_type(flag_of("delimiter")), metavar="CHAR",
                   help="the field separator (default: sniffed)")
    p.add_argument("--out", metavar="FILE.csv", help="where to write (default: stdout)")
    p.add_argument("--proba", action="store_true",
                   help="also write one probability column per class (classifiers)")
    p.add_argument("--unknown", choices=["zeros", "error"],
                   help="unseen categories: all zeros (in a target-encoded column, as its "
                        "rare categories) with a warning, or refuse (default: what the model "
                        "was trained with)")


def run(args: argparse.Namespace) -> int:
    """Predict for each row of a CSV file, keeping every input column as written."""
    from ..predictor import Predictor, write_predictions
    from ..runs import refuse_overwrite

    need_pandas("chainrule predict")
    if args.out:
        refuse_overwrite("--out", args.out, {"the --data file": args.data,
                                            "the MODEL file": args.model})
    pred = Predictor.load(args.model)
    # the rows as written (echoed in the output) and encoded: columns and categories are
    # checked before any output
    frame, X = pred.read_rows(args.data, args.unknown, delimiter=args.delimiter)
    warn_unknown(pred)
    out = pred.outputs(X, encoded=True)
    # on a terminal (or a pipe to one) no cell may send it control sequences
    notes = write_predictions(pred, frame, out, args.out or sys.stdout, proba=args.proba,
                              delimiter=frame.attrs.get("chainrule_delimiter", ","),
                              escape=not args.out)
    for note in notes:
        warn(note)
    if args.out:
        print(f"wrote {len(frame)} predictions to {printable(args.out)}", file=sys.stderr)
    return OK
