"""How the command line writes an option of the job spec, and the text parsers and value rules
its options use.

A :class:`Flag` is a field's command-line declaration (the flag, the parser, the help line,
the one rule its value keeps); :func:`option` makes it field metadata for
:class:`chainrule.job.TrainConfig`.  Each parser turns text into a value or raises ConfigError
saying what was expected, without the flag's name (the caller adds it: ``--seed: expected
...``); a rule the library has (a learning rate, a count) is the library's, applied here.

>>> Flag(("--batch-size",), "examples per step").name
'--batch-size'
>>> parse_class_weight("yes=3,no=1")
{'yes': 3.0, 'no': 1.0}
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..data.diagnosis import quote
from ..engine import devices
from ..errors import ConfigError, DeviceError
from ..training.config import check_count, check_lr

__all__ = [
    "MAX_CLASS_WEIGHT",
    "MAX_SEED",
    "MAX_WIDTH",
    "NOT_GIVEN",
    "Flag",
    "check_class_weight",
    "check_class_weights",
    "check_device",
    "check_features",
    "check_layers",
    "check_seed",
    "one_of",
    "option",
    "parse_batch_size",
    "parse_class_weight",
    "parse_delimiter",
    "parse_fraction",
    "parse_layers",
    "parse_names",
    "parse_positive_float",
    "parse_positive_int",
    "parse_whole",
]

MAX_SEED = 2**32 - 1
MAX_WIDTH = 100_000
NOT_GIVEN: Any = object()  # a Flag's default when the command line leaves the field's own


@dataclass(frozen=True)
class Flag:
    """How the command line writes one option: ``flags`` and ``help`` for the parser,
    ``parse`` (text to value; ConfigError when the text is not one) and ``check`` (the one
    rule the value must keep, from the command line or from Python; ConfigError without the
    flag's name, which the caller adds).

    ``group`` is the help section (None: the command's own options), ``exclusive`` names a
    set of flags of which one at most may be given, ``action`` is ``store_true``,
    ``store_false``, ``store_const`` (with ``const``), ``extend`` (given again adds items),
    ``boolean`` (``--x`` / ``--no-x``) or ``merge`` (given again adds label=value pairs);
    ``default`` is the command line's default where it differs from the field's;
    ``feeds`` lists the library's names for the same argument (``fit(validation_split=)``),
    and ``spell`` writes a value as typed (``None`` batch size: ``full``).
    """

    flags: tuple[str, ...]
    help: str
    group: str | None = None
    parse: Callable[[str], Any] | None = None
    check: Callable[[Any], Any] | None = None
    metavar: str | None = None
    choices: tuple[str, ...] | None = None
    action: str | None = None
    const: Any = None
    default: Any = NOT_GIVEN
    exclusive: str | None = None
    feeds: tuple[str, ...] = ()
    spell: Callable[[Any], str] = str

    @property
    def name(self) -> str:
        """The flag as messages write it (the long one)."""
        return self.flags[-1]

    def convert(self, text: str) -> Any:
        """``text`` as typed on the command line, parsed and checked (ConfigError)."""
        value = self.parse(text) if self.parse else text
        return self.check(value) if self.check else value


def option(*names: str, help: str, **how: Any) -> dict[str, Flag]:  # noqa: A002 (argparse's)
    """Field metadata declaring a command-line option (see :class:`Flag`)."""
    return {"cli": Flag(names, help, **how)}


# -- text to values: each raises ConfigError saying what was expected ----------------------------
def parse_whole(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise ConfigError(f"expected a whole number, got {text!r}") from None


def parse_positive_int(text: str) -> int:
    """A count such as ``--epochs 30``, by the library's rule for counts
    (:func:`chainrule.training.config.check_count`).

    >>> parse_positive_int("0")
    Traceback (most recent call last):
    ...
    chainrule.errors.ConfigError: expected a positive number, got 0
    """
    value = parse_whole(text)
    try:
        return check_count(value, None)
    except ConfigError:
        # the library's rule decides; the command line keeps the words it has always printed
        # ('--epochs: expected a positive number, got 0'), which users' scripts may match
        raise ConfigError(f"expected a positive number, got {value}") from None


def parse_positive_float(text: str) -> float:
    """A learning rate such as ``--lr 1e-3``, by the library's rule for one
    (:func:`chainrule.training.config.check_lr`: a positive finite number)."""
    try:
        v = float(text)
    except ValueError:
        raise ConfigError(f"expected a number, got {text!r}") from None
    return check_lr(v, None)


def parse_fraction(text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise ConfigError(f"expected a number in [0, 1), got {text!r}") from None
    if not 0 <= v < 1:
        raise ConfigError(f"expected a number in [0, 1), got {v}")
    return v


def check_seed(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or \
            not 0 <= value <= MAX_SEED:
        shown = value if isinstance(value, (int, np.integer)) else quote(value)
        raise ConfigError(f"expected a whole number from 0 to {MAX_SEED}, got {shown}")
    return value


def parse_batch_size(text: str) -> int | None:
    return None if text.lower() in ("full", "all", "none") else parse_positive_int(text)


def parse_layers(text: str) -> list[int]:
    if text.strip().lower() in ("", "none", "0"):
        return []
    try:
        sizes = [int(t) for t in text.split(",")]
    except ValueError:
        raise ConfigError(f"expected comma-separated sizes such as 64,32, got {text!r}"
                          ) from None
    if any(s < 1 for s in sizes):
        raise ConfigError(f"layer sizes must be positive, got {text!r}")
    return sizes


def check_layers(sizes: list[int]) -> list[int]:
    for size in sizes:
        if not 1 <= size <= MAX_WIDTH:
            raise ConfigError(f"a layer of {size:,} units is beyond the {MAX_WIDTH:,} this "
                              "command builds; use smaller layers")
    return sizes


def parse_names(text: str) -> list[str]:
    names = [t.strip() for t in text.split(",") if t.strip()]
    if not names:
        raise ConfigError(f"expected comma-separated column names, got {text!r}")
    return names


def check_features(names: list[str]) -> list[str]:
    seen: set[str] = set()
    for name in names:
        if name in seen:
            raise ConfigError(f"names the column {quote(name)} twice; name each column once")
        seen.add(name)
    return names


def parse_delimiter(text: str) -> str:
    """A field separator: one character, or its name.

    >>> parse_delimiter("tab")
    '\\t'
    """
    named = {"tab": "\t", "\\t": "\t", "comma": ",", "semicolon": ";", "pipe": "|",
             "space": " "}
    value = named.get(text.lower(), text)
    if len(value) != 1 or value in "\r\n\"":
        raise ConfigError(f"expected one character (or tab, comma, semicolon, pipe, space), "
                          f"got {text!r}")
    return value


def one_of(*choices: str) -> Callable[[Any], Any]:
    def check(value: Any) -> Any:
        if value not in choices:
            raise ConfigError(f"expected {', '.join(choices[:-1])} or {choices[-1]}, got "
                              f"{quote(value)}")
        return value
    return check


def check_device(value: Any) -> str:
    """A device name for ``--device`` (``cpu``, ``cuda``), checked to be usable here: a GPU
    asked for on a machine without CuPy or a GPU stops before any data is read, with the
    install command.

    >>> check_device("cpu")
    'cpu'
    """
    try:
        return str(devices.device(value))
    except DeviceError as err:  # the command line reports it as a bad --device value
        raise ConfigError(str(err)) from None


def check_class_weights(value: Any) -> Any:
    if isinstance(value, str) and value != "balanced":
        raise ConfigError(f"expected 'balanced' or label=weight pairs, got {quote(value)}")
    if isinstance(value, dict):
        for label, weight in value.items():
            check_class_weight(label, weight)
    return value


MAX_CLASS_WEIGHT = 1e6
"""The largest class weight (and 1 / the smallest positive one): weights are relative to
each other (a class not named weighs 1), and beyond a ratio of 1e12 the weighted loss is the
loss of one class alone, or overflows."""


def check_class_weight(label: Any, weight: Any) -> float:
    """``weight`` for the class ``label`` as a float: 0 (leave the class out of the loss) or a
    number from 1/:data:`MAX_CLASS_WEIGHT` to :data:`MAX_CLASS_WEIGHT`; ConfigError naming
    ``--class-weight`` and the label otherwise.

    >>> check_class_weight("cat", 1e308)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    chainrule.errors.ConfigError: --class-weight cat=1e+308: a class weight must be 0 or a ...
    """
    if isinstance(weight, bool) or not isinstance(weight, (int, float, np.integer,
                                                           np.floating)):
        raise ConfigError(f"--class-weight {_printable_label(label)}: the weight must be a "
                          f"number, got {quote(weight)}")
    w = float(weight)
    if not (w == 0 or 1 / MAX_CLASS_WEIGHT <= w <= MAX_CLASS_WEIGHT):
        raise ConfigError(f"--class-weight {_printable_label(label)}={w:g}: a class weight "
                          f"must be 0 or a number from {1 / MAX_CLASS_WEIGHT:g} to "
                          f"{MAX_CLASS_WEIGHT:g} (weights are relative; a class not named "
                          "weighs 1)")
    return w


def _printable_label(label: Any) -> str:
    text = quote(label)
    return text[1:-1] if isinstance(label, str) and text[1:-1] == label else text


def parse_class_weight(text: str) -> str | dict[str, float]:
    """``--class-weight`` as written: ``balanced``, or label=weight pairs (``yes=3,no=1``)
    with each label once and each weight checked by :func:`check_class_weight`.

    >>> parse_class_weight("yes=3,no=1")
    {'yes': 3.0, 'no': 1.0}
    >>> parse_class_weight("cat=1,cat=5")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    chainrule.errors.ConfigError: --class-weight names the class cat twice (cat=1 and cat=5)...
    """
    if text == "balanced":
        return text
    weights: dict[str, float] = {}
    written: dict[str, str] = {}
    for part in text.split(","):
        label, eq, value = part.rpartition("=")
        if not eq or not label or not value.strip():
            raise ConfigError(f"--class-weight: expected 'balanced' or label=weight pairs "
                              f"such as yes=3,no=1, got {quote(text)}")
        if label in weights:
            raise ConfigError(f"--class-weight names the class {_printable_label(label)} "
                              f"twice ({written[label]} and {quote(part)[1:-1]}); give each "
                              "class one weight")
        try:
            w = float(value)
        except ValueError:
            raise ConfigError(f"--class-weight {_printable_label(label)}: the weight must be "
                              f"a number, got {quote(value)}") from None
        weights[label] = check_class_weight(label, w)
        written[label] = quote(part)[1:-1]
    return weights
