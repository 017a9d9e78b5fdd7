"""Modules, layers, activations, losses and initialisers, against PyTorch where it has them."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

import chainrule as cr
from chainrule import nn
from conftest import HAS_TORCH, max_rel_err, needs_torch

if HAS_TORCH:
    import torch


def _twin(model: nn.Module) -> torch.nn.Module:
    """The same Sequential network in PyTorch, float64, with the same weights."""
    kinds = {nn.Tanh: torch.nn.Tanh, nn.Sigmoid: torch.nn.Sigmoid, nn.ReLU: torch.nn.ReLU,
             nn.Identity: torch.nn.Identity}
    layers = []
    for m in model:
        if isinstance(m, nn.Linear):
            t = torch.nn.Linear(m.in_features, m.out_features, dtype=torch.float64)
            with torch.no_grad():
                t.weight.copy_(torch.tensor(m.weight.data))
                t.bias.copy_(torch.tensor(m.bias.data))
            layers.append(t)
        elif isinstance(m, nn.LeakyReLU):
            layers.append(torch.nn.LeakyReLU(m.negative_slope))
        elif isinstance(m, nn.Softmax):
            layers.append(torch.nn.Softmax(dim=m.axis))
        else:
            layers.append(kinds[type(m)]())
    return torch.nn.Sequential(*layers)


def _mlp(sizes: list[int], act: type = nn.Tanh, seed: int = 0) -> nn.Sequential:
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(itertools.pairwise(sizes)):
        layers.append(nn.Linear(a, b, dtype=np.float64, rng=seed + i))
        if i < len(sizes) - 2:
            layers.append(act())
    return nn.Sequential(*layers)


LOSSES = {
    "mse": (nn.MSELoss, "MSELoss", "regression"),
    "bce": (nn.BCELoss, "BCELoss", "probability"),
    "bce_logits": (nn.BCEWithLogitsLoss, "BCEWithLogitsLoss", "binary"),
    "ce_labels": (nn.CrossEntropyLoss, "CrossEntropyLoss", "labels"),
    "ce_probs": (nn.CrossEntropyLoss, "CrossEntropyLoss", "probs"),
}


def _loss_case(kind: str, rng: np.random.Generator, n: int = 6, c: int = 3):
    if kind == "regression":
        return rng.normal(size=(n, 2)), rng.normal(size=(n, 2))
    if kind == "probability":
        return rng.uniform(0.05, 0.95, size=(n, 1)), (rng.random((n, 1)) > 0.5) * 1.0
    if kind == "binary":
        return rng.normal(size=(n, 1)) * 3, rng.random((n, 1))
    if kind == "labels":
        return rng.normal(size=(n, c)), rng.integers(0, c, size=n)
    p = rng.random((n, c))
    return rng.normal(size=(n, c)), p / p.sum(axis=1, keepdims=True)


@needs_torch
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("name", sorted(LOSSES))
def test_losses_match_pytorch(name: str, reduction: str) -> None:
    ours, theirs, kind = LOSSES[name]
    x, y = _loss_case(kind, np.random.default_rng(0))
    xt = cr.tensor(x, requires_grad=True)
    out = ours(reduction=reduction)(xt, y)
    tx = torch.tensor(x, requires_grad=True)
    tout = getattr(torch.nn, theirs)(reduction=reduction)(tx, torch.tensor(y))
    assert max_rel_err(out.data, tout.detach().numpy()) < 1e-12
    v = np.random.default_rng(1).normal(size=out.shape)
    (out * v).sum().backward()
    (tout * torch.tensor(v)).sum().backward()
    assert max_rel_err(xt.grad, tx.grad.numpy()) < 1e-10


@pytest.mark.parametrize("name", sorted(LOSSES))
def test_losses_pass_gradcheck(name: str) -> None:
    ours, _, kind = LOSSES[name]
    x, y = _loss_case(kind, np.random.default_rng(2))
    assert cr.gradcheck(lambda a: ours()(a, y), (x,))


def test_sigmoid_then_bce_gives_delta_p_minus_y() -> None:
    z = cr.tensor([[-3.0], [0.5], [40.0]], requires_grad=True)
    y = np.array([[0.0], [1.0], [0.0]])
    nn.BCELoss(reduction="sum")(nn.Sigmoid()(z), y).backward()
    p = 1 / (1 + np.exp(-z.data))
    np.testing.assert_allclose(z.grad, p - y, rtol=1e-15)


def test_softmax_cross_entropy_gives_delta_p_minus_y() -> None:
    z = cr.tensor([[1.0, 2.0, -1.0], [0.0, 0.0, 5.0]], requires_grad=True)
    labels = np.array([2, 0])
    nn.CrossEntropyLoss(reduction="sum")(z, labels).backward()
    p = np.exp(z.data) / np.exp(z.data).sum(axis=1, keepdims=True)
    np.testing.assert_allclose(z.grad, p - np.eye(3)[labels], rtol=1e-14)


def test_loss_errors_name_the_problem() -> None:
    x = cr.tensor(np.zeros((4, 1)))
    with pytest.raises(cr.ShapeError, match=r"\(4, 1\).*\(4,\)"):
        nn.MSELoss()(x, np.zeros(4))
    with pytest.raises(ValueError, match="unknown reduction 'avg'"):
        nn.MSELoss(reduction="avg")
    with pytest.raises(ValueError, match=r"class label 3 is outside 0\.\.2"):
        nn.CrossEntropyLoss()(cr.tensor(np.zeros((2, 3))), np.array([0, 3]))
    with pytest.raises(cr.DataError, match="must be integers"):
        nn.CrossEntropyLoss()(cr.tensor(np.zeros((2, 3))), np.array([0.0, 1.0]))
    with pytest.raises(ValueError, match="probabilities"):
        nn.BCELoss()(cr.tensor([[2.0]]), [[1.0]])


@needs_torch
@pytest.mark.parametrize("act", [nn.Tanh, nn.Sigmoid, nn.ReLU, nn.LeakyReLU])
def test_sequential_forward_and_backward_match_pytorch(act: type) -> None:
    model = _mlp([3, 5, 4, 2], act)
    tmodel = _twin(model)
    x = np.random.default_rng(3).normal(size=(7, 3))
    out = model(cr.tensor(x))
    tout = tmodel(torch.tensor(x))
    assert max_rel_err(out.data, tout.detach().numpy()) < 1e-12
    (out**2).sum().backward()
    (tout**2).sum().backward()
    for (name, p), tp in zip(model.named_parameters(), tmodel.parameters()):
        assert max_rel_err(p.grad, tp.grad.numpy()) < 1e-10, name


@needs_torch
def test_softmax_module_matches_pytorch() -> None:
    x = np.random.default_rng(4).normal(size=(3, 5))
    ours = nn.Softmax()(cr.tensor(x)).data
    theirs = torch.nn.Softmax(dim=-1)(torch.tensor(x)).numpy()
    assert max_rel_err(ours, theirs) < 1e-14
    np.testing.assert_allclose(np.exp(nn.LogSoftmax()(cr.tensor(x)).data), ours, rtol=1e-13)


def test_module_registration_names_and_state_dict() -> None:
    model = _mlp([2, 4, 1])
    names = [n for n, _ in model.named_parameters()]
    assert names == ["0.weight", "0.bias", "2.weight", "2.bias"]
    assert model.num_parameters() == 2 * 4 + 4 + 4 + 1
    state = model.state_dict()
    other = _mlp([2, 4, 1], seed=10)
    other.load_state_dict(state)
    x = cr.tensor(np.ones((3, 2)))
    np.testing.assert_array_equal(model(x).data, other(x).data)
    state["0.weight"][...] = 0  # a copy: the model is unchanged
    assert np.abs(model[0].weight.data).sum() > 0
    with pytest.raises(cr.ConfigError, match="missing keys"):
        other.load_state_dict({"0.weight": state["0.weight"]})
    with pytest.raises(cr.ShapeError, match=r"0\.weight"):
        other.load_state_dict({**state, "0.weight": np.zeros((3, 3))})
    other.load_state_dict({"0.bias": np.ones(4)}, strict=False)
    np.testing.assert_array_equal(other[0].bias.data, np.ones(4))


def test_train_eval_zero_grad_and_repr() -> None:
    model = nn.Sequential(nn.Linear(2, 3, rng=0), nn.Dropout(0.5, rng=0), nn.ReLU())
    assert model.training and model[1].training
    model.eval()
    assert not model[1].training
    x = cr.tensor(np.ones((4, 2)))
    np.testing.assert_array_equal(model(x).data, model(x).data)  # dropout off
    model(x).sum().backward()
    assert model[0].weight.grad is not None
    model.zero_grad()
    assert model[0].weight.grad is None
    assert "(0): Linear(2, 3)" in repr(model) and "Dropout(p=0.5)" in repr(model)


def test_dropout_scales_kept_units() -> None:
    drop = nn.Dropout(0.25, rng=0)
    out = drop(cr.tensor(np.ones((200, 50)))).numpy()
    kept = out != 0
    assert 0.7 < kept.mean() < 0.8
    np.testing.assert_allclose(out[kept], 1 / 0.75)


def test_linear_shapes_dtypes_and_errors() -> None:
    layer = nn.Linear(3, 2, rng=0)
    assert layer.weight.shape == (2, 3) and layer.bias.shape == (2,)
    assert layer.weight.numpy().dtype == np.float32
    out = layer(cr.tensor(np.ones((5, 3))))  # float64 input converted to the layer's float32
    assert out.numpy().dtype == np.float32
    model = nn.Sequential(nn.Linear(3, 2, rng=0), nn.Tanh(), nn.Linear(4, 1, rng=0))
    with pytest.raises(cr.ShapeError, match=r"layer 2 \(Linear\).*4 features.*\(5, 2\)"):
        model(cr.tensor(np.ones((5, 3))))
    with pytest.raises(ValueError, match="unknown initialiser 'glorot'"):
        nn.Linear(2, 2, init="glorot")
    with pytest.raises(cr.ConfigError, match="not a Module"):
        nn.Sequential(nn.Linear(2, 2), "relu")


def test_custom_module_registers_nested_parameters() -> None:
    class Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.body = nn.Sequential(nn.Linear(2, 3, rng=0), nn.ReLU())
            self.head = nn.Linear(3, 1, rng=1)
            self.scale = nn.Parameter(np.ones(1, dtype=np.float32))

        def forward(self, x: cr.Tensor) -> cr.Tensor:
            return self.head(self.body(x)) * self.scale

    names = [n for n, _ in Net().named_parameters()]
    assert names == ["scale", "body.0.weight", "body.0.bias", "head.weight", "head.bias"]


@pytest.mark.parametrize("name, shape", [("xavier_uniform", (200, 300)),
                                         ("kaiming_normal", (300, 200)),
                                         ("normal", (100, 100))])
def test_initialisers_have_the_documented_spread(name: str, shape: tuple) -> None:
    w = nn.Linear(shape[1], shape[0], init=name, rng=0).weight.numpy()
    fan_in, fan_out = shape[1], shape[0]
    expected_std = {"xavier_uniform": np.sqrt(2 / (fan_in + fan_out)),
                    "kaiming_normal": np.sqrt(2 / fan_in), "normal": 0.01}[name]
    assert abs(w.std() / expected_std - 1) < 0.03


def test_init_functions_are_reproducible_and_in_place() -> None:
    a = cr.tensor(np.zeros((4, 5)))
    b = cr.tensor(np.zeros((4, 5)))
    for fn in (nn.init.normal_, nn.init.uniform_, nn.init.xavier_normal_,
               nn.init.kaiming_uniform_):
        assert fn(a, rng=3) is a
        fn(b, rng=np.random.default_rng(3))
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    nn.init.constant_(a, 0.5)
    assert (a.numpy() == 0.5).all()
    nn.init.zeros_(a)
    assert not a.numpy().any()
    cr.manual_seed(11)
    first = nn.Linear(3, 3).weight.numpy().copy()
    cr.manual_seed(11)
    np.testing.assert_array_equal(nn.Linear(3, 3).weight.data, first)
