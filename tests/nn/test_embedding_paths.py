"""Embedding's two backward paths, the one-hot product (tables of few rows) and the indexing
scatter (larger tables), give the same values, gradients and gradients of gradients."""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
from chainrule.engine.devices import to_numpy
from chainrule.nn import embedding
from chainrule.nn.embedding import Embedding


@pytest.mark.parametrize("padding_idx", [None, 0, 3])
def test_the_product_and_the_scatter_agree(padding_idx, monkeypatch):
    emb = Embedding(7, 5, padding_idx=padding_idx, dtype="float64", rng=0)
    rng = np.random.default_rng(1)
    idx = rng.integers(0, 7, size=(4, 6))
    idx.flat[:4] = [3, 3, 0, 3]
    seed = cr.tensor(rng.normal(size=(4, 6, 5)))
    v = cr.tensor(rng.normal(size=(7, 5)))

    def run():
        emb.weight.grad = None
        out = emb(idx)
        (g,) = cr.grad((out * out * seed).sum(), [emb.weight], create_graph=True)
        hvp = cr.grad((g * v).sum(), [emb.weight])[0]
        return [to_numpy(out.data), to_numpy(g.data), to_numpy(getattr(hvp, "data", hvp))]

    product = run()
    assert emb(idx).op == "embedding"
    monkeypatch.setattr(embedding, "ONE_HOT_ROWS", 0)
    assert emb(idx).op != "embedding"
    for a, b in zip(product, run()):
        np.testing.assert_allclose(a, b, rtol=1e-13, atol=1e-14)
