"""The playground: a page in your browser where chainrule trains a small network live.

``chainrule playground`` (or ``python -m chainrule.playground``) starts a local web server and
opens the page.  You pick a data set, build the network and watch it learn: the decision
boundary, the loss curves, every weight drawn with its sign and size.  Click a weight or a
unit to see its value, its gradient dJ/dw and the equation that produced it with the numbers
plugged in.  The training runs here, in Python, with chainrule's engine; the page only draws.

The server binds to 127.0.0.1 and answers only requests whose Host and Origin headers name it
(``127.0.0.1:PORT``, ``localhost:PORT`` or a name given with ``--host``/``--allow-origin``),
so a web page elsewhere cannot drive it.  See docs/playground.md for the JSON API.

The modules: :mod:`.command` (the options, :func:`add_arguments`), :mod:`.server` (the HTTP
server) with :mod:`.guard` (which Host and Origin it answers) and :mod:`.api` (the runs it
holds, what a request may ask), :mod:`.config` and :mod:`.schema` (checking a request),
:mod:`.session` (one run), :mod:`.equations` and :mod:`.export`.
"""

from __future__ import annotations

import argparse

from .command import DEFAULT_PORT, add_arguments, check_port, port_number

__all__ = ["DEFAULT_PORT", "add_arguments", "check_port", "port_number", "run"]


def run(args: argparse.Namespace) -> int:
    """Serve the playground until Ctrl-C; returns the exit status."""
    # Imported here, not at the top: the command line builds its parser (add_arguments) on
    # every call, and the server brings the HTTP stack and the training code with it.
    from .server import run as serve_with

    return serve_with(args)
