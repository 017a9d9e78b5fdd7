"""``python -m chainrule.playground``: the same as ``chainrule playground``."""

from __future__ import annotations

import argparse
import sys

from .command import add_arguments
from .server import run


def main(argv: list[str] | None = None) -> int:
    """Parse the options and serve the playground."""
    parser = argparse.ArgumentParser(
        prog="chainrule playground",
        description="Watch backpropagation train a network in your browser.")
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
