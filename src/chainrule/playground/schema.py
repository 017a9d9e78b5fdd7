"""The rules every JSON body of the playground's API is checked by: one parser and one set of
field checks, so each bad value is a :class:`~chainrule.errors.ConfigError` (HTTP 400) naming
the field, what it got and what is allowed.

Bodies come from anything that can reach the port, so the parser takes only what JSON means
to a browser: no ``NaN`` or ``Infinity``, no number longer than any field can use, no nesting
deeper than :data:`MAX_DEPTH`, no text that is not Unicode (a lone surrogate).  The field
checks take JSON's own types only: ``"false"`` is not a boolean and ``true`` or ``3.0`` is not
a row number.

>>> body = parse_json(b'{"steps": 5, "fast": true}')
>>> whole(body, "steps", 0, 10), flag(body, "fast", False)
(5, True)
>>> whole({"steps": True}, "steps", 0, 10)
Traceback (most recent call last):
...
chainrule.errors.ConfigError: steps must be a whole number from 0 to 10, got True
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from ..errors import ConfigError

__all__ = ["MAX_DEPTH", "MAX_NUMBER_CHARS", "REQUIRED", "check_keys", "flag", "member",
           "obj", "parse_json", "real", "shown", "text", "whole"]

MAX_DEPTH = 8  # the deepest body the API takes is {"config": {"hidden": [4]}}: depth 3
MAX_NUMBER_CHARS = 40  # longer than any value a field accepts, written any way
REQUIRED: Any = object()  # the default of a field that must be given


def shown(value: Any, limit: int = 60) -> str:
    """A value as a message shows it: its repr, cut to ``limit`` characters.

    >>> shown("x" * 100, 10)
    "'xxxxxxxx..."
    """
    text = repr(value)
    return text if len(text) <= limit else text[:limit - 1] + "..."


def _refuse_constant(name: str) -> Any:
    raise ConfigError(f"the body holds {name}, which JSON does not allow; send finite numbers")


def _number(text: str, kind: type) -> Any:
    if len(text) > MAX_NUMBER_CHARS:
        raise ConfigError(f"the body holds a number of {len(text)} characters "
                          f"({text[:20]}...); no field takes one longer than "
                          f"{MAX_NUMBER_CHARS}")
    value = kind(text)
    if kind is float and not abs(value) < float("inf"):
        raise ConfigError(f"the number {text} is too large (beyond about 1.8e308)")
    return value


def _check_tree(value: Any) -> None:
    """Depth at most MAX_DEPTH and every text (keys too) valid Unicode; no recursion, so a
    deep body cannot exhaust the stack here either."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, (dict, list)):
            if depth > MAX_DEPTH:
                raise ConfigError(f"the body is nested more than {MAX_DEPTH} levels deep; the "
                                  "API's bodies are flat objects")
            children = item.items() if isinstance(item, dict) else enumerate(item)
            for key, child in children:
                if isinstance(key, str):
                    _unicode(key)
                stack.append((child, depth + 1))
        elif isinstance(item, str):
            _unicode(item)


def _unicode(s: str) -> None:
    try:
        s.encode("utf-8")
    except UnicodeEncodeError:
        raise ConfigError(f"the body holds text that is not valid Unicode ({shown(s, 30)}: a "
                          "lone surrogate escape); send UTF-8 text") from None


def parse_json(raw: bytes) -> Any:
    """The JSON value of a request body, or a ConfigError saying what is wrong with it."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        raise ConfigError(f"the body is not UTF-8 text (byte {err.start}); send JSON") from None
    try:
        value = json.loads(text, parse_constant=_refuse_constant,
                           parse_int=lambda s: _number(s, int),
                           parse_float=lambda s: _number(s, float))
    except json.JSONDecodeError as err:
        raise ConfigError(f"the body is not JSON: {err}") from None
    except RecursionError:
        raise ConfigError(f"the body is nested more than {MAX_DEPTH} levels deep; the API's "
                          "bodies are flat objects") from None
    _check_tree(value)
    return value


def obj(value: Any, what: str) -> dict[str, Any]:
    """``value`` when it is a JSON object; ``what`` names it in the error."""
    if not isinstance(value, dict):
        raise ConfigError(f"{what} must be a JSON object, got {type(value).__name__} "
                          f"{shown(value)}")
    return value


def check_keys(body: Mapping[str, Any], known: Iterable[str], what: str) -> None:
    """Refuse keys outside ``known`` (a misspelt field would otherwise be ignored)."""
    allowed = list(known)
    unknown = sorted(k for k in body if k not in allowed)
    if unknown:
        raise ConfigError(f"unknown {what} keys {shown(unknown, 80)}; known: "
                          f"{', '.join(allowed)}")


def _get(body: Mapping[str, Any], key: str, default: Any) -> Any:
    if key in body:
        return body[key]
    if default is REQUIRED:
        raise ConfigError(f"{key} is missing")
    return default


def whole(body: Mapping[str, Any], key: str, lo: int, hi: int, default: Any = REQUIRED,
          nullable: bool = False) -> Any:
    """A JSON integer (not a boolean, not 3.0) from ``lo`` to ``hi``; None where
    ``nullable`` and the value is null."""
    value = _get(body, key, default)
    if value is None and (nullable or default is None):
        return None
    if not isinstance(value, int) or isinstance(value, bool) or not lo <= value <= hi:
        raise ConfigError(f"{key} must be a whole number from {lo} to {hi}, got "
                          f"{shown(value)}")
    return value


def real(body: Mapping[str, Any], key: str, lo: float, hi: float, default: Any = REQUIRED,
         nullable: bool = False) -> Any:
    """A finite JSON number from ``lo`` to ``hi`` as a float (None where ``nullable``)."""
    value = _get(body, key, default)
    if value is None and (nullable or default is None):
        return None
    if not isinstance(value, (int, float)) or isinstance(value, bool) or \
            not lo <= value <= hi:  # a NaN fails the comparison too
        raise ConfigError(f"{key} must be a number from {lo:g} to {hi:g}, got {shown(value)}")
    return float(value)


def flag(body: Mapping[str, Any], key: str, default: Any = REQUIRED) -> bool:
    """A JSON boolean: ``true`` or ``false`` (not the text "false", not 0 or 1)."""
    value = _get(body, key, default)
    if not isinstance(value, bool):
        raise ConfigError(f"{key} must be true or false, got {shown(value)}")
    return value


def text(body: Mapping[str, Any], key: str, max_chars: int, default: Any = REQUIRED,
         nullable: bool = False) -> Any:
    """A JSON string of at most ``max_chars`` characters (None where ``nullable``)."""
    value = _get(body, key, default)
    if value is None and (nullable or default is None):
        return None
    if not isinstance(value, str):
        raise ConfigError(f"{key} must be text, got {type(value).__name__} {shown(value)}")
    if len(value) > max_chars:
        raise ConfigError(f"{key} is {len(value)} characters long; at most {max_chars}")
    _unicode(value)
    return value


def member(body: Mapping[str, Any], key: str, table: Mapping[str, Any], what: str,
           default: Any = REQUIRED) -> str:
    """One of ``table``'s names."""
    value = _get(body, key, default)
    if not isinstance(value, str) or value not in table:
        raise ConfigError(f"unknown {what} {shown(value)}; choose one of {', '.join(table)}")
    return value
