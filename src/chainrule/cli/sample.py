"""``chainrule sample MODEL``: new words from a character-level language model that
``chainrule train --text`` saved, one per line (or one JSON object)."""

from __future__ import annotations

import argparse
import json
from typing import Any

from ..job import parse_positive_float, parse_positive_int
from ..job.options import check_seed, parse_whole
from .options import add_command, text_type
from .report import OK, printable

NAME = "sample"

EXAMPLES = """\
examples:
  chainrule train --text names.txt --model gru
  chainrule sample runs/names/model.safetensors -n 20
  chainrule sample runs/names/model.safetensors -n 5 --seed 7 --temperature 0.7
      below 1 the model keeps to its likelier characters; above 1 it takes more chances
  chainrule sample runs/names/model.safetensors -n 100 --json

Each word starts from the boundary token '.' and takes one character at a time from the
model's next-character probabilities until it draws '.', or --max-length characters.
The same --seed gives the same words."""


def add_parser(sub: Any) -> None:
    p = add_command(sub, NAME, "write new words with a character-level language model",
                    "Sample new words (names) from a model trained with 'chainrule train "
                    "--text'.", EXAMPLES)
    p.add_argument("model", metavar="MODEL", help="a model file saved by 'chainrule train "
                                                  "--text'")
    p.add_argument("-n", type=text_type(parse_positive_int), default=20, metavar="N",
                   help="how many words (default 20)")
    p.add_argument("--seed", type=text_type(lambda t: check_seed(parse_whole(t))), default=0,
                   help="seed of the draws (default 0)")
    p.add_argument("--temperature", type=text_type(parse_positive_float), default=1.0,
                   metavar="T", help="divide the logits by T (default 1: the model as trained)")
    p.add_argument("--max-length", type=text_type(parse_positive_int), default=None,
                   metavar="N", help="most characters a word gets (default: the longest "
                                     "training word)")
    p.add_argument("--json", action="store_true",
                   help='print one JSON object, {"samples": [...]}')


def run(args: argparse.Namespace) -> int:
    """Load the model and print its samples."""
    from ..text import LanguageModel

    model, _ = LanguageModel.load(args.model)
    words = model.sample(args.n, seed=args.seed, temperature=args.temperature,
                         max_length=args.max_length)
    if args.json:
        print(json.dumps({"samples": words}, ensure_ascii=False))
        return OK
    for word in words:
        print(printable(word))
    return OK
