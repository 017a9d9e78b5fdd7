"""cr.explain and cr.gradcheck on a small conv net: the tables' gradients are PyTorch's."""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
from chainrule import nn


def _net_and_data():
    rng = np.random.default_rng(0)
    model = nn.Sequential(nn.Conv2d(1, 2, 3, padding=1, dtype=np.float64, rng=0), nn.ReLU(),
                          nn.MaxPool2d(2), nn.Flatten(),
                          nn.Linear(2 * 3 * 3, 3, dtype=np.float64, rng=1))
    return model, rng.normal(size=(4, 1, 6, 6)), np.array([0, 1, 2, 1])


def test_explain_walks_a_conv_net_and_its_gradients_are_torchs() -> None:
    torch = pytest.importorskip("torch")
    model, X, y = _net_and_data()
    conv, lin = model[0], model[4]
    J = nn.CrossEntropyLoss()(model(cr.tensor(X)), y)
    ex = cr.explain(J, names={"W": conv.weight, "c": conv.bias, "V": lin.weight})
    ops = [s.op for s in ex.forward]
    assert ops.index("conv2d") < ops.index("max_pool2d")
    assert "<table" in ex._repr_html_()

    tw = torch.tensor(conv.weight.data, requires_grad=True)
    tc = torch.tensor(conv.bias.data, requires_grad=True)
    tv = torch.tensor(lin.weight.data, requires_grad=True)
    h = torch.nn.functional.conv2d(torch.tensor(X), tw, tc, padding=1).relu()
    h = torch.nn.functional.max_pool2d(h, 2).flatten(1)
    out = h @ tv.T + torch.tensor(lin.bias.data)
    loss = torch.nn.functional.cross_entropy(out, torch.tensor(y))
    loss.backward()
    assert ex.value("J") == pytest.approx(loss.item(), rel=1e-12)
    for name, t in (("W", tw), ("c", tc), ("V", tv)):
        np.testing.assert_allclose(ex.grad(name), t.grad.numpy(), rtol=1e-10, atol=1e-14)


def test_gradcheck_passes_through_a_conv_net() -> None:
    model, X, y = _net_and_data()

    def loss(w, b):
        h = nn.functional.conv2d(cr.tensor(X), w, b, padding=1).relu()
        return nn.CrossEntropyLoss()(model[4](model[3](model[2](h))), y)

    assert cr.gradcheck(loss, (model[0].weight, model[0].bias))
