"""The recipe of a run: which data, which layers, which loss and optimizer, and how batches
are drawn.  The live run (:mod:`.session`) builds itself from these functions and the
exported Python code (:mod:`.export`) prints the same calls, so the code trains exactly the
network the page showed.

>>> from chainrule.playground.config import RunConfig
>>> data_call(RunConfig(dataset="moons", noise=0.1, n_samples=200, seed=3))
('make_moons', {'n_samples': 200, 'noise': 0.1, 'seed': 3})
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from typing import Any

import numpy as np

from .. import data as crdata
from .. import nn, optim
from ..data.diagnosis import quote
from ..data.tabular import read_frame
from ..errors import ChainruleError, ConfigError, DataError
from ..nn import activations, losses
from ..optim import registry as optimizers
from .config import DATASETS, LIMITS, RunConfig

__all__ = ["Batches", "LayerSpec", "Prepared", "build_loss", "build_model", "build_optimizer",
           "data_call", "layer_specs", "loss_call", "n_outputs", "optimizer_call", "prepare",
           "resolve_output", "targets", "targets_source"]

CONSTANT_INIT = 0.5  # "all weights 0.5": every hidden unit starts as the same function


def data_call(cfg: RunConfig) -> tuple[str, dict[str, Any]]:
    """The ``chainrule.data`` generator and its keyword arguments for a built-in data set."""
    _, default_noise, default_n = DATASETS[cfg.dataset]
    n = cfg.n_samples or default_n
    noise = default_noise if cfg.noise is None else cfg.noise
    if cfg.dataset == "flower":
        return "make_flower", {"n_samples": n, "noise": noise, "seed": cfg.seed}
    if cfg.dataset == "spirals":
        return "make_spirals", {"n_samples": n, "classes": 3, "noise": noise, "seed": cfg.seed}
    if cfg.dataset == "blobs":
        return "make_blobs", {"n_samples": n, "centers": 3, "std": noise, "box": (-3.0, 3.0),
                              "seed": cfg.seed}
    if cfg.dataset in ("moons", "circles", "xor"):
        return f"make_{cfg.dataset}", {"n_samples": n, "noise": noise, "seed": cfg.seed}
    raise ConfigError(f"data set {cfg.dataset!r} has no generator")


@dataclass
class Prepared:
    """The data of a run: all points (for drawing) and the split the network trains on."""

    X: np.ndarray  # (n, 2) as generated or read, before any standardisation
    y: np.ndarray  # (n,) integer class codes
    class_names: list[str]
    feature_names: list[str]
    X_train: np.ndarray  # standardised when the config says so
    y_train: np.ndarray
    X_val: np.ndarray
    y_val: np.ndarray
    train_rows: np.ndarray  # X_train's rows in X, for drawing which point is which
    val_rows: np.ndarray
    scaler: crdata.StandardScaler | None
    target: str = "label"  # the label column's name as the CSV reader parsed it


def _read_csv(cfg: RunConfig) -> tuple[crdata.Dataset, str]:
    """The uploaded file as a Dataset, and its label column's name.

    The column names are the ones the CSV reader parsed (a quoted header cell may hold a
    comma or a line break), never a re-split of the header text.  The text goes to a private
    temporary file for the reader; every message names the uploaded file instead of it.
    """
    shown = os.path.basename(cfg.csv_name) or "data.csv"
    with tempfile.TemporaryDirectory(prefix="chainrule-playground-") as folder:
        path = os.path.join(folder, "upload.csv")
        with open(path, "w", encoding="utf-8", newline="") as f:
            f.write(cfg.csv or "")
        try:
            frame = read_frame(path)
            columns = [str(c) for c in frame.columns]
            if len(columns) != 3:
                raise DataError(f"{shown}: the CSV file must have 3 columns (two numeric "
                                f"features, then the label); its header has {len(columns)}: "
                                f"{', '.join(quote(c) for c in columns[:5])}"
                                f"{', ...' if len(columns) > 5 else ''}")
            ds = crdata.load_csv(frame, target=columns[-1], task="classification")
        except ChainruleError as err:
            raise type(err)(str(err).replace(path, shown).replace(folder, shown)) from None
        except (ValueError, TypeError, UnicodeError, OSError, LookupError) as err:
            # the reader's own failure on a file it should have refused by name
            detail = str(err).replace(path, shown).replace(folder, shown)
            raise DataError(f"{shown}: cannot be read as a CSV file ({type(err).__name__}: "
                            f"{detail[:200]}); save it as comma-separated UTF-8 text") from None
    if len(ds.X) > LIMITS["max_examples"]:
        raise DataError(f"{shown} has {len(ds.X)} rows; the playground takes at most "
                        f"{LIMITS['max_examples']}")
    if not 2 <= ds.n_classes <= 10:
        raise DataError(f"{shown}: the label column {quote(columns[-1])} has {ds.n_classes} "
                        "classes; the playground needs 2 to 10")
    return ds, columns[-1]


def prepare(cfg: RunConfig) -> Prepared:
    """Generate (or read) the data, split it and standardise it as ``cfg`` says."""
    target = "label"
    if cfg.dataset == "csv":
        ds, target = _read_csv(cfg)
        X, y = ds.X.astype(np.float64), ds.y.astype(np.int64)
        class_names = [str(c) for c in ds.class_names or []]
        features = [str(f) for f in ds.feature_names]
    else:
        name, kwargs = data_call(cfg)
        X, y = getattr(crdata, name)(**kwargs)
        y = np.asarray(y).reshape(-1).astype(np.int64)
        class_names = [str(k) for k in range(int(y.max()) + 1)]
        features = ["x1", "x2"]
    rows = np.arange(len(X))
    if cfg.val_split > 0:
        tr, va, _, _ = crdata.train_test_split(rows, y, test_size=cfg.val_split,
                                               stratify=True, seed=cfg.seed)
    else:
        tr, va = rows, rows[:0]
    scaler = crdata.StandardScaler().fit(X[tr]) if cfg.standardize else None
    scale = scaler.transform if scaler is not None else (lambda a: a)
    return Prepared(X, y, class_names, features, scale(X[tr]), y[tr],
                    scale(X[va]) if len(va) else X[va], y[va], tr, va, scaler, target)


def resolve_output(cfg: RunConfig, n_classes: int) -> str:
    """The output and loss for ``n_classes`` classes ('auto' picks the usual one)."""
    output = cfg.output
    if output == "auto":
        output = "sigmoid_bce" if n_classes == 2 else "softmax_ce"
    if output == "sigmoid_bce" and n_classes != 2:
        raise ConfigError(f"a sigmoid output with binary cross-entropy needs 2 classes; this "
                          f"data set has {n_classes}; choose 'softmax + cross-entropy'")
    return output


def n_outputs(output: str, n_classes: int) -> int:
    """Output units: one for a sigmoid (or a linear output on two classes), else one per class."""
    return 1 if output == "sigmoid_bce" or (output == "linear_mse" and n_classes == 2) \
        else n_classes


@dataclass
class LayerSpec:
    """One layer of the network: ``kind`` is 'linear' or an activation name."""

    kind: str
    n_in: int = 0
    n_out: int = 0
    init: str = "default"

    def source(self) -> str:
        """The layer as Python source; ``rng`` and ``all_half`` are names the code defines."""
        if self.kind != "linear":
            options = ", ".join(f"{k}={v!r}" for k, v in LAYER_OPTIONS.get(self.kind, {}).items())
            return f"nn.{activations.get(self.kind).__name__}({options})"
        init = {"default": "", "constant": ", init=all_half"}.get(self.init,
                                                                  f", init={str(self.init)!r}")
        return f"nn.Linear({int(self.n_in)}, {int(self.n_out)}{init}, dtype=np.float64, rng=rng)"

    def build(self, rng: np.random.Generator) -> nn.Module:
        """The layer that :meth:`source` describes, drawing from ``rng``."""
        if self.kind != "linear":
            return activations.get(self.kind)(**LAYER_OPTIONS.get(self.kind, {}))
        init = {"default": None, "constant": all_half}.get(self.init, self.init)
        return nn.Linear(self.n_in, self.n_out, init=init, dtype=np.float64, rng=rng)


# An activation layer's options where the playground fixes them (its label says so); the
# classes come from the activation table, chainrule.nn.activations.
LAYER_OPTIONS: dict[str, dict[str, Any]] = {"leaky_relu": {"negative_slope": 0.01}}

# Each output choice's loss, by its key in the loss table (chainrule.nn.losses).
OUTPUT_LOSSES: dict[str, str] = {"sigmoid_bce": "bce", "softmax_ce": "cross_entropy",
                                 "linear_mse": "mse"}

# Each optimizer choice: its key in the optimizer table (chainrule.optim.registry) and its
# options ("gd" and "sgd" differ in their batches, not in the optimizer).
OPTIMIZER_CHOICES: dict[str, tuple[str, dict[str, Any]]] = {
    "gd": ("sgd", {}),
    "sgd": ("sgd", {}),
    "momentum": ("sgd", {"momentum": 0.9}),
    "adam": ("adam", {}),
}


def layer_specs(cfg: RunConfig, n_in: int, n_out: int, output: str) -> list[LayerSpec]:
    """The layers in order: Linear, activation, ..., Linear (then a Sigmoid for sigmoid_bce)."""
    sizes = [n_in, *cfg.hidden, n_out]
    specs = []
    for i in range(len(sizes) - 1):
        specs.append(LayerSpec("linear", sizes[i], sizes[i + 1], cfg.init))
        if i < len(sizes) - 2:
            specs.append(LayerSpec(cfg.activation))
    if output == "sigmoid_bce":
        specs.append(LayerSpec("sigmoid"))
    return specs


def all_half(weight: Any, rng: Any = None) -> Any:
    """The constant initialiser: every weight 0.5 (biases start at 0)."""
    return nn.init.constant_(weight, CONSTANT_INIT)


def build_model(specs: list[LayerSpec], seed: int) -> nn.Sequential:
    """The network of ``specs``, every layer drawing from one generator seeded with ``seed``."""
    rng = np.random.default_rng(seed)
    return nn.Sequential(*(spec.build(rng) for spec in specs))


def loss_call(output: str) -> str:
    """The loss as Python source."""
    return f"nn.{losses.get(OUTPUT_LOSSES[output]).__name__}()"


def build_loss(output: str) -> nn.Module:
    """The loss of :func:`loss_call`."""
    return losses.get(OUTPUT_LOSSES[output])()


def targets(y: np.ndarray, output: str, n_out: int) -> np.ndarray:
    """The labels in the shape the loss takes: a column of 0/1, class codes, or one-hot rows."""
    if output == "softmax_ce":
        return y
    if n_out == 1:
        return y.reshape(-1, 1).astype(np.float64)
    return crdata.one_hot(y, n_out)


def targets_source(output: str, n_out: int) -> str:
    """:func:`targets` as Python source, for ``y_train``."""
    if output == "softmax_ce":
        return "y_train"
    if n_out == 1:
        return "y_train.reshape(-1, 1).astype(np.float64)"
    return f"one_hot(y_train, {int(n_out)})"


def optimizer_call(cfg: RunConfig) -> str:
    """The optimizer as Python source (over ``model.parameters()``)."""
    name, options = OPTIMIZER_CHOICES[cfg.optimizer]
    extra = "".join(f", {k}={v!r}" for k, v in options.items())
    cls = optimizers.get(name).__name__
    return f"cr.optim.{cls}(model.parameters(), lr={float(cfg.lr)!r}{extra})"


def build_optimizer(cfg: RunConfig, model: nn.Module) -> optim.Optimizer:
    """The optimizer of :func:`optimizer_call`."""
    name, options = OPTIMIZER_CHOICES[cfg.optimizer]
    return optimizers.get(name)(model.parameters(), lr=cfg.lr, **options)


class Batches:
    """Which training rows each step uses: all of them for batch gradient descent, else
    mini-batches of ``batch_size`` from a fresh shuffle each epoch (the last may be smaller).

    >>> b = Batches(5, 2, seed=0)
    >>> [len(b.next()) for _ in range(4)], b.done(4)
    ([2, 2, 1, 2], 1)
    """

    def __init__(self, m: int, batch_size: int | None, seed: int) -> None:
        self.m = m
        self.batch_size = batch_size if batch_size and batch_size < m else None
        self.rng = np.random.default_rng(seed + 1)
        self.order = np.arange(m)
        self.pos = m  # at the end of a pass: the first step shuffles

    def next(self) -> np.ndarray:
        """The rows of the next step."""
        if self.batch_size is None:
            return self.order
        if self.pos >= self.m:
            self.order = self.rng.permutation(self.m)
            self.pos = 0
        rows = self.order[self.pos:self.pos + self.batch_size]
        self.pos += self.batch_size
        return rows

    def done(self, steps: int) -> int:
        """Completed epochs after ``steps`` steps."""
        if self.batch_size is None:
            return steps
        per_epoch = -(-self.m // self.batch_size)
        return steps // per_epoch
