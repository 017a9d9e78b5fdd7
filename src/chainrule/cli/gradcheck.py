"""``chainrule gradcheck``: compare a saved model's backpropagated gradients with finite
differences."""

from __future__ import annotations

import argparse
from typing import Any

from ..job import parse_positive_int
from .options import add_command, data_options, text_type
from .report import BAD_INPUT, OK, need_pandas, printable

NAME = "gradcheck"

EXAMPLES = """\
examples:
  chainrule gradcheck runs/flower/model.safetensors --dataset flower
  chainrule gradcheck runs/penguins/model.safetensors --data penguins.csv --rows 8 --full
Backpropagated gradients of the loss with respect to every parameter are compared with
central finite differences on a float64 copy of the model (along random directions, or
entry by entry with --full)."""


def add_parser(sub: Any) -> None:
    p = add_command(sub, NAME, "check a model's gradients on data",
                    "Compare backpropagation with finite differences.", EXAMPLES)
    p.add_argument("model", metavar="MODEL")
    data_options(p, required=True)
    p.add_argument("--rows", type=text_type(parse_positive_int), default=16,
                   help="examples used (default 16)")
    p.add_argument("--full", action="store_true",
                   help="check every parameter entry instead of random directions")


def run(args: argparse.Namespace) -> int:
    """Compare backpropagation with finite differences on a float64 copy of the model."""
    from ..predictor import check_gradients

    if args.data is not None:
        need_pandas("chainrule gradcheck --data")
    r = check_gradients(args.model, args.data, dataset=args.dataset, target=args.target,
                        rows=args.rows, full=args.full)
    if not r.passed:
        print(f"gradient check FAILED ({r.mode}, {r.rows} examples): {printable(r.message)}")
        return BAD_INPUT
    print(f"gradient check passed: {r.parameters} parameters in {r.tensors} tensors, {r.rows} "
          f"examples, {r.mode}, float64, eps 1e-6, atol 1e-5, rtol 1e-3")
    return OK
