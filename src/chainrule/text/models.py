"""The character-level language models, by name: :data:`MODELS` and :func:`get`.

Two families, by what they read:

* window models (``bigram``, ``mlp``) read the last ``block_size`` tokens, shape (N,
  block_size), and give the logits of the next one, (N, V);
* sequence models (``rnn``, ``gru``, ``lstm``, ``transformer``) read whole words, (N, T),
  and give the logits of the next token at every position, (N, T, V); position t sees tokens
  0..t only (a recurrent network by construction, the transformer through a causal mask).

Each is a :class:`chainrule.nn.Module` that describes itself (``get_config``), so
:func:`chainrule.save` writes it and the loader rebuilds it by its class name.

>>> import numpy as np
>>> net = get("gru").build(vocab_size=5, sizes=Sizes(embed=4, hidden=8), rng=0)
>>> net(np.zeros((2, 3), dtype=np.int64)).shape
(2, 3, 5)
>>> get("gpt")  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
chainrule.errors.ConfigError: unknown model 'gpt'; choose one of bigram, gru, lstm, mlp, rnn, ...
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from .. import nn
from ..engine import Tensor
from ..engine.random import RNGLike, get_rng
from ..errors import ConfigError

__all__ = ["MODELS", "CharBigram", "CharMLP", "CharRecurrent", "CharTransformer", "ModelKind",
           "Sizes", "get"]


@dataclass(frozen=True)
class Sizes:
    """A model's sizes: token vectors of ``embed`` numbers, ``hidden`` units (the MLP's hidden
    layer, the recurrent state, the transformer's feed-forward width), ``layers`` stacked
    layers, ``block_size`` tokens of context (window models) or positions (the transformer),
    ``heads`` attention heads.  None: the kind's default (:attr:`ModelKind.defaults`)."""

    embed: int | None = None
    hidden: int | None = None
    layers: int | None = None
    block_size: int | None = None
    heads: int | None = None

    def over(self, defaults: Sizes) -> Sizes:
        """These sizes with each one not given taken from ``defaults``."""
        return replace(defaults, **{k: v for k, v in vars(self).items() if v is not None})


class CharBigram(nn.Module):
    """The bigram model: a V x V table of logits, row = the previous token.  Trained by
    gradient descent it learns what counting pairs gives, the log of their frequencies."""

    family = "window"

    def __init__(self, vocab_size: int, rng: RNGLike = None) -> None:
        super().__init__()
        self.vocab_size = vocab_size
        self.block_size = 1
        self.table = nn.Embedding(vocab_size, vocab_size, rng=rng)
        self.table.weight.data[...] = 0  # uniform at the start: loss log(V)

    def forward(self, context: Any) -> Tensor:
        return self.table(context[:, -1])

    def get_config(self) -> dict[str, Any]:
        return {"vocab_size": self.vocab_size}


class CharMLP(nn.Module):
    """Bengio et al. (2003): the vectors of the last ``block_size`` tokens, concatenated, a
    tanh hidden layer, then the logits of the next token."""

    family = "window"

    def __init__(self, vocab_size: int, embed: int, hidden: int, block_size: int,
                 rng: RNGLike = None) -> None:
        super().__init__()
        gen = get_rng(rng)
        self.vocab_size, self.embed, self.hidden = vocab_size, embed, hidden
        self.block_size = block_size
        self.tokens = nn.Embedding(vocab_size, embed, rng=gen)
        self.hidden_layer = nn.Linear(block_size * embed, hidden, rng=gen)
        self.out = nn.Linear(hidden, vocab_size, rng=gen)

    def forward(self, context: Any) -> Tensor:
        x = self.tokens(context)
        x = x.reshape(x.shape[0], self.block_size * self.embed)
        return self.out(self.hidden_layer(x).tanh())

    def get_config(self) -> dict[str, Any]:
        return {"vocab_size": self.vocab_size, "embed": self.embed, "hidden": self.hidden,
                "block_size": self.block_size}


_RECURRENT: dict[str, type[nn.RNN] | type[nn.GRU] | type[nn.LSTM]] = {
    "rnn": nn.RNN, "gru": nn.GRU, "lstm": nn.LSTM}


class CharRecurrent(nn.Module):
    """Token vectors, a recurrent network (``cell``: rnn, gru or lstm; ``layers`` deep) over
    the word, and a linear layer from each hidden state to the logits of the next token."""

    family = "sequence"

    def __init__(self, vocab_size: int, embed: int, hidden: int, layers: int = 1,
                 cell: str = "gru", rng: RNGLike = None) -> None:
        super().__init__()
        if cell not in _RECURRENT:
            raise ConfigError(f"CharRecurrent: unknown cell {cell!r}; choose one of "
                              f"{', '.join(_RECURRENT)}")
        gen = get_rng(rng)
        self.vocab_size, self.embed, self.hidden = vocab_size, embed, hidden
        self.layers, self.cell = layers, cell
        self.tokens = nn.Embedding(vocab_size, embed, rng=gen)
        self.recurrent = _RECURRENT[cell](embed, hidden, num_layers=layers, batch_first=True,
                                          rng=gen)
        self.out = nn.Linear(hidden, vocab_size, rng=gen)

    def forward(self, tokens: Any) -> Tensor:
        states, _ = self.recurrent(self.tokens(tokens))
        return self.out(states)

    def get_config(self) -> dict[str, Any]:
        return {"vocab_size": self.vocab_size, "embed": self.embed, "hidden": self.hidden,
                "layers": self.layers, "cell": self.cell}


class CharTransformer(nn.Module):
    """A small GPT: token vectors plus position vectors (``positions``: 'learned', a table
    of ``block_size`` rows, or 'sinusoidal'), ``layers`` causal pre-norm transformer layers
    of ``heads`` heads, a final layer norm and the logits of the next token."""

    family = "sequence"

    def __init__(self, vocab_size: int, embed: int, hidden: int, layers: int, heads: int,
                 block_size: int, positions: str = "learned", rng: RNGLike = None) -> None:
        super().__init__()
        if positions not in ("learned", "sinusoidal"):
            raise ConfigError(f"CharTransformer: positions must be 'learned' or 'sinusoidal', "
                              f"got {positions!r}")
        if embed % heads:
            raise ConfigError(f"the transformer's --embed {embed} must be a multiple of "
                              f"--heads {heads} (each head takes embed/heads numbers)")
        gen = get_rng(rng)
        self.vocab_size, self.embed, self.hidden = vocab_size, embed, hidden
        self.layers, self.heads, self.block_size = layers, heads, block_size
        self.positions = positions
        self.tokens = nn.Embedding(vocab_size, embed, rng=gen)
        if positions == "learned":
            self.position = nn.Embedding(block_size, embed, rng=gen)
        else:
            self.position = nn.PositionalEncoding(embed, dropout=0.0, max_len=block_size,
                                                  batch_first=True)
        self.blocks = nn.Sequential(*(
            nn.TransformerEncoderLayer(embed, heads, dim_feedforward=hidden, dropout=0.0,
                                       batch_first=True, norm_first=True, rng=gen)
            for _ in range(layers)))
        self.norm = nn.LayerNorm(embed)
        self.out = nn.Linear(embed, vocab_size, rng=gen)

    def forward(self, tokens: Any) -> Tensor:
        x = self.tokens(tokens)
        length = x.shape[1]
        if length > self.block_size:
            raise ConfigError(f"the transformer has {self.block_size} positions (its "
                              f"block size) but was given {length} tokens")
        if self.positions == "learned":
            x = x + self.position(np.arange(length))
        else:
            x = self.position(x)
        mask = nn.generate_square_subsequent_mask(length)
        for block in self.blocks:
            x = block(x, src_mask=mask, is_causal=True)
        return self.out(self.norm(x))

    def get_config(self) -> dict[str, Any]:
        return {"vocab_size": self.vocab_size, "embed": self.embed, "hidden": self.hidden,
                "layers": self.layers, "heads": self.heads, "block_size": self.block_size,
                "positions": self.positions}


@dataclass(frozen=True)
class ModelKind:
    """One entry of :data:`MODELS`: how to build the network from a vocabulary size and
    :class:`Sizes`, the sizes it uses and their defaults, and the training defaults that
    make it learn in well under a minute on a CPU (learning rate, batch, epochs)."""

    name: str
    make: Callable[[int, Sizes, RNGLike], nn.Module]
    defaults: Sizes
    lr: float
    batch_size: int
    epochs: int
    description: str

    @property
    def uses(self) -> tuple[str, ...]:
        """The sizes this kind reads (the others do not apply to it)."""
        return tuple(k for k, v in vars(self.defaults).items() if v is not None)

    def build(self, vocab_size: int, sizes: Sizes = Sizes(), rng: RNGLike = None
              ) -> nn.Module:
        """The network for a vocabulary of ``vocab_size`` tokens (sizes not given: the
        defaults)."""
        return self.make(vocab_size, sizes.over(self.defaults), rng)


def _recurrent(cell: str) -> Callable[[int, Sizes, RNGLike], nn.Module]:
    def make(v: int, s: Sizes, rng: RNGLike) -> nn.Module:
        return CharRecurrent(v, s.embed, s.hidden, s.layers, cell, rng=rng)  # type: ignore

    return make


MODELS: dict[str, ModelKind] = {k.name: k for k in (
    ModelKind("bigram", lambda v, s, rng: CharBigram(v, rng=rng), Sizes(), lr=0.1,
              batch_size=256, epochs=5, description="a V x V table of next-token logits"),
    ModelKind("mlp", lambda v, s, rng: CharMLP(v, s.embed, s.hidden, s.block_size, rng=rng),
              Sizes(embed=16, hidden=128, block_size=3), lr=3e-3, batch_size=128, epochs=5,
              description="Bengio 2003: the last block-size characters' vectors, a tanh "
                          "hidden layer"),
    ModelKind("rnn", _recurrent("rnn"), Sizes(embed=16, hidden=64, layers=1), lr=1e-2,
              batch_size=64, epochs=8, description="an Elman recurrent network"),
    ModelKind("gru", _recurrent("gru"), Sizes(embed=16, hidden=64, layers=1), lr=1e-2,
              batch_size=64, epochs=8, description="a gated recurrent unit network"),
    ModelKind("lstm", _recurrent("lstm"), Sizes(embed=16, hidden=64, layers=1), lr=1e-2,
              batch_size=64, epochs=8, description="a long short-term memory network"),
    ModelKind("transformer",
              lambda v, s, rng: CharTransformer(v, s.embed, s.hidden, s.layers, s.heads,
                                                s.block_size, rng=rng),  # type: ignore
              Sizes(embed=32, hidden=64, layers=2, block_size=32, heads=4), lr=3e-3,
              batch_size=64, epochs=8, description="a small causal (GPT-like) transformer"),
)}
"""Every model kind by name, in the order of the makemore progression."""


def get(name: str) -> ModelKind:
    """The model kind called ``name`` (any case); ConfigError listing the valid names."""
    key = name.lower().strip() if isinstance(name, str) else None
    if key not in MODELS:
        raise ConfigError(f"unknown model {name!r}; choose one of {', '.join(sorted(MODELS))}")
    return MODELS[key]  # type: ignore[index]
