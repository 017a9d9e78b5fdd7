"""cr.fit(..., device=): a model trained on another device (the array API's strict library,
the suite's stand-in for a GPU) gives the CPU's numbers, and its file loads on the CPU."""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
from chainrule import nn

pytest.importorskip("array_api_strict")
DEVICE = "array_api_strict"
# These tests place every tensor on each device themselves, from the CPU default.
pytestmark = pytest.mark.cpu_only
RNG = np.random.default_rng(0)


def _fit_both(make, X, y, **options):
    runs = []
    for device in ("cpu", DEVICE):
        model = make()
        history = cr.fit(model, X, y, seed=0, verbose=0, device=device, **options)
        assert model.device == device
        runs.append((model, history))
    return runs


def _same(runs, rtol=1e-10):
    (a, ha), (b, hb) = runs
    np.testing.assert_allclose(hb.history["loss"], ha.history["loss"], rtol=rtol)
    for (name, p), (_, q) in zip(a.named_parameters(), b.named_parameters()):
        np.testing.assert_allclose(q.numpy(), p.numpy(), rtol=rtol, atol=1e-12, err_msg=name)


def test_an_mlp_with_adam_trains_to_the_same_weights():
    X = RNG.normal(size=(120, 4))
    y = (X[:, 0] * X[:, 1] > 0).astype(int)

    def make():
        return nn.Sequential(nn.Linear(4, 16, rng=0, dtype="float64"), nn.Tanh(),
                             nn.Dropout(0.2, rng=1), nn.Linear(16, 2, rng=2, dtype="float64"))
    _same(_fit_both(make, X, y, epochs=4, batch_size=16, optimizer="adam", lr=0.01,
                    validation_split=0.2, clip_grad_norm=1.0))


def test_a_conv_net_with_batchnorm_trains_to_the_same_weights():
    X = RNG.normal(size=(24, 1, 8, 8))
    y = RNG.integers(0, 3, size=24)

    def make():
        return nn.Sequential(nn.Conv2d(1, 4, 3, padding=1, rng=0, dtype="float64"),
                             nn.BatchNorm2d(4, dtype="float64"), nn.ReLU(), nn.MaxPool2d(2),
                             nn.Flatten(), nn.Linear(64, 3, rng=1, dtype="float64"))
    _same(_fit_both(make, X, y, epochs=2, batch_size=8, optimizer="sgd", lr=0.05))


def test_regression_with_standardised_targets_folds_on_the_device():
    X = RNG.normal(size=(60, 3))
    y = X @ np.array([2.0, -1.0, 0.5]) * 1e3 + 5e3

    def make():
        return nn.Sequential(nn.Linear(3, 8, rng=0, dtype="float64"), nn.ReLU(),
                             nn.Linear(8, 1, rng=1, dtype="float64"))
    runs = _fit_both(make, X, y, epochs=3, batch_size=10, loss="mse",
                     standardize_target=True, optimizer="adam", lr=0.01)
    _same(runs)
    a, b = runs[0][0], runs[1][0]
    with cr.no_grad():
        np.testing.assert_allclose(b(cr.tensor(X, device=DEVICE)).numpy(),
                                   a(cr.tensor(X, device="cpu")).numpy(), rtol=1e-10)


def test_a_model_trained_on_the_device_saves_and_loads_on_the_cpu(tmp_path):
    X = RNG.normal(size=(40, 2))
    y = (X[:, 0] > 0).astype(int)
    model = nn.Sequential(nn.Linear(2, 4, rng=0, dtype="float64"), nn.Tanh(),
                          nn.Linear(4, 2, rng=1, dtype="float64"))
    cr.fit(model, X, y, epochs=2, verbose=0, device=DEVICE)
    path = tmp_path / "model.safetensors"
    cr.save(model, path)
    again = cr.load(path)
    assert again.device == "cpu"
    np.testing.assert_allclose(again(cr.tensor(X, device="cpu")).numpy(),
                               model(cr.tensor(X, device=DEVICE)).numpy(), rtol=1e-12)
