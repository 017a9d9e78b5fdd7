"""The name tables of nn: losses and activations, their fields and their get()."""

from __future__ import annotations

import inspect

import numpy as np
import pytest

import chainrule as cr
from chainrule import nn
from chainrule.nn import activations, losses


# -- losses ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", sorted(losses.LOSSES))
def test_loss_get_by_key_any_case_and_dash(name: str) -> None:
    cls = losses.LOSSES[name]
    assert losses.get(name) is cls
    assert losses.get(name.upper().replace("_", "-")) is cls
    assert cls.name == name


@pytest.mark.parametrize(("alias", "key"), sorted(losses.ALIASES.items()))
def test_loss_get_by_alias(alias: str, key: str) -> None:
    assert key in losses.LOSSES
    assert losses.get(alias) is losses.LOSSES[key]


@pytest.mark.parametrize("name", ["hinge", "", 3, None])
def test_loss_get_lists_the_valid_names(name: object) -> None:
    with pytest.raises(cr.ConfigError, match=r"unknown loss .*; choose one of bce, "
                                             r"bce_with_logits, cross_entropy, mse$"):
        losses.get(name)  # type: ignore[arg-type]


def test_loss_fields() -> None:
    expected = {"mse": ("regression", False), "bce": ("binary", False),
                "bce_with_logits": ("binary", True), "cross_entropy": ("multiclass", True)}
    assert {k: (c.task, c.from_logits) for k, c in losses.LOSSES.items()} == expected
    for cls in losses.LOSSES.values():
        assert issubclass(cls, losses.Loss)
        assert cls.task in losses.TASKS
        assert isinstance(cls.from_logits, bool)
        assert cls.accepts_sample_weight is True
        assert "sample_weight" in inspect.signature(cls.forward).parameters
        assert "sample_weight" in inspect.signature(cls.function).parameters
        assert cls().reduction == "mean"


def _loss_inputs(cls: type, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    z = rng.normal(size=(6, 3))
    if cls is nn.CrossEntropyLoss:
        return z, rng.integers(0, 3, size=6)
    if cls is nn.BCELoss:
        return 1 / (1 + np.exp(-z)), (rng.random((6, 3)) > 0.5).astype(float)
    if cls is nn.BCEWithLogitsLoss:
        return z, (rng.random((6, 3)) > 0.5).astype(float)
    return z, rng.normal(size=(6, 3))


@pytest.mark.parametrize("cls", list(losses.LOSSES.values()), ids=list(losses.LOSSES))
def test_loss_sample_weight_is_the_weighted_mean(cls: type, rng: np.random.Generator) -> None:
    x, y = _loss_inputs(cls, rng)
    w = np.array([1.0, 2.0, 0.0, 1.0, 3.0, 1.0])
    got = cls()(cr.tensor(x), y, sample_weight=w).item()
    per_row = cls(reduction="none")(cr.tensor(x), y).numpy()
    per_row = per_row.reshape(6, -1).mean(axis=1)
    assert got == pytest.approx(float((per_row * w).sum() / w.sum()), rel=1e-12)
    # Integer weights equal duplicated rows.
    rows = np.repeat(np.arange(6), w.astype(int))
    assert got == pytest.approx(cls()(cr.tensor(x[rows]), y[rows]).item(), rel=1e-12)
    # Without weights, the forward is the functional form with the layer's reduction.
    for reduction in ("mean", "sum"):
        assert cls(reduction)(cr.tensor(x), y).item() == pytest.approx(
            cls.function(cr.tensor(x), y, reduction).item(), rel=1e-12)


def test_loss_bases_are_not_saved_layer_names() -> None:
    # A user's own layer called "Loss" or "Activation" keeps its saved name.
    assert "Loss" not in nn.registry.LAYERS
    assert "Activation" not in nn.registry.LAYERS
    assert nn.registry.get("MSELoss") is nn.MSELoss


# -- activations -----------------------------------------------------------------------------------
_ALL_ACTIVATIONS = sorted({*activations.ACTIVATIONS.values(), *activations.OUTPUTS.values(),
                           nn.LogSoftmax}, key=lambda c: c.__name__)


@pytest.mark.parametrize("name", sorted(activations.ACTIVATIONS))
def test_activation_get(name: str) -> None:
    cls = activations.ACTIVATIONS[name]
    assert activations.get(name) is cls
    assert activations.get(name.upper().replace("_", "-")) is cls
    assert cls.name == name
    assert getattr(nn, cls.__name__) is cls  # chainrule.nn.ReLU etc. are unchanged


@pytest.mark.parametrize("name", ["gelu", "softmax", 3])
def test_activation_get_lists_the_valid_names(name: object) -> None:
    with pytest.raises(cr.ConfigError, match=r"unknown activation .*; choose one of identity, "
                                             r"leaky_relu, relu, sigmoid, tanh$"):
        activations.get(name)  # type: ignore[arg-type]


def test_output_activations() -> None:
    assert sorted(activations.OUTPUTS) == ["identity", "sigmoid", "softmax"]
    for name, cls in activations.OUTPUTS.items():
        assert activations.get_output(name) is cls and cls.name == name
    with pytest.raises(cr.ConfigError, match=r"unknown output activation 'tanh'; choose one "
                                             r"of identity, sigmoid, softmax$"):
        activations.get_output("tanh")


@pytest.mark.parametrize("cls", _ALL_ACTIVATIONS, ids=lambda c: c.__name__)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_activation_function_is_what_forward_computes(cls: type, dtype: type,
                                                      rng: np.random.Generator) -> None:
    x = (rng.normal(size=(5, 4)) * 3).astype(dtype)
    layer = cls()
    want = layer(cr.tensor(x)).data
    got = cls.function(cr.tensor(x)).data
    np.testing.assert_array_equal(got, want)
    assert got.dtype == want.dtype
    assert layer.function is cls.function  # a field, not a bound method
    assert isinstance(layer, activations.Activation)


def test_activation_options_are_the_function_arguments(rng: np.random.Generator) -> None:
    x = cr.tensor(rng.normal(size=(3, 4)))
    np.testing.assert_array_equal(nn.LeakyReLU(0.2)(x).data,
                                  nn.LeakyReLU.function(x, 0.2).data)
    np.testing.assert_array_equal(nn.Softmax(0)(x).data, nn.Softmax.function(x, 0).data)
    np.testing.assert_array_equal(nn.LogSoftmax(0)(x).data, nn.LogSoftmax.function(x, 0).data)


def test_activation_layers_keep_their_saved_names() -> None:
    # Model files name layers by class name; moving the classes must not change it.
    for cls in _ALL_ACTIVATIONS:
        assert cls.layer_name == cls.__name__
        assert nn.registry.get(cls.__name__) is cls
    model = nn.Sequential(nn.Linear(2, 3, rng=0), nn.LeakyReLU(0.1), nn.Softmax())
    spec = nn.registry.config_of(model)
    assert [layer["type"] for layer in spec["layers"]] == ["Linear", "LeakyReLU", "Softmax"]
    again = nn.registry.from_config(spec)
    assert again[1].negative_slope == 0.1 and again[2].axis == -1


def test_init_gain_comes_from_the_activation_table() -> None:
    # PyTorch's torch.nn.init.calculate_gain values.
    expected = {"linear": 1.0, "identity": 1.0, "sigmoid": 1.0, "tanh": 5.0 / 3,
                "relu": 2.0**0.5, "leaky_relu": (2.0 / (1 + 0.01**2)) ** 0.5}
    assert {k: nn.init.calculate_gain(k) for k in expected} == pytest.approx(expected)
    assert nn.init.calculate_gain("leaky_relu", 0.2) == pytest.approx((2 / 1.04) ** 0.5)
    assert set(expected) == {"linear", *activations.ACTIVATIONS}
    with pytest.raises(cr.ConfigError, match=r"unknown nonlinearity 'gelu'; choose one of "
                                             r"identity, leaky_relu, linear, relu, sigmoid, "
                                             r"tanh$"):
        nn.init.calculate_gain("gelu")


def test_initializer_get_uses_the_same_name_rule() -> None:
    for name, fn in nn.init.INITIALIZERS.items():
        assert nn.init.get(name) is fn
        assert nn.init.get(name.upper().replace("_", "-")) is fn
    with pytest.raises(cr.ConfigError, match=r"unknown initialiser 'glorot'; choose one of "
                                             r"kaiming_normal, kaiming_uniform, normal, "
                                             r"xavier_normal, xavier_uniform, zeros$"):
        nn.init.get("glorot")
