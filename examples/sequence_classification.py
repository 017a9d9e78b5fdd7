"""Sequence classification with cr.fit: padded integer sequences, an Embedding, a GRU, and
the hidden state at each sequence's last real token.

The task: sequences of 4 to 12 tokens (1..9), padded with 0 to length 12; the label says
whether a 7 comes before any 3.  The answer depends on order, which a bag of tokens cannot see.
The padding mask (token != 0) gives each sequence's length, so the classifier reads the GRU's
state at the last real token rather than after the padding.

    python examples/sequence_classification.py
"""

from __future__ import annotations

import numpy as np

import chainrule as cr
from chainrule import nn

PAD, VOCAB, LENGTH = 0, 10, 12


def make(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    X = np.full((n, LENGTH), PAD, dtype=np.int64)
    y = np.zeros(n, dtype=np.int64)
    for i in range(n):
        seq = rng.integers(1, VOCAB, size=rng.integers(4, LENGTH + 1))
        X[i, :len(seq)] = seq
        sevens, threes = np.flatnonzero(seq == 7), np.flatnonzero(seq == 3)
        y[i] = int(len(sevens) > 0 and (len(threes) == 0 or sevens[0] < threes[0]))
    return X, y


class LastStateClassifier(nn.Module):
    """Embedding -> GRU -> the state at the last real token -> Linear."""

    def __init__(self, embed: int = 16, hidden: int = 32, classes: int = 2) -> None:
        super().__init__()
        self.tokens = nn.Embedding(VOCAB, embed, padding_idx=PAD, rng=0)
        self.gru = nn.GRU(embed, hidden, batch_first=True)
        self.head = nn.Linear(hidden, classes, rng=1)

    def forward(self, x: cr.Tensor) -> cr.Tensor:
        states, _ = self.gru(self.tokens(x))          # (N, T, hidden)
        ids = x.numpy() if isinstance(x, cr.Tensor) else np.asarray(x)
        lengths = (ids != PAD).sum(axis=1)             # the mask gives each length
        last = states[np.arange(len(ids)), lengths - 1]
        return self.head(last)


def main(n_train: int = 2000, epochs: int = 10) -> dict[str, float]:
    rng = np.random.default_rng(0)
    X, y = make(n_train, rng)
    X_test, y_test = make(500, rng)
    model = LastStateClassifier()
    cr.fit(model, X, y, epochs=epochs, batch_size=64, optimizer="adam", lr=0.01,
           validation_split=0.1, seed=0, verbose=0)
    result = cr.evaluate(model, X_test, y_test)
    majority = max(np.mean(y_test), 1 - np.mean(y_test))
    print(f"test accuracy {result['accuracy']:.3f} (always the majority class: {majority:.3f})")
    return result


if __name__ == "__main__":
    main()
