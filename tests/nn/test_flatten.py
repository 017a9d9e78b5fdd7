"""Flatten: against PyTorch, and saved and loaded with no code outside its class."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import chainrule as cr
from chainrule import nn
from chainrule.nn.layers import Flatten
from chainrule.tools.saving import load, read_metadata, save
from conftest import HAS_TORCH, needs_torch

if HAS_TORCH:
    import torch

SPANS = [(1, -1), (0, -1), (1, 2), (2, 3), (-2, -1), (0, 0), (3, 3), (-4, 1)]


@needs_torch
@pytest.mark.parametrize(("start", "end"), SPANS)
def test_flatten_matches_pytorch_forward_and_backward(start: int, end: int) -> None:
    x = np.random.default_rng(0).normal(size=(2, 3, 4, 5))
    xt = cr.tensor(x, requires_grad=True)
    out = Flatten(start, end)(xt)
    g = np.random.default_rng(1).normal(size=out.shape)
    (out * g).sum().backward()
    tx = torch.tensor(x, requires_grad=True)
    tout = torch.nn.Flatten(start, end)(tx)
    (tout * torch.tensor(g)).sum().backward()
    assert out.shape == tuple(tout.shape)
    np.testing.assert_array_equal(out.data, tout.detach().numpy())
    np.testing.assert_array_equal(xt.grad, tx.grad.numpy())


def test_flatten_keeps_a_zero_size_batch() -> None:
    assert Flatten()(np.zeros((0, 3, 2))).shape == (0, 6)


def test_output_shape_and_impossible_spans() -> None:
    assert Flatten().output_shape((None, 1, 28, 28)) == (None, 784)
    assert Flatten(0, 1).output_shape((None, 3)) == (None,)
    with pytest.raises(cr.ShapeError, match=r"Flatten\(start_dim=2, end_dim=-1\) cannot run on "
                                            "inputs with 2 dimensions"):
        Flatten(2).output_shape((None, 3))
    with pytest.raises(cr.ShapeError):
        Flatten(2, 1)(np.zeros((2, 3, 4)))
    with pytest.raises(cr.ConfigError, match="start_dim must be an integer"):
        Flatten(1.0)  # type: ignore[arg-type]


def test_flatten_saves_and_loads_with_no_edit_elsewhere(tmp_path: Path) -> None:
    model = nn.Sequential(Flatten(), nn.Linear(12, 2, rng=0), Flatten(0, -1))
    path = tmp_path / "f.safetensors"
    save(model, path)
    assert read_metadata(path)["architecture"]["layers"][0] == {
        "type": "Flatten", "start_dim": 1, "end_dim": -1}
    x = np.random.default_rng(0).normal(size=(3, 3, 4)).astype(np.float32)
    loaded = load(path)
    assert repr(loaded) == repr(model)
    np.testing.assert_array_equal(loaded(x).data, model(x).data)


def test_unflatten_inverts_flatten() -> None:
    from chainrule.nn.layers import Unflatten

    x = cr.tensor(np.arange(24.0).reshape(2, 12), requires_grad=True)
    out = Unflatten(1, (3, 2, 2))(x)
    assert out.shape == (2, 3, 2, 2)
    np.testing.assert_array_equal(Flatten()(out).data, x.data)
    out.sum().backward()
    np.testing.assert_array_equal(x.grad, np.ones((2, 12)))
    assert Unflatten(-1, (2, 6)).output_shape((None, 12)) == (None, 2, 6)
    with pytest.raises(cr.ShapeError, match="has 12 values, not 10"):
        Unflatten(1, (2, 5))(x)
