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

from .. import nn
from ..engine.random import RNGLike
from ..errors import ConfigError
from ..nn.language import CharBigram, CharMLP, CharRecurrent, CharTransformer

__all__ = ["MODELS", "CharBigram", "CharMLP", "CharRecurrent", "CharTransformer", "ModelKind",
           "Sizes", "get"]  # the four layers live in chainrule.nn.language


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
