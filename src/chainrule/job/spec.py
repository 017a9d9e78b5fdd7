"""The job spec: every option of a training run (:class:`TrainConfig`), each declared once.

Each field of :class:`TrainConfig` carries, as field metadata, its command-line declaration
(a :class:`~chainrule.job.options.Flag`: the flag, the text parser, the help line, the one
rule its value must keep), so ``chainrule train``'s parser and the config it builds come from
the fields themselves: adding an option is adding a field.  :meth:`TrainConfig.check` runs the
same rules on values given from Python, so each value is checked once, by one function; what
the library checks itself (the loss, optimizer and activation names, the task) is left to it,
and what needs the data (a class weight naming a class the target holds) is checked where the
data is read (:mod:`chainrule.job.rules`).

>>> flag_of("batch_size").flags, flag_of("batch_size").spell(None)
(('--batch-size',), 'full')
>>> TrainConfig(seed=-1).check()  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
chainrule.errors.ConfigError: --seed: expected a whole number from 0 to 4294967295, got -1
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field, fields
from typing import Any

from ..errors import ConfigError
from ..training.config import TrainConfig as TrainerConfig
from .options import (
    Flag,
    check_class_weights,
    check_device,
    check_features,
    check_layers,
    check_seed,
    one_of,
    option,
    parse_batch_size,
    parse_class_weight,
    parse_delimiter,
    parse_fraction,
    parse_layers,
    parse_names,
    parse_positive_float,
    parse_positive_int,
    parse_whole,
)

__all__ = ["TEXT_ONLY", "TrainConfig", "flag_of", "flags"]

_SOURCE = "a named data set: flower xor moons circles spirals blobs (built in) or digits " \
          "iris breast_cancer wine (scikit-learn)"
_COLUMNS = "columns of --data"
_TEXT = "language model (with --text)"
TEXT_ONLY = ("model", "embed", "hidden", "block_size", "heads")
"""The fields that describe a character-level language model: they need ``text``."""


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
    text: str | None = field(default=None, metadata=option(
        "--text", group="data", exclusive="source", metavar="FILE.txt",
        help="a text file of words (names), one per line: train a character-level language "
             "model on it (see the language model options)"))
    target: str | None = field(default=None, metadata=option(
        "--target", group="data", metavar="COL", help="the target column of --data"))
    delimiter: str | None = field(default=None, metadata=option(
        "--delimiter", group="data", parse=parse_delimiter, metavar="CHAR",
        help="the field separator of --data (default: sniffed; 'tab' for TSV)"))
    task: str = field(default="auto", metadata=option(
        "--task", choices=("auto", "classification", "regression"),
        help="what to predict (default: decided from the target column)"))
    features: list[str] | None = field(default=None, metadata=option(
        "--features", group=_COLUMNS, parse=parse_names, check=check_features, action="extend",
        metavar="A,B,...",
        help="use only these columns (kept even if they look like IDs or text)"))
    drop: list[str] = field(default_factory=list, metadata=option(
        "--drop", group=_COLUMNS, parse=parse_names, action="extend", metavar="A,B,...",
        help="leave these columns out"))
    categorical: list[str] = field(default_factory=list, metadata=option(
        "--categorical", group=_COLUMNS, parse=parse_names, action="extend", metavar="A,B,...",
        help="treat these columns as categories, e.g. integer codes (one-hot, or target "
             "encoded past 50 values)"))
    unknown: str = field(default="zeros", metadata=option(
        "--unknown", group=_COLUMNS, choices=("zeros", "error"),
        check=one_of("zeros", "error"),
        help="what predict does with a category unseen in training: encode it as all zeros "
             "(a target-encoded column: as its rare categories) with a warning (default) or "
             "refuse the file"))
    layers: list[int] | None = field(default=None, metadata=option(
        "--layers", group="model", parse=parse_layers, check=check_layers, metavar="SIZES",
        spell=lambda v: ",".join(map(str, v)),
        help="hidden layer sizes, e.g. 64,32 (default 4 for the course's job, else 64)"))
    activation: str | None = field(default=None, metadata=option(
        "--activation", group="model", metavar="NAME",
        help="hidden activation: relu tanh sigmoid leaky_relu identity"))
    init: str | None = field(default=None, metadata=option(
        "--init", group="model", metavar="NAME",
        help="weight initialiser: normal (the course's N(0, 0.01)), xavier_uniform, "
             "kaiming_uniform, ... (default: PyTorch's)"))
    model: str | None = field(default=None, metadata=option(
        "--model", group=_TEXT, metavar="NAME",
        help="bigram mlp rnn gru lstm transformer (default gru); --layers N stacks N "
             "recurrent or transformer layers"))
    embed: int | None = field(default=None, metadata=option(
        "--embed", group=_TEXT, parse=parse_positive_int, metavar="N",
        help="numbers per character vector"))
    hidden: int | None = field(default=None, metadata=option(
        "--hidden", group=_TEXT, parse=parse_positive_int, metavar="N",
        help="hidden units (the recurrent state; the mlp's hidden layer; the transformer's "
             "feed-forward width)"))
    block_size: int | None = field(default=None, metadata=option(
        "--block-size", group=_TEXT, parse=parse_positive_int, metavar="N",
        help="characters of context (mlp; default 3) or positions (transformer; default: the "
             "longest word plus one)"))
    heads: int | None = field(default=None, metadata=option(
        "--heads", group=_TEXT, parse=parse_positive_int, metavar="N",
        help="attention heads of the transformer (default 4)"))
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
        "--batch-size", group="training", parse=parse_batch_size, metavar="N|full",
        spell=lambda v: "full" if v is None else str(v),
        help="examples per step, or 'full' for batch gradient descent"))
    val_split: float = field(default=0.2, metadata=option(
        "--val-split", group="training", parse=parse_fraction, metavar="F",
        feeds=("validation_split",),
        help="fraction held out for validation (default 0.2, stratified)"))
    test_split: float = field(default=0.0, metadata=option(
        "--test-split", group="training", parse=parse_fraction, metavar="F",
        help="fraction held out for a final test (default 0)"))
    patience: int | None = field(default=None, metadata=option(
        "--patience", group="training", parse=parse_positive_int, metavar="N",
        help="stop after N epochs without a better validation loss and keep the best weights "
             "(default 30 with data, off for the course's job)"))
    class_weight: str | dict[str, float] | None = field(default=None, metadata=option(
        "--class-weight", group="training", parse=parse_class_weight,
        check=check_class_weights, action="merge", metavar="balanced|L=W,...",
        help="weight classes in the loss: 'balanced' (inverse frequency) or label=weight "
             "pairs, each weight 0 or from 1e-6 to 1e6 (a class not named weighs 1)"))
    seed: int = field(default=0, metadata=option(
        "--seed", group="training", parse=parse_whole, check=check_seed,
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
    device: str = field(default="cpu", metadata=option(
        "--device", group="training", check=check_device, metavar="NAME",
        help="where to train: cpu (default) or cuda, an NVIDIA GPU (needs CuPy: pip install "
             "'chainrule[gpu]'); the model file is the same either way"))
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

    def run_options(self) -> RunOptions:
        """What the options come to: the user's choices over the course job's defaults, or
        over those for real data."""
        return RunOptions.of(self)

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
        if self.text is not None:
            raise ConfigError("a character-level language model is trained by "
                              "chainrule.text.train(TextConfig(text, ...)), or 'chainrule "
                              "train --text FILE'")
        given = [flag_of(name).name for name in TEXT_ONLY if getattr(self, name) is not None]
        if given:
            raise ConfigError(f"{', '.join(given)} {'needs' if len(given) == 1 else 'need'} "
                              "--text FILE (a file of words, one per line): "
                              f"{'it describes' if len(given) == 1 else 'they describe'} a "
                              "character-level language model")
        if self.resume and not self.checkpoint:
            raise ConfigError("--resume needs --checkpoint FILE, the checkpoint to continue "
                              "from")


@dataclass
class RunOptions:
    """A job's options after defaults: the course's 2-4-1 job (full-batch gradient descent,
    learning rate 1.2, 10,000 epochs) or the defaults for real data (Adam, batches of 32, early
    stopping on the validation loss).  :meth:`trainer_config` is the trainer's share of it.

    >>> RunOptions.of(TrainConfig()).optimizer, RunOptions.of(TrainConfig(data="t.csv")).optimizer
    ('sgd', 'adam')
    """

    course: bool
    layers: list[int]
    activation: str
    optimizer: str
    lr: float | None
    epochs: int
    batch_size: int | None
    init: str | None
    standardize: bool
    patience: int | None

    @classmethod
    def of(cls, cfg: TrainConfig) -> RunOptions:
        course = cfg.course_job

        def pick(value: Any, for_course: Any, general: Any) -> Any:
            return value if value is not None else (for_course if course else general)

        return cls(
            course=course,
            layers=pick(cfg.layers, [4], [64]),
            activation=pick(cfg.activation, "tanh", "relu"),
            optimizer=pick(cfg.optimizer, "sgd", "adam"),
            lr=pick(cfg.lr, 1.2, None),
            epochs=pick(cfg.epochs, 10_000, 300),
            batch_size=(None if course else 32) if cfg.batch_size == "default"
            else cfg.batch_size,
            init=pick(cfg.init, "normal", None),
            standardize=pick(cfg.standardize, False, True),
            # Early stopping on the validation loss keeps the best epoch's weights; without it
            # a generous epoch budget would overfit small tables.
            patience=pick(cfg.patience, None, 30 if cfg.val_split > 0 else None),
        )

    def trainer_config(self, cfg: TrainConfig, *, loss: Any, callbacks: list[Any],
                       stream: Any, distributed: Any) -> TrainerConfig:
        """The trainer's configuration for this job (what ``cr.fit`` would be told)."""
        return TrainerConfig(loss=loss, optimizer=self.optimizer, lr=self.lr,
                             batch_size=self.batch_size, seed=cfg.seed, callbacks=callbacks,
                             verbose=cfg.verbose, stream=stream, distributed=distributed,
                             checkpoint=cfg.checkpoint, checkpoint_every=cfg.checkpoint_every,
                             device=cfg.device)


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
