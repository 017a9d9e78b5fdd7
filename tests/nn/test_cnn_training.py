"""A conv net trained with cr.fit: accuracy on scikit-learn's 8x8 digits, and an exact save and
reload (buffers included)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import chainrule as cr
from chainrule import nn
from chainrule.nn.conv import Conv2d
from chainrule.nn.layers import Dropout2d, Flatten, Unflatten
from chainrule.nn.normalization import BatchNorm2d
from chainrule.nn.pooling import AdaptiveAvgPool2d, MaxPool2d
from chainrule.tools.saving import load, save
from conftest import needs_sklearn


def _digits(seed: int):
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    d = load_digits()
    X, y = (d.data / 16.0).astype(np.float32), d.target.astype(np.int64)
    return train_test_split(X, y, test_size=0.25, shuffle=True, random_state=seed, stratify=y)


def _cnn(seed: int) -> nn.Sequential:
    # cr.fit takes table rows (N, 64); Unflatten makes them (N, 1, 8, 8) images.
    return nn.Sequential(Unflatten(1, (1, 8, 8)),
                         Conv2d(1, 16, 3, padding=1, rng=seed), nn.ReLU(), MaxPool2d(2),
                         Conv2d(16, 32, 3, padding=1, rng=seed + 1), nn.ReLU(), MaxPool2d(2),
                         Flatten(), nn.Linear(32 * 2 * 2, 10, rng=seed + 2))


@needs_sklearn
def test_a_conv_net_reaches_97_percent_on_the_digits() -> None:
    Xtr, Xte, ytr, yte = _digits(seed=0)
    model = _cnn(seed=0)
    assert model.output_shape((None, 64)) == (None, 10)
    cr.fit(model, Xtr, ytr, loss="cross_entropy", optimizer="adam", lr=2e-3, epochs=30,
           batch_size=32, seed=0, verbose=0)
    with cr.no_grad():
        accuracy = (model.eval()(Xte).numpy().argmax(axis=1) == yte).mean()
    assert accuracy >= 0.97, accuracy


@needs_sklearn
def test_a_trained_cnn_saves_reloads_and_predicts_bit_identically(tmp_path: Path) -> None:
    Xtr, Xte, ytr, _ = _digits(seed=1)
    model = nn.Sequential(Unflatten(1, (1, 8, 8)), Conv2d(1, 8, 3, rng=0), BatchNorm2d(8),
                          nn.ReLU(), Dropout2d(0.1, rng=0), AdaptiveAvgPool2d(1), Flatten(),
                          nn.Linear(8, 10, rng=1))
    cr.fit(model, Xtr, ytr, loss="cross_entropy", optimizer="adam", lr=5e-3, epochs=2,
           batch_size=64, seed=0, verbose=0)
    bn = model[2]
    assert not np.array_equal(bn.running_mean, np.zeros(8))  # the buffers moved in training
    path = tmp_path / "cnn.safetensors"
    save(model, path)
    loaded = load(path)
    assert repr(loaded) == repr(model)
    np.testing.assert_array_equal(loaded[2].running_var, bn.running_var)
    with cr.no_grad():
        np.testing.assert_array_equal(loaded.eval()(Xte).numpy(), model.eval()(Xte).numpy())


@pytest.mark.parametrize("layer", [
    Conv2d(3, 6, (3, 2), stride=(2, 1), padding=(1, 0), dilation=(1, 2),
           groups=3, bias=False, dtype=np.float64, rng=0),
    Conv2d(2, 4, 3, padding="same", rng=0),
    BatchNorm2d(4, eps=1e-3, momentum=0.2, affine=False),
    MaxPool2d((2, 3), stride=1, padding=1),
    AdaptiveAvgPool2d(1),
    Dropout2d(0.3),
    Unflatten(1, (2, 3)),
])
def test_every_conv_layer_round_trips_through_its_config(layer: nn.Module) -> None:
    config = nn.registry.config_of(layer)
    rebuilt = nn.registry.from_config(config)
    assert type(rebuilt) is type(layer) and repr(rebuilt) == repr(layer)
    assert nn.registry.config_of(rebuilt) == config
    assert [(k, v.shape, v.dtype) for k, v in rebuilt.state_dict().items()] == [
        (k, v.shape, v.dtype) for k, v in layer.state_dict().items()]
