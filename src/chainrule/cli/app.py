"""``chainrule``'s entry point: the parser built from the command modules, and :func:`main`,
which runs one command and turns what it raised into an exit status (:mod:`.report`).

A command is a module with ``NAME``, ``add_parser(subparsers)`` and ``run(args) -> int``;
it is registered by one line naming its module in :data:`COMMAND_MODULES` (the help lists
them in that order).
"""

from __future__ import annotations

import importlib
import warnings
from collections.abc import Sequence

from ..version import __version__
from .options import FORMAT, Parser
from .report import OK, exit_status, show_warning

__all__ = ["COMMANDS", "COMMAND_MODULES", "PROG", "build_parser", "main"]

PROG = "chainrule"
COMMAND_MODULES = (  # one line per command, in the order the help lists them
    "chainrule.cli.train",
    "chainrule.cli.evaluate",
    "chainrule.cli.predict",
    "chainrule.cli.info",
    "chainrule.cli.gradcheck",
    "chainrule.cli.demo",
    "chainrule.cli.export",
    "chainrule.cli.playground",
    "chainrule.cli.sample",
)
COMMANDS = {m.NAME: m for m in map(importlib.import_module, COMMAND_MODULES)}

EXAMPLES = """\
examples:
  chainrule train                                   # the course's 2-4-1 network, flower set
  chainrule train --data penguins.csv --target species
  chainrule train --data houses.csv --target price --layers 64,32 --epochs 100
  chainrule train --dataset digits --optimizer adam --lr 1e-3 --epochs 30
  chainrule info runs/penguins/model.safetensors
  chainrule evaluate runs/penguins/model.safetensors --data test.csv --json
  chainrule predict runs/penguins/model.safetensors --data new.csv --out predictions.csv
  chainrule gradcheck runs/flower/model.safetensors --dataset flower
  chainrule demo                                    # the course's worked example, step by step
  chainrule train --text names.txt --model gru      # a character-level language model
  chainrule sample runs/names/model.safetensors -n 20

Run 'chainrule COMMAND --help' for each command's options."""


def build_parser() -> Parser:
    """The argument parser of the ``chainrule`` command."""
    parser = Parser(prog=PROG, formatter_class=FORMAT, epilog=EXAMPLES,
                    description="Train neural networks by backpropagation on NumPy arrays, "
                                "save them, and use them.")
    parser.add_argument("--version", action="version", version=f"chainrule {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    for command in COMMANDS.values():
        command.add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``chainrule`` command with ``argv`` (default: ``sys.argv[1:]``)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not args.command:
        parser.print_help()
        return OK
    run = COMMANDS[args.command].run
    distributed = getattr(args, "distributed", False)
    with warnings.catch_warnings():
        warnings.showwarning = show_warning  # one clean line each, not Python's two
        try:
            if distributed:
                from ..distributed import run as run_on_every_rank

                # An error on one rank ends every rank within seconds, with its message (no
                # rank waits forever in a collective); an error that every rank raised
                # together comes back here and rank 0 reports it.
                return run_on_every_rank(lambda: run(args))
            return run(args)
        except BaseException as err:
            return exit_status(err, args.command, distributed)
