"""The job spec: every option of a training run (:class:`TrainConfig`), each declared once.

Each field of :class:`TrainConfig` carries, as field metadata, its command-line declaration
(a :class:`Flag`: the flag, the text parser, the help line, the one rule its value must keep),
so ``chainrule train``'s parser and the config it builds come from the fields themselves:
adding an option is adding a field.  :meth:`TrainConfig.check` runs the same rules on values
given from Python, so each value is checked once, by one function; what the library checks
itself (the loss, optimizer and activation names, the task) is left to it, and what needs the
data (a class weight naming a class the target holds) is checked where the data is read.

>>> flag_of("batch_size").flags, flag_of("batch_size").spell(None)
(('--batch-size',), 'full')
>>> TrainConfig(seed=-1).check()  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
chainrule.errors.ConfigError: --seed: expected a whole number from 0 to 4294967295, got -1
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, fields
from typing import Any

import numpy as np

from .data.tabular import quote
from .errors import ConfigError
from .training.config import check_count, check_lr

__all__ = [
    "MAX_CLASS_WEIGHT",
    "NOT_GIVEN",
    "Flag",
    "TrainConfig",
    "check_class_weight",
    "flag_of",
    "flags",
    "parse_class_weight",
    "parse_delimiter",
    "parse_positive_float",
    "parse_positive_int",
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
def _whole(text: str) -> int:
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
    chainrule.errors.ConfigError: expected a positive integer, got 0
    """
    return check_count(_whole(text), None)


def parse_positive_float(text: str) -> float:
    """A learning rate such as ``--lr 1e-3``, by the library's rule for one
    (:func:`chainrule.training.config.check_lr`: a positive finite number)."""
    try:
        v = float(text)
    except ValueError:
        raise ConfigError(f"expected a number, got {text!r}") from None
    return check_lr(v, None)


def _fraction(text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise ConfigError(f"expected a number in [0, 1), got {text!r}") from None
    if not 0 <= v < 1:
        raise ConfigError(f"expected a number in [0, 1), got {v}")
    return v


def _check_seed(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or \
            not 0 <= value <= MAX_SEED:
        shown = value if isinstance(value, (int, np.integer)) else quote(value)
        raise ConfigError(f"expected a whole number from 0 to {MAX_SEED}, got {shown}")
    return value


def _batch_size(text: str) -> int | None:
    return None if text.lower() in ("full", "all", "none") else parse_positive_int(text)


def _layers(text: str) -> list[int]:
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


def _check_layers(sizes: list[int]) -> list[int]:
    for size in sizes:
        if not 1 <= size <= MAX_WIDTH:
            raise ConfigError(f"a layer of {size:,} units is beyond the {MAX_WIDTH:,} this "
                              "command builds; use smaller layers")
    return sizes


def _names(text: str) -> list[str]:
    names = [t.strip() for t in text.split(",") if t.strip()]
    if not names:
        raise ConfigError(f"expected comma-separated column names, got {text!r}")
    return names


def _check_features(names: list[str]) -> list[str]:
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


def _one_of(*choices: str) -> Callable[[Any], Any]:
    def check(value: Any) -> Any:
        if value not in choices:
            raise ConfigError(f"expected {', '.join(choices[:-1])} or {choices[-1]}, got "
                              f"{quote(value)}")
        return value
    return check


def _check_class_weight(value: Any) -> Any:
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


_SOURCE = "a named data set: flower xor moons circles spirals blobs (built in) or digits " \
          "iris breast_cancer wine (scikit-learn)"
_COLUMNS = "columns of --data"


@dataclass
class TrainConfig:
    """Every option of a training run; the defaults are ``chainrule train``'s.

    Source: ``data`` (a CSV path or a pandas DataFrame) with ``target``, or ``dataset`` (a
    name for :func:`chainrule.data.load_dataset`), or neither: the course's 2-4-1 network
    on the flower data set.  Options left as None take the defaults of that source.
    The fields are in the order ``chainrule train --help`` lists them.
    """

    data: Any = field(default=None, metadata=option(
        "--data", group="data", exclusive="source", metavar="FILE.csv",
        help="a CSV file with a header row"))
    dataset: str | None = field(default=None, metadata=option(
        "--dataset", group="data", exclusive="source", metavar="NAME", help=_SOURCE))
    target: str | None = field(default=None, metadata=option(
        "--target", group="data", metavar="COL", help="the target column of --data"))
    delimiter: str | None = field(default=None, metadata=option(
        "--delimiter", group="data", parse=parse_delimiter, metavar="CHAR",
        help="the field separator of --data (default: sniffed; 'tab' for TSV)"))
    task: str = field(default="auto", metadata=option(
        "--task", choices=("auto", "classification", "regression"),
        help="what to predict (default: decided from the target column)"))
    features: list[str] | None = field(default=None, metadata=option(
        "--features", group=_COLUMNS, parse=_names, check=_check_features, action="extend",
        metavar="A,B,...",
        help="use only these columns (kept even if they look like IDs or text)"))
    drop: list[str] = field(default_factory=list, metadata=option(
        "--drop", group=_COLUMNS, parse=_names, action="extend", metavar="A,B,...",
        help="leave these columns out"))
    categorical: list[str] = field(default_factory=list, metadata=option(
        "--categorical", group=_COLUMNS, parse=_names, action="extend", metavar="A,B,...",
        help="one-hot encode these columns (e.g. integer codes)"))
    unknown: str = field(default="zeros", metadata=option(
        "--unknown", group=_COLUMNS, choices=("zeros", "error"),
        check=_one_of("zeros", "error"),
        help="what predict does with a category unseen in training: encode it as all zeros "
             "with a warning (default) or refuse the file"))
    layers: list[int] | None = field(default=None, metadata=option(
        "--layers", group="model", parse=_layers, check=_check_layers, metavar="SIZES",
        help="hidden layer sizes, e.g. 64,32 (default 4 for the course's job, else 64)"))
    activation: str | None = field(default=None, metadata=option(
        "--activation", group="model", metavar="NAME",
        help="hidden activation: relu tanh sigmoid leaky_relu identity"))
    init: str | None = field(default=None, metadata=option(
        "--init", group="model", metavar="NAME",
        help="weight initialiser: normal (the course's N(0, 0.01)), xavier_uniform, "
             "kaiming_uniform, ... (default: PyTorch's)"))
    loss: str = field(default="auto", metadata=option(
        "--loss", group="training", metavar="NAME",
        help="mse bce bce_with_logits cross_entropy (default: bce for two classes, "
             "cross_entropy for more, mse for regression)"))
    optimizer: str | None = field(default=None, metadata=option(
        "--optimizer", group="training", metavar="NAME", help="sgd adam adamw rmsprop"))
    # The range of lr is the library's one rule (training.config.check_lr), which the
    # command line's parser applies before any data is read.
    lr: float | None = field(default=None, metadata=option(
        "--lr", group="training", parse=parse_positive_float, spell=lambda v: f"{v:g}",
        help="learning rate"))
    epochs: int | None = field(default=None, metadata=option(
        "--epochs", group="training", parse=parse_positive_int,
        help="most passes over the training data"))
    batch_size: int | str | None = field(default="default", metadata=option(
        "--batch-size", group="training", parse=_batch_size, metavar="N|full",
        spell=lambda v: "full" if v is None else str(v),
        help="examples per step, or 'full' for batch gradient descent"))
    val_split: float = field(default=0.2, metadata=option(
        "--val-split", group="training", parse=_fraction, metavar="F",
        feeds=("validation_split",),
        help="fraction held out for validation (default 0.2, stratified)"))
    test_split: float = field(default=0.0, metadata=option(
        "--test-split", group="training", parse=_fraction, metavar="F",
        help="fraction held out for a final test (default 0)"))
    patience: int | None = field(default=None, metadata=option(
        "--patience", group="training", parse=parse_positive_int, metavar="N",
        help="stop after N epochs without a better validation loss and keep the best weights "
             "(default 30 with data, off for the course's job)"))
    class_weight: str | dict[str, float] | None = field(default=None, metadata=option(
        "--class-weight", group="training", parse=parse_class_weight,
        check=_check_class_weight, action="merge", metavar="balanced|L=W,...",
        help="weight classes in the loss: 'balanced' (inverse frequency) or label=weight "
             "pairs, each weight 0 or from 1e-6 to 1e6 (a class not named weighs 1)"))
    seed: int = field(default=0, metadata=option(
        "--seed", group="training", parse=_whole, check=_check_seed,
        help="seed for the split, the initial weights and the shuffling (default 0)"))
    standardize: bool | None = field(default=None, metadata=option(
        "--standardize", group="training", action="boolean",
        feeds=("chainrule.data.StandardScaler",),
        help="standardise inputs with training statistics (default: on for --data and "
             "--dataset, off for the course's job)"))
    checkpoint: str | None = field(default=None, metadata=option(
        "--checkpoint", group="training", metavar="FILE",
        help="save the whole run (model, optimizer, shuffling state, epoch, history) to FILE, "
             "atomically, every --checkpoint-every epochs, at the end and on Ctrl-C"))
    checkpoint_every: int = field(default=1, metadata=option(
        "--checkpoint-every", group="training", parse=parse_positive_int, metavar="N",
        help="epochs between checkpoints (default 1)"))
    resume: bool = field(default=False, metadata=option(
        "--resume", group="training", action="store_true",
        help="continue from --checkpoint FILE if it exists, up to --epochs in all"))
    distributed: bool = field(default=False, metadata=option(
        "--distributed", group="training", action="store_true",
        help="data-parallel training over MPI; start with mpiexec -n N"))
    out: str | None = field(default=None, metadata=option(
        "--out", group="output", metavar="DIR", help="output folder (default runs/<data name>)"))
    plots: bool = field(default=True, metadata=option(
        "--no-plots", group="output", action="store_false", help="do not draw PNG plots"))
    # The command line shows progress unless told not to; a Python caller asks for it.
    verbose: int = field(default=0, metadata=option(
        "-q", "--quiet", group="output", action="store_const", const=0, default=1,
        help="no progress output"))

    @property
    def course_job(self) -> bool:
        """Whether this is the course's 2-4-1 flower job (no data given)."""
        return self.data is None and self.dataset is None

    def check(self) -> None:
        """Refuse options that can never run, naming the option (ConfigError): each field's
        own rule (its :class:`Flag`'s ``check``), then the rules that join two fields."""
        for f, flag in flags():
            value = getattr(self, f.name)
            if flag.check is not None and value is not None:
                try:
                    flag.check(value)
                except ConfigError as err:
                    raise ConfigError(_named(flag.name, str(err))) from None
        if self.val_split + self.test_split >= 1:
            raise ConfigError(f"--val-split {self.val_split} and --test-split "
                              f"{self.test_split} leave no rows for training")
        if self.resume and not self.checkpoint:
            raise ConfigError("--resume needs --checkpoint FILE, the checkpoint to continue "
                              "from")


def _named(flag: str, message: str) -> str:
    """``message`` about ``flag``'s value, naming the flag once: ``--seed: expected ...``,
    ``--features names the column ...``."""
    if message.startswith(flag):
        return message
    return f"{flag}: {message}" if message.startswith(("expected", "a ")) else f"{flag} {message}"


def flags() -> Iterator[tuple[Any, Flag]]:
    """(field, :class:`Flag`) of every option of :class:`TrainConfig`, in help order."""
    for f in fields(TrainConfig):
        if "cli" in f.metadata:
            yield f, f.metadata["cli"]


def flag_of(name: str) -> Flag:
    """The :class:`Flag` of the field (or library argument it feeds) ``name``; ConfigError
    listing the valid names otherwise."""
    for f, flag in flags():
        if name == f.name or name in flag.feeds:
            return flag
    valid = sorted(f.name for f, _ in flags())
    raise ConfigError(f"no option named {name!r}; the options are {', '.join(valid)}")
