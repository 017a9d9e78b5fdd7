"""The job spec: every option of a training run (:class:`TrainConfig`), each checked once.

``chainrule train`` and :func:`chainrule.workflow.train` both start from a :class:`TrainConfig`;
the checks here are those of the options alone (a seed in range, a class weight that is a
number); what needs the data (a class weight naming a class the target holds) is checked where
the data is read.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .data.tabular import quote
from .errors import ConfigError

__all__ = ["MAX_CLASS_WEIGHT", "TrainConfig", "check_class_weight", "parse_class_weight"]

_MAX_SEED = 2**32 - 1
_MAX_WIDTH = 100_000


@dataclass
class TrainConfig:
    """Every option of a training run; the defaults are ``chainrule train``'s.

    Source: ``data`` (a CSV path or a pandas DataFrame) with ``target``, or ``dataset`` (a
    name for :func:`chainrule.data.load_dataset`), or neither: the course's 2-4-1 network
    on the flower data set.  Options left as None take the defaults of that source.
    """

    data: Any = None
    dataset: str | None = None
    target: str | None = None
    task: str = "auto"
    delimiter: str | None = None
    features: list[str] | None = None
    drop: list[str] = field(default_factory=list)
    categorical: list[str] = field(default_factory=list)
    unknown: str = "zeros"
    layers: list[int] | None = None
    activation: str | None = None
    init: str | None = None
    loss: str = "auto"
    optimizer: str | None = None
    lr: float | None = None
    epochs: int | None = None
    batch_size: int | str | None = "default"
    val_split: float = 0.2
    test_split: float = 0.0
    patience: int | None = None
    seed: int = 0
    standardize: bool | None = None
    class_weight: str | dict[str, float] | None = None
    checkpoint: str | None = None
    checkpoint_every: int = 1
    resume: bool = False
    out: str | None = None
    plots: bool = True
    distributed: bool = False
    verbose: int = 0

    @property
    def course_job(self) -> bool:
        """Whether this is the course's 2-4-1 flower job (no data given)."""
        return self.data is None and self.dataset is None

    def check(self) -> None:
        """Refuse options that can never run, naming the option (ConfigError)."""
        if isinstance(self.seed, bool) or not isinstance(self.seed, (int, np.integer)) or \
                not 0 <= self.seed <= _MAX_SEED:
            raise ConfigError(f"--seed must be a whole number from 0 to {_MAX_SEED}, got "
                              f"{quote(self.seed)}")
        for size in self.layers or []:
            if not 1 <= size <= _MAX_WIDTH:
                raise ConfigError(f"--layers: a layer of {size:,} units is beyond the "
                                  f"{_MAX_WIDTH:,} this command builds; use smaller layers")
        seen: set[str] = set()
        for name in self.features or []:
            if name in seen:
                raise ConfigError(f"--features names the column {quote(name)} twice; name "
                                  "each column once")
            seen.add(name)
        if self.unknown not in ("zeros", "error"):
            raise ConfigError(f"--unknown must be zeros or error, got {quote(self.unknown)}")
        if isinstance(self.class_weight, str) and self.class_weight != "balanced":
            raise ConfigError(f"--class-weight must be 'balanced' or label=weight pairs, got "
                              f"{quote(self.class_weight)}")
        if isinstance(self.class_weight, dict):
            for label, weight in self.class_weight.items():
                check_class_weight(label, weight)
        if self.val_split + self.test_split >= 1:
            raise ConfigError(f"--val-split {self.val_split} and --test-split "
                              f"{self.test_split} leave no rows for training")
        if self.resume and not self.checkpoint:
            raise ConfigError("--resume needs --checkpoint FILE, the checkpoint to continue "
                              "from")


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
