"""Character-level language models as layers: a bigram table, Bengio's MLP over a window,
a recurrent network and a causal transformer, each from embedding to next-token logits.

They are layers like any other here (so a model file naming one loads wherever ``chainrule.nn``
is imported); :mod:`chainrule.text` picks them by name, sizes them, trains and samples them.
"""

from __future__ import annotations

from typing import Any

from ..engine import Tensor
from ..engine.backend import namespace
from ..engine.devices import device_of
from ..engine.random import RNGLike, get_rng
from ..errors import ConfigError
from .attention import PositionalEncoding, generate_square_subsequent_mask
from .container import Sequential
from .embedding import Embedding
from .layers import Linear
from .module import Module
from .normalization import LayerNorm
from .recurrent import GRU, LSTM, RNN
from .transformer import TransformerEncoderLayer

__all__ = ["CharBigram", "CharMLP", "CharRecurrent", "CharTransformer"]


class CharBigram(Module):
    """The bigram model: a V x V table of logits, row = the previous token.  Trained by
    gradient descent it learns what counting pairs gives, the log of their frequencies."""

    family = "window"

    def __init__(self, vocab_size: int, rng: RNGLike = None) -> None:
        super().__init__()
        self.vocab_size = vocab_size
        self.block_size = 1
        self.table = Embedding(vocab_size, vocab_size, rng=rng)
        self.table.weight.data[...] = 0  # uniform at the start: loss log(V)

    def forward(self, context: Any) -> Tensor:
        return self.table(context[:, -1])

    def output_shape(self, input_shape: Any) -> Any:
        """A window of tokens (N, block) in, the next token's logits (N, vocab) out."""
        return None if input_shape is None else (input_shape[0], self.vocab_size)

    def get_config(self) -> dict[str, Any]:
        return {"vocab_size": self.vocab_size}


class CharMLP(Module):
    """Bengio et al. (2003): the vectors of the last ``block_size`` tokens, concatenated, a
    tanh hidden layer, then the logits of the next token."""

    family = "window"

    def __init__(self, vocab_size: int, embed: int, hidden: int, block_size: int,
                 rng: RNGLike = None) -> None:
        super().__init__()
        gen = get_rng(rng)
        self.vocab_size, self.embed, self.hidden = vocab_size, embed, hidden
        self.block_size = block_size
        self.tokens = Embedding(vocab_size, embed, rng=gen)
        self.hidden_layer = Linear(block_size * embed, hidden, rng=gen)
        self.out = Linear(hidden, vocab_size, rng=gen)

    def forward(self, context: Any) -> Tensor:
        x = self.tokens(context)
        x = x.reshape(x.shape[0], self.block_size * self.embed)
        return self.out(self.hidden_layer(x).tanh())

    def output_shape(self, input_shape: Any) -> Any:
        """A window of tokens (N, block) in, the next token's logits (N, vocab) out."""
        return None if input_shape is None else (input_shape[0], self.vocab_size)

    def get_config(self) -> dict[str, Any]:
        return {"vocab_size": self.vocab_size, "embed": self.embed, "hidden": self.hidden,
                "block_size": self.block_size}


_RECURRENT: dict[str, type[RNN] | type[GRU] | type[LSTM]] = {
    "rnn": RNN, "gru": GRU, "lstm": LSTM}


class CharRecurrent(Module):
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
        self.tokens = Embedding(vocab_size, embed, rng=gen)
        self.recurrent = _RECURRENT[cell](embed, hidden, num_layers=layers, batch_first=True,
                                          rng=gen)
        self.out = Linear(hidden, vocab_size, rng=gen)

    def forward(self, tokens: Any) -> Tensor:
        states, _ = self.recurrent(self.tokens(tokens))
        return self.out(states)

    def output_shape(self, input_shape: Any) -> Any:
        """Tokens (N, T) in, the next token's logits at every position (N, T, vocab) out."""
        return None if input_shape is None else (*tuple(input_shape)[:2], self.vocab_size)

    def get_config(self) -> dict[str, Any]:
        return {"vocab_size": self.vocab_size, "embed": self.embed, "hidden": self.hidden,
                "layers": self.layers, "cell": self.cell}


class CharTransformer(Module):
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
        self.tokens = Embedding(vocab_size, embed, rng=gen)
        if positions == "learned":
            self.position = Embedding(block_size, embed, rng=gen)
        else:
            self.position = PositionalEncoding(embed, dropout=0.0, max_len=block_size,
                                                  batch_first=True)
        self.blocks = Sequential(*(
            TransformerEncoderLayer(embed, heads, dim_feedforward=hidden, dropout=0.0,
                                       batch_first=True, norm_first=True, rng=gen)
            for _ in range(layers)))
        self.norm = LayerNorm(embed)
        self.out = Linear(embed, vocab_size, rng=gen)

    def forward(self, tokens: Any) -> Tensor:
        x = self.tokens(tokens)
        length = x.shape[1]
        if length > self.block_size:
            raise ConfigError(f"the transformer has {self.block_size} positions (its "
                              f"block size) but was given {length} tokens")
        if self.positions == "learned":  # the positions made on the table's device
            x = x + self.position(namespace(self.position.weight.data).arange(length))
        else:
            x = self.position(x)
        mask = generate_square_subsequent_mask(length, device=device_of(x.data))
        for block in self.blocks:
            x = block(x, src_mask=mask, is_causal=True)
        return self.out(self.norm(x))

    def output_shape(self, input_shape: Any) -> Any:
        """Tokens (N, T) in, the next token's logits at every position (N, T, vocab) out."""
        return None if input_shape is None else (*tuple(input_shape)[:2], self.vocab_size)

    def get_config(self) -> dict[str, Any]:
        return {"vocab_size": self.vocab_size, "embed": self.embed, "hidden": self.hidden,
                "layers": self.layers, "heads": self.heads, "block_size": self.block_size,
                "positions": self.positions}
