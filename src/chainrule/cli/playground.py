"""``chainrule playground``: serve the interactive playground (its options are its own,
:func:`chainrule.playground.add_arguments`)."""

from __future__ import annotations

import argparse
from typing import Any

from .options import add_command
from .report import CLIError

NAME = "playground"


def add_parser(sub: Any) -> None:
    p = add_command(sub, NAME, "train small networks interactively",
                    "The interactive playground.")
    try:
        from .. import playground

        playground.add_arguments(p)
    except ImportError:
        pass  # reported when the command runs


def run(args: argparse.Namespace) -> int:
    """Start the interactive playground."""
    try:
        from .. import playground
    except ImportError:
        raise CLIError("the playground is not available in this chainrule",
                       "upgrade chainrule") from None
    return int(playground.run(args))
