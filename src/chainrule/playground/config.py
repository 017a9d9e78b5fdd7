"""What a playground run is made of: the data set, the network and the optimizer, as one
checked :class:`RunConfig`, and the name tables the page's selectors are built from.

Every value arrives from a browser, so :func:`parse_config` checks each one against its
table or range and raises :class:`~chainrule.errors.ConfigError` naming the field, the value
and what is allowed.

>>> cfg = parse_config({"dataset": "moons", "hidden": [3, 3], "activation": "relu"})
>>> cfg.hidden, cfg.output, cfg.optimizer
([3, 3], 'auto', 'gd')
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from ..errors import ConfigError
from . import schema

__all__ = [
    "ACTIVATIONS",
    "DATASETS",
    "INITS",
    "LIMITS",
    "OPTIMIZERS",
    "OUTPUTS",
    "RunConfig",
    "options",
    "parse_config",
]

# name -> (label shown on the page, default noise, default number of examples)
DATASETS: dict[str, tuple[str, float, int]] = {
    "flower": ("flower (the course's data set)", 0.2, 400),
    "moons": ("moons", 0.15, 400),
    "circles": ("circles", 0.08, 400),
    "spirals": ("spirals (3 classes)", 0.15, 450),
    "xor": ("xor", 0.05, 400),
    "blobs": ("blobs (3 classes)", 0.6, 300),
    "csv": ("your CSV file", 0.0, 0),
}

# The hidden activations the page offers, name -> label.  Each name is a key of the activation
# table (chainrule.nn.activations.ACTIVATIONS), whose class the run builds (recipe.LayerSpec).
ACTIVATIONS: dict[str, str] = {
    "tanh": "tanh",
    "sigmoid": "sigmoid",
    "relu": "ReLU",
    "leaky_relu": "leaky ReLU (slope 0.01)",
}

OUTPUTS: dict[str, str] = {
    "auto": "automatic (sigmoid for 2 classes, softmax for more)",
    "sigmoid_bce": "sigmoid + binary cross-entropy",
    "softmax_ce": "softmax + cross-entropy",
    "linear_mse": "linear + mean squared error",
}

INITS: dict[str, str] = {
    "normal": "small normal (std 0.01), the course's",
    "default": "uniform ±1/√fan-in (PyTorch's default)",
    "xavier_uniform": "Xavier (Glorot) uniform",
    "kaiming_normal": "He (Kaiming) normal",
    "constant": "all weights 0.5 (symmetric)",
    "zeros": "all weights 0",
}

# The optimizer choices, name -> label; recipe.OPTIMIZER_CHOICES gives each one's class from
# the optimizer table (chainrule.optim.registry) and its options.
OPTIMIZERS: dict[str, str] = {
    "gd": "batch gradient descent (all examples per step)",
    "sgd": "SGD (mini-batches)",
    "momentum": "SGD with momentum 0.9",
    "adam": "Adam",
}

# Bounds that keep every request's work small; the page shows the same limits.
LIMITS = {
    "max_layers": 6,
    "max_units": 16,
    "max_examples": 2000,
    "max_csv_bytes": 256 * 1024,
    "max_steps_per_request": 1000,
}
MAX_NAME_CHARS = 255  # the uploaded file's name, as a file system allows


@dataclass
class RunConfig:
    """Everything that defines a run; two runs with equal configs train identically."""

    dataset: str = "flower"
    noise: float | None = None  # None: the data set's default
    n_samples: int | None = None  # None: the data set's default
    val_split: float = 0.2
    standardize: bool = False
    hidden: list[int] = field(default_factory=lambda: [4])
    activation: str = "tanh"
    output: str = "auto"
    init: str = "normal"
    optimizer: str = "gd"
    lr: float = 1.2
    batch_size: int = 32
    seed: int = 1
    csv: str | None = field(default=None, repr=False)  # the uploaded file's text
    csv_name: str = "data.csv"

    def public(self) -> dict[str, Any]:
        """The config as JSON-ready values (without the uploaded text)."""
        d = asdict(self)
        d.pop("csv")
        return d


def parse_config(raw: Any) -> RunConfig:
    """Check the JSON object ``raw`` from the page and build a :class:`RunConfig`.

    Every field must have JSON's own type (``"standardize": "false"`` is refused, not read as
    true) and lie in its range; see :mod:`.schema`.

    >>> parse_config({"hidden": [40]})
    Traceback (most recent call last):
    ...
    chainrule.errors.ConfigError: hidden: at most 16 units per layer, got 40
    """
    raw = schema.obj(raw, "the run configuration")
    schema.check_keys(raw, RunConfig.__dataclass_fields__, "configuration")
    d = RunConfig()
    hidden = raw.get("hidden", d.hidden)
    if not isinstance(hidden, list) or len(hidden) > LIMITS["max_layers"]:
        raise ConfigError(f"hidden: expected a list of at most {LIMITS['max_layers']} layer "
                          f"sizes, got {schema.shown(hidden)}")
    for units in hidden:
        if not isinstance(units, int) or isinstance(units, bool) or units < 1:
            raise ConfigError(f"hidden: layer sizes must be positive whole numbers, got "
                              f"{schema.shown(units)}")
        if units > LIMITS["max_units"]:
            raise ConfigError(f"hidden: at most {LIMITS['max_units']} units per layer, got "
                              f"{units}")
    csv = schema.text(raw, "csv", 4 * LIMITS["max_csv_bytes"], None)
    if csv is not None and len(csv.encode()) > LIMITS["max_csv_bytes"]:
        raise ConfigError(f"the CSV file is {len(csv.encode())} bytes; the playground takes "
                          f"at most {LIMITS['max_csv_bytes']} (a few thousand rows)")
    dataset = schema.member(raw, "dataset", DATASETS, "data set", d.dataset)
    if dataset == "csv" and not csv:
        raise ConfigError("dataset 'csv' needs the file's text in 'csv'; drop a CSV file "
                          "with two numeric feature columns and a label column")
    return RunConfig(
        dataset=dataset,
        noise=schema.real(raw, "noise", 0.0, 2.0, None),
        n_samples=schema.whole(raw, "n_samples", 20, LIMITS["max_examples"], None),
        val_split=schema.real(raw, "val_split", 0.0, 0.5, d.val_split),
        standardize=schema.flag(raw, "standardize", d.standardize),
        hidden=list(hidden),
        activation=schema.member(raw, "activation", ACTIVATIONS, "activation", d.activation),
        output=schema.member(raw, "output", OUTPUTS, "output", d.output),
        init=schema.member(raw, "init", INITS, "initialisation", d.init),
        optimizer=schema.member(raw, "optimizer", OPTIMIZERS, "optimizer", d.optimizer),
        lr=schema.real(raw, "lr", 1e-6, 100.0, d.lr),
        batch_size=schema.whole(raw, "batch_size", 1, LIMITS["max_examples"], d.batch_size),
        seed=schema.whole(raw, "seed", 0, 2**31 - 1, d.seed),
        csv=csv,
        csv_name=schema.text(raw, "csv_name", MAX_NAME_CHARS, d.csv_name),
    )


def options() -> dict[str, Any]:
    """The choices and limits, for the page's selectors (``GET /api/options``)."""
    return {
        "datasets": [{"name": k, "label": v[0], "noise": v[1], "n_samples": v[2]}
                     for k, v in DATASETS.items()],
        "activations": [{"name": k, "label": v} for k, v in ACTIVATIONS.items()],
        "outputs": [{"name": k, "label": v} for k, v in OUTPUTS.items()],
        "inits": [{"name": k, "label": v} for k, v in INITS.items()],
        "optimizers": [{"name": k, "label": v} for k, v in OPTIMIZERS.items()],
        "limits": dict(LIMITS),
        "defaults": RunConfig().public(),
    }
