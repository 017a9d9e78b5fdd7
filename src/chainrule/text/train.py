"""Training a character-level language model on a text file: :class:`TextConfig` says what
to train, :func:`train` reads the words, splits them, trains with Adam on next-character
cross-entropy, measures the validation loss each epoch and writes the run's folder
(``model.safetensors``, ``history.csv``, ``loss.png``).

>>> import os, tempfile
>>> folder = tempfile.mkdtemp()
>>> path = os.path.join(folder, "names.txt")
>>> _ = open(path, "w").write("emma\\nolivia\\nava\\nisabella\\nsophia\\n" * 4)
>>> result = train(TextConfig(path, model="bigram", epochs=3, out=folder, plots=False))
>>> result.metrics["train"]["loss"] < result.baseline   # better than a uniform guess
True
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TextIO

import numpy as np

from ..engine.devices import device as check_device
from ..errors import ConfigError
from ..io import writes_to
from ..optim import Adam
from ..runs import HISTORY_FILE, MODEL_FILE, PLOT_FILES, RunLock
from ..training import curves
from .lm import LanguageModel
from .models import Sizes, get
from .vocab import read_words

__all__ = ["TextConfig", "TextResult", "split_words", "train"]


@dataclass
class TextConfig:
    """What to train: a ``model`` kind (see :data:`chainrule.text.models.MODELS`) on the
    words of the file ``text``, one per line.  Sizes, ``lr``, ``batch_size`` and ``epochs``
    left as None take the kind's defaults; ``val_split`` of the words (shuffled with
    ``seed``) is held out to measure the validation loss.  ``out`` is the run's folder
    (default ``runs/<file name>``); ``verbose`` 1 prints a line per epoch to the stream.

    Args:
        text: The file of words, one per line (UTF-8).
        model: The model kind: ``"bigram"``, ``"mlp"``, ``"rnn"``, ``"gru"``, ``"lstm"`` or
            ``"transformer"``.
        embed: The length of each character's vector.
        hidden: The hidden size.
        layers: The number of recurrent or transformer layers.
        block_size: How many characters the mlp and the transformer see at once.
        heads: The transformer's attention heads.
        epochs: Passes over the training words.
        lr: Adam's learning rate.
        batch_size: Words per step; ``"default"`` takes the kind's, None all words at once.
        val_split: The fraction of the words held out for the validation loss.
        seed: The seed of the shuffle, the initial weights and the batches.
        device: Where to train (``"cpu"``, ``"cuda"``).
        out: The run's folder (default ``runs/<file name>``).
        plots: Whether to draw ``loss.png``.
        verbose: 1 prints a line per epoch.
    """

    text: str | os.PathLike[str]
    model: str = "gru"
    embed: int | None = None
    hidden: int | None = None
    layers: int | None = None
    block_size: int | None = None
    heads: int | None = None
    epochs: int | None = None
    lr: float | None = None
    batch_size: int | str | None = "default"
    val_split: float = 0.1
    seed: int = 0
    device: str = "cpu"
    out: str | os.PathLike[str] | None = None
    plots: bool = True
    verbose: int = 0

    @property
    def sizes(self) -> Sizes:
        return Sizes(self.embed, self.hidden, self.layers, self.block_size, self.heads)

    def check(self) -> None:
        """Refuse values that can never train (ConfigError naming the option)."""
        get(self.model)
        for name in ("embed", "hidden", "layers", "block_size", "heads", "epochs"):
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int)
                                      or value < 1):
                raise ConfigError(f"{name} must be a positive whole number, got {value!r}")
        if self.lr is not None and not (isinstance(self.lr, (int, float))
                                        and math.isfinite(self.lr) and self.lr > 0):
            raise ConfigError(f"lr must be a positive number, got {self.lr!r}")
        if not (isinstance(self.val_split, (int, float)) and 0 <= self.val_split < 1):
            raise ConfigError(f"val_split must be a fraction from 0 to below 1, got "
                              f"{self.val_split!r}")
        if self.batch_size not in (None, "default") and (
                isinstance(self.batch_size, bool) or not isinstance(self.batch_size, int)
                or self.batch_size < 1):
            raise ConfigError(f"batch_size must be a positive whole number or None (every "
                              f"example at once), got {self.batch_size!r}")
        check_device(self.device)


@dataclass
class TextResult:
    """What a run produced: the trained ``model``, the ``metrics`` of each split (``loss``,
    the mean negative log-likelihood per character, and ``perplexity``), the ``baseline``
    of a uniform guess (log V), the per-epoch ``history``, the files written, and a
    ``summary`` of the run for printing."""

    model: LanguageModel
    metrics: dict[str, dict[str, float]]
    baseline: float
    history: dict[str, list[float]]
    summary: dict[str, Any]
    path: str | None = None
    plots: list[str] = field(default_factory=list)
    diverged: str | None = None


def split_words(words: list[str], val_split: float, seed: int
                ) -> tuple[list[str], list[str]]:
    """The words shuffled with ``seed`` and cut into training and validation words (at least
    one of each when ``val_split`` > 0 and there are two words or more).

    >>> split_words(["a", "b", "c", "d"], 0.25, 0)
    (['c', 'a', 'b'], ['d'])
    """
    order = np.random.default_rng(seed).permutation(len(words))
    n_val = round(val_split * len(words))
    if val_split > 0 and len(words) > 1:
        n_val = min(max(n_val, 1), len(words) - 1)
    cut = len(words) - n_val
    return [words[i] for i in order[:cut]], [words[i] for i in order[cut:]]


def train(cfg: TextConfig, stream: TextIO | None = None,
          on_ready: Callable[[dict[str, Any]], None] | None = None) -> TextResult:
    """Train the model ``cfg`` describes and write the run's folder (see the module
    docstring); progress goes to ``stream`` when ``cfg.verbose``.  ``on_ready(summary)`` is
    told what the run will do once the words are read, before training starts.

    Args:
        cfg: What to train.
        stream: Where progress goes when ``cfg.verbose`` is set (default: standard output).
        on_ready: Called with the run's summary once the words are read, before training.

    Returns:
        The trained model, its metrics per split, the uniform baseline, the history and the
        files written.

    Raises:
        ConfigError: An unknown model kind (the message lists the kinds).
        DataError: The file holds no words.
        FileNotFoundError: The file is missing.
    """
    cfg.check()
    kind = get(cfg.model)
    words = read_words(cfg.text)
    train_words, val_words = split_words(words, cfg.val_split, cfg.seed)
    lm = LanguageModel.new(words, kind, cfg.sizes, rng=cfg.seed)
    lm.network.to(cfg.device)
    train_set, val_set = lm.examples(train_words), lm.examples(val_words) if val_words \
        else None
    lr = cfg.lr if cfg.lr is not None else kind.lr
    batch = kind.batch_size if cfg.batch_size == "default" else cfg.batch_size
    epochs = cfg.epochs if cfg.epochs is not None else kind.epochs
    out_dir = os.fspath(cfg.out) if cfg.out is not None else os.path.join(
        "runs", _run_name(cfg.text))
    summary = {"text": os.fspath(cfg.text), "words": len(words), "train_words":
               len(train_words), "val_words": len(val_words), "vocab_size": lm.vocab.size,
               "model": lm.kind, "sizes": {k: v for k, v in vars(lm.sizes).items()
                                           if k in kind.uses},
               "parameters": sum(p.data.size for p in lm.network.parameters()),
               "lr": lr, "batch_size": batch, "epochs": epochs, "out": out_dir}
    result = TextResult(lm, {}, math.log(lm.vocab.size), {"loss": [], "val_loss": []},
                        summary)
    if on_ready is not None:
        on_ready(summary)
    with RunLock(out_dir):
        result.diverged = _fit(lm, train_set, val_set, result.history, cfg, lr, batch,
                               epochs, stream)
        if result.diverged:
            return result
        result.metrics["train"] = _scores(lm.evaluate(train_set, cfg.device))
        if val_set is not None:
            result.metrics["validation"] = _scores(lm.evaluate(val_set, cfg.device))
        _write(result, cfg, out_dir)
    return result


def _fit(lm: LanguageModel, train_set: Any, val_set: Any, history: dict[str, list[float]],
         cfg: TextConfig, lr: float, batch: int | None, epochs: int, stream: TextIO | None
         ) -> str | None:
    """Adam over shuffled batches for ``epochs`` epochs; the message of a loss that stopped
    being finite, else None."""
    optimizer = Adam(lm.network.parameters(), lr=lr)
    rng = np.random.default_rng(cfg.seed)
    for epoch in range(1, epochs + 1):
        start = time.perf_counter()
        total = 0.0
        for part in train_set.batches(batch, rng):
            loss = lm.loss(part, cfg.device)
            value = float(loss.item())
            if not math.isfinite(value):
                return (f"the loss became {value} in epoch {epoch}; try a smaller learning "
                        f"rate than {lr:g}")
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total += value * part.tokens
        history["loss"].append(total / train_set.tokens)
        val = lm.evaluate(val_set, cfg.device) if val_set is not None else float("nan")
        history["val_loss"].append(val)
        if cfg.verbose and stream is not None:
            seen = f"  val_loss {val:.4f}" if val_set is not None else ""
            stream.write(f"epoch {epoch}/{epochs}  loss {history['loss'][-1]:.4f}{seen}  "
                         f"({time.perf_counter() - start:.1f}s)\n")
            stream.flush()
    return None


def _scores(loss: float) -> dict[str, float]:
    return {"loss": loss, "perplexity": math.exp(loss)}


def _write(result: TextResult, cfg: TextConfig, out_dir: str) -> None:
    """The model file, the history and (with matplotlib) the loss curve."""
    path = os.path.join(out_dir, MODEL_FILE)
    result.model.save(path, training={**result.summary, "results": result.metrics,
                                      "seed": cfg.seed, "val_split": cfg.val_split})
    result.path = path
    history = os.path.join(out_dir, HISTORY_FILE)
    with writes_to(history), open(history, "w", encoding="utf-8") as f:
        f.write("epoch,loss,val_loss\n")
        for i, (a, b) in enumerate(zip(result.history["loss"], result.history["val_loss"])):
            f.write(f"{i + 1},{a:.6g},{'' if math.isnan(b) else f'{b:.6g}'}\n")
    if cfg.plots and curves.have_matplotlib():
        png = os.path.join(out_dir, PLOT_FILES["loss"])
        curves_to_draw = {k: v for k, v in result.history.items()
                          if k == "loss" or not all(map(math.isnan, v))}
        with writes_to(png):
            result.plots.append(curves.plot_history(
                curves_to_draw, png, title=f"{_run_name(cfg.text)}: {result.model.kind} "
                                           "language model"))


def _run_name(path: Any) -> str:
    base = os.path.splitext(os.path.basename(os.fspath(path)))[0]
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in base) or "text"
