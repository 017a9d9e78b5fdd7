"""A character-level language model as one object: the vocabulary, the model kind and sizes,
and the network (:class:`LanguageModel`), with the training examples it reads
(:class:`Examples`), its loss, sampling, and saving to one safetensors file.

Every loss is the mean negative log-likelihood per predicted token (each character and each
word's end), in nats, so the models are compared on one scale; guessing uniformly over V
tokens scores log(V).

>>> lm = LanguageModel.new(["emma", "ava"], "bigram", rng=0)
>>> round(lm.loss_on(["emma", "ava"]), 4) == round(float(np.log(lm.vocab.size)), 4)
True
>>> lm.sample(3, seed=0)  # doctest: +ELLIPSIS
[...]
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .. import nn
from ..engine import Tensor, no_grad
from ..engine.devices import to_device, to_numpy
from ..engine.random import RNGLike
from ..errors import ConfigError, ModelFileError
from ..nn import functional as F
from ..tools.saving import load_with_metadata, save
from .models import MODELS, ModelKind, Sizes, get
from .vocab import Vocabulary

__all__ = ["Examples", "LanguageModel"]

_EVAL_BATCH = 1024


@dataclass
class Examples:
    """Training examples: ``inputs`` token numbers and ``targets`` the tokens that follow.

    For window models, one row per predicted token: ``inputs`` (R, block_size), the tokens
    before it (the boundary before a word's start); ``targets`` (R,).  For sequence models,
    one row per word: ``inputs`` (N, T) the boundary then the word, ``targets`` (N, T) the word
    then the boundary, both padded to T, and ``mask`` (N, T) True where a target is real (the
    padding is left out of the loss)."""

    inputs: np.ndarray
    targets: np.ndarray
    mask: np.ndarray | None = None

    @property
    def tokens(self) -> int:
        """How many tokens are predicted."""
        return int(self.mask.sum()) if self.mask is not None else len(self.targets)

    def __len__(self) -> int:
        return len(self.inputs)

    def batches(self, size: int | None, rng: np.random.Generator | None = None
                ) -> Iterator[Examples]:
        """The rows in batches of ``size`` (None: one batch), shuffled when given ``rng``."""
        n = len(self)
        order = rng.permutation(n) if rng is not None else np.arange(n)
        step = n if size is None else size
        for start in range(0, n, step):
            rows = order[start:start + step]
            yield Examples(self.inputs[rows], self.targets[rows],
                           None if self.mask is None else self.mask[rows])


def window_examples(words: Sequence[str], vocab: Vocabulary, block_size: int) -> Examples:
    """Every (previous ``block_size`` tokens, next token) pair of ``words``, makemore's rows:
    ``emma`` gives ``...`` -> e, ``..e`` -> m, ``.em`` -> m, ``emm`` -> a, ``mma`` -> ``.``."""
    inputs, targets = [], []
    for word in words:
        context = [0] * block_size
        for token in vocab.encode(word) + [0]:
            inputs.append(context)
            targets.append(token)
            context = context[1:] + [token]
    return Examples(np.array(inputs, dtype=np.int64).reshape(-1, block_size),
                    np.array(targets, dtype=np.int64))


def sequence_examples(words: Sequence[str], vocab: Vocabulary) -> Examples:
    """Each word as the boundary then its tokens (inputs) and its tokens then the boundary
    (targets), padded to the longest word: ``emma`` gives ``.emma`` -> ``emma.``."""
    length = max(len(w) for w in words) + 1
    inputs = np.zeros((len(words), length), dtype=np.int64)
    targets = np.zeros((len(words), length), dtype=np.int64)
    mask = np.zeros((len(words), length), dtype=bool)
    for row, word in enumerate(words):
        tokens = vocab.encode(word)
        inputs[row, 1:len(tokens) + 1] = tokens
        targets[row, :len(tokens)] = tokens
        mask[row, :len(tokens) + 1] = True
    return Examples(inputs, targets, mask)


class LanguageModel:
    """A character-level language model: ``vocab``, the model ``kind`` (a name of
    :data:`chainrule.text.models.MODELS`), its ``sizes`` and the ``network``.

    :meth:`new` builds one for some words, :meth:`loss` is the training loss of a batch,
    :meth:`sample` writes new words, :meth:`save` and :meth:`load` keep it in one
    safetensors file (the vocabulary and sizes in its metadata)."""

    def __init__(self, vocab: Vocabulary, kind: str, sizes: Sizes, network: nn.Module,
                 max_length: int) -> None:
        self.vocab = vocab
        self.kind = get(kind).name
        self.sizes = sizes
        self.network = network
        self.max_length = max_length
        """The longest word seen in training: sampling stops there by default."""

    @classmethod
    def new(cls, words: Sequence[str], kind: str | ModelKind, sizes: Sizes | None = None,
            rng: RNGLike = None) -> LanguageModel:
        """An untrained model of ``kind`` for the vocabulary of ``words`` (sizes not given:
        the kind's defaults; the transformer's block size: the longest word plus one)."""
        spec = kind if isinstance(kind, ModelKind) else get(kind)
        sizes = sizes if sizes is not None else Sizes()
        vocab = Vocabulary.from_words(words)
        longest = max(len(w) for w in words)
        unused = [name for name, v in vars(sizes).items()
                  if v is not None and name not in spec.uses]
        if unused:
            raise ConfigError(f"{', '.join(unused)} does not apply to the {spec.name} model; "
                              f"it takes {', '.join(spec.uses) or 'no sizes'}")
        if spec.name == "transformer":
            if sizes.block_size is None:
                sizes = Sizes(**{**vars(sizes), "block_size": longest + 1})
            elif sizes.block_size < longest + 1:
                raise ConfigError(f"the transformer's block size {sizes.block_size} is "
                                  f"shorter than the longest word plus its start token "
                                  f"({longest + 1}); raise it or leave it out")
        full = sizes.over(spec.defaults)
        return cls(vocab, spec.name, full, spec.build(vocab.size, full, rng), longest)

    @property
    def window(self) -> bool:
        """Whether the network reads a fixed window of tokens (bigram, mlp)."""
        return getattr(self.network, "family", "") == "window"

    def examples(self, words: Sequence[str]) -> Examples:
        """The training examples of ``words`` for this model."""
        if self.window:
            return window_examples(words, self.vocab, self.network.block_size)
        return sequence_examples(words, self.vocab)

    def loss(self, batch: Examples, device: str = "cpu") -> Tensor:
        """The mean cross-entropy of the batch's next tokens (padding left out)."""
        inputs = to_device(batch.inputs, device)
        logits = self.network(inputs)
        if batch.mask is None:
            return F.cross_entropy(logits, to_device(batch.targets, device))
        flat = logits.reshape(-1, self.vocab.size)
        # Padding positions weigh 0, so the mean runs over the real tokens only.
        return F.cross_entropy(flat, to_device(batch.targets.reshape(-1), device),
                               sample_weight=batch.mask.reshape(-1).astype(np.float32))

    def evaluate(self, examples: Examples, device: str = "cpu") -> float:
        """The mean negative log-likelihood per token of ``examples`` (no training)."""
        was = self.network.training
        self.network.eval()
        total = 0.0
        with no_grad():
            for batch in examples.batches(_EVAL_BATCH):
                total += float(to_numpy(self.loss(batch, device).data)) * batch.tokens
        self.network.train(was)
        return total / examples.tokens

    def loss_on(self, words: Sequence[str], device: str = "cpu") -> float:
        """:meth:`evaluate` on the examples of ``words``."""
        return self.evaluate(self.examples(words), device)

    # -- writing new words ----------------------------------------------------------------------
    def sample(self, n: int, seed: int = 0, temperature: float = 1.0,
               max_length: int | None = None) -> list[str]:
        """``n`` new words: each starts from the boundary token and draws one character at a
        time from the model's next-token probabilities (logits divided by ``temperature``:
        below 1 safer, above 1 wilder) until it draws the boundary, or ``max_length``
        characters (default: the longest training word).  The same seed gives the same
        words.

        Args:
            n: How many words.
            seed: The seed of the draws.
            temperature: Divides the logits: below 1 safer, above 1 wilder.
            max_length: The longest word to write (default: the longest training word).

        Returns:
            The new words.

        Raises:
            ConfigError: ``n``, ``temperature`` or ``max_length`` is not a positive number.
        """
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise ConfigError(f"sample: n must be a positive whole number, got {n!r}")
        if not (isinstance(temperature, (int, float)) and math.isfinite(temperature)
                and temperature > 0):
            raise ConfigError(f"sample: temperature must be a positive number, got "
                              f"{temperature!r}; 1 samples the model as trained")
        limit = self.max_length if max_length is None else max_length
        if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
            raise ConfigError(f"sample: max_length must be a positive whole number, got "
                              f"{limit!r}")
        if not self.window and hasattr(self.network, "block_size"):
            limit = min(limit, self.network.block_size - 1)  # the transformer's positions
        rng = np.random.default_rng(seed)
        width = self.network.block_size if self.window else 0
        tokens = np.zeros((n, max(width, 1)), dtype=np.int64)  # the boundary to start
        done = np.zeros(n, dtype=bool)
        out = np.zeros((n, limit), dtype=np.int64)
        was = self.network.training
        self.network.eval()
        with no_grad():
            for t in range(limit):
                logits = self.network(tokens[:, -width:] if self.window else tokens)
                last = to_numpy(logits.data)[:, -1] if not self.window else \
                    to_numpy(logits.data)
                drawn = _draw(last.astype(np.float64) / temperature, rng)
                out[:, t] = np.where(done, 0, drawn)
                done |= drawn == 0
                if done.all():
                    break
                tokens = np.concatenate([tokens, drawn[:, None]], axis=1)
        self.network.train(was)
        return [self.vocab.decode(row).split(".")[0] for row in out]

    # -- one file ------------------------------------------------------------------------------
    def save(self, path: str | os.PathLike[str], **metadata: Any) -> None:
        """Write the network and, in the metadata, the vocabulary, kind, sizes and longest
        word (and ``metadata``: what the training did) to one safetensors file."""
        save(self.network, path, language_model={
            "vocab": self.vocab.to_dict(), "kind": self.kind, "sizes": vars(self.sizes),
            "max_length": self.max_length}, **metadata)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> tuple[LanguageModel, dict[str, Any]]:
        """The model saved at ``path`` by :meth:`save`, and the file's other metadata."""
        network, meta = load_with_metadata(path)
        about = meta.pop("language_model", None)
        name = os.fspath(path)
        if not isinstance(about, dict) or about.get("kind") not in MODELS:
            raise ModelFileError(f"{name} is not a character-level language model (its "
                                 "metadata has no vocabulary); train one with 'chainrule "
                                 "train --text FILE'")
        try:
            vocab = Vocabulary.from_dict(about.get("vocab"))
            sizes = Sizes(**about.get("sizes", {}))
            max_length = int(about["max_length"])
        except (TypeError, ValueError, KeyError) as err:
            raise ModelFileError(f"{name}: the language model's metadata is damaged "
                                 f"({err})") from None
        if getattr(network, "vocab_size", None) != vocab.size:
            raise ModelFileError(f"{name}: the network reads {network.vocab_size} tokens but "
                                 f"the vocabulary has {vocab.size}")
        return cls(vocab, about["kind"], sizes, network, max_length), meta


def _draw(logits: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One token per row from softmax(logits), by inverting the cumulative probabilities with
    one uniform number per row (the same seed draws the same tokens)."""
    p = np.exp(logits - logits.max(axis=1, keepdims=True))
    cdf = np.cumsum(p, axis=1)
    u = rng.random((len(p), 1)) * cdf[:, -1:]
    return np.minimum((cdf < u).sum(axis=1), p.shape[1] - 1)
