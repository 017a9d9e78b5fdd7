"""A character-level GRU language model trained by chainrule reaches what the same model
reaches when PyTorch trains it: the same census first names, the same initial weights, the same
batches, Adam, float64 (the losses agree step by step to 1e-9)."""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
from chainrule import nn
from chainrule.nn import functional as F
from chainrule.text import census_first_names

torch = pytest.importorskip("torch")
pytest.importorskip("names")

BLOCK, VOCAB = 10, 27


def _names() -> list[str]:
    return census_first_names()[::10]  # about 500 names


def _sequences(words: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Inputs '.' + word and targets word + '.', padded with -100 in the targets."""
    X = np.zeros((len(words), BLOCK), dtype=np.int64)
    Y = np.full((len(words), BLOCK), -100, dtype=np.int64)
    for i, w in enumerate(words):
        codes = [ord(ch) - 96 for ch in w[:BLOCK - 1]]
        X[i, 1:len(codes) + 1] = codes
        Y[i, :len(codes)] = codes
        Y[i, len(codes)] = 0
    return X, Y


class Chars(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.tokens = nn.Embedding(VOCAB, 8, rng=0, dtype="float64")
        self.gru = nn.GRU(8, 32, batch_first=True, dtype="float64")
        self.head = nn.Linear(32, VOCAB, rng=1, dtype="float64")

    def forward(self, x):
        h, _ = self.gru(self.tokens(x))
        return self.head(h)


def test_a_gru_char_model_trains_as_in_torch():
    X, Y = _sequences(_names())
    ours = Chars()
    theirs = torch.nn.ModuleDict({
        "tokens": torch.nn.Embedding(VOCAB, 8), "gru": torch.nn.GRU(8, 32, batch_first=True),
        "head": torch.nn.Linear(32, VOCAB)}).double()
    with torch.no_grad():
        for name, p in ours.named_parameters():
            dict(theirs.named_parameters())[name].copy_(torch.tensor(p.numpy()))
    opt = cr.optim.Adam(ours.parameters(), lr=0.01)
    topt = torch.optim.Adam(theirs.parameters(), lr=0.01)
    order = np.random.default_rng(0).permutation(len(X))
    ours_losses, theirs_losses = [], []
    for step in range(30):
        idx = order[(step * 32) % len(X):][:32]
        xb, yb = X[idx], Y[idx]
        opt.zero_grad()
        loss = F.cross_entropy(ours(xb).transpose(0, 2, 1), yb)  # (N, C, T), padding ignored
        loss.backward()
        opt.step()
        ours_losses.append(loss.item())
        topt.zero_grad()
        h, _ = theirs["gru"](theirs["tokens"](torch.tensor(xb)))
        tloss = torch.nn.functional.cross_entropy(theirs["head"](h).transpose(1, 2),
                                                  torch.tensor(yb))
        tloss.backward()
        topt.step()
        theirs_losses.append(tloss.item())
    np.testing.assert_allclose(ours_losses, theirs_losses, rtol=1e-9)
    assert ours_losses[-1] < ours_losses[0] - 0.5  # it learned: from log(27) = 3.30 down
