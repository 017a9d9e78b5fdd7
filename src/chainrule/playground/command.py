"""The playground's command-line options, and the one rule for a port number.

>>> import argparse
>>> parser = argparse.ArgumentParser()
>>> add_arguments(parser)
>>> args = parser.parse_args(["--port", "0", "--no-browser"])
>>> args.host, args.port, args.no_browser, args.allow_origin
('127.0.0.1', 0, True, [])
"""

from __future__ import annotations

import argparse
from typing import Any

from ..errors import ConfigError
from .schema import shown

__all__ = ["DEFAULT_PORT", "add_arguments", "check_port", "port_number"]

DEFAULT_PORT = 8765


def check_port(port: Any) -> int:
    """``port`` itself when it is a port number: an int from 0 to 65535, not a bool (0 picks a
    free port); a ConfigError otherwise.  The one port rule, for ``--port`` and the server.

    >>> check_port(8765)
    8765
    >>> check_port(True)
    Traceback (most recent call last):
    ...
    chainrule.errors.ConfigError: the port must be a whole number from 0 to 65535 (0 picks a \
free one), got True
    """
    if not isinstance(port, int) or isinstance(port, bool) or not 0 <= port <= 65535:
        raise ConfigError(f"the port must be a whole number from 0 to 65535 (0 picks a free "
                          f"one), got {shown(port)}")
    return port


def port_number(text: str) -> int:
    """``--port``'s value, checked by :func:`check_port` (argparse reports a bad one).

    >>> port_number("8765")
    8765
    >>> port_number("70000")
    Traceback (most recent call last):
    ...
    argparse.ArgumentTypeError: the port must be a whole number from 0 to 65535 (0 picks a \
free one), got 70000
    """
    value: Any = text.strip()
    if value.isascii() and value.isdigit():
        try:
            value = int(value)
        except ValueError:  # more digits than Python turns into an int: shown as given
            value = text
    else:
        value = text
    try:
        return check_port(value)
    except ConfigError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the playground's options (``--port``, ``--host``, ``--no-browser``,
    ``--allow-origin``) to ``parser``."""
    parser.add_argument("--port", type=port_number, default=DEFAULT_PORT,
                        help=f"the port to listen on (default {DEFAULT_PORT}; 0 picks a free one)")
    parser.add_argument("--host", default="127.0.0.1",
                        help="the address to listen on (default 127.0.0.1, this machine only; "
                             "::1 for IPv6); its name is also accepted in the Host header")
    parser.add_argument("--no-browser", action="store_true",
                        help="print the address instead of opening a browser")
    parser.add_argument("--allow-origin", action="append", default=[], metavar="NAME",
                        help="another host name (or origin such as http://box:8765) the page "
                             "may be reached by; repeat for several")
