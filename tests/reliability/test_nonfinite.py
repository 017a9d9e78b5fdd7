"""Non-finite numbers during training stop it with a message naming the epoch, the batch and
the first parameter or layer, and the model keeps its last finite weights."""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
from chainrule import nn
from chainrule.training import Callback


def _regression(n: int = 64) -> tuple[np.ndarray, np.ndarray]:
    X = np.random.default_rng(0).normal(size=(n, 3))
    return X, X @ np.array([1.0, -2.0, 3.0]) + 0.5


def _model() -> nn.Sequential:
    return nn.Sequential(nn.Linear(3, 8, rng=0, dtype=np.float64), nn.Tanh(),
                         nn.Linear(8, 1, rng=1, dtype=np.float64))


class Snapshots(Callback):
    """The weights after every completed step."""

    def __init__(self) -> None:
        self.last: dict[str, np.ndarray] | None = None
        self.steps = 0

    def on_batch_end(self, batch, logs=None):
        self.last = self.model.state_dict()
        self.steps += 1


def test_a_huge_learning_rate_stops_with_epoch_batch_and_hint() -> None:
    X, y = _regression()
    model, snaps = _model(), Snapshots()
    with pytest.warns(UserWarning) as record:
        hist = cr.fit(model, X * 1000, y, optimizer="sgd", lr=10.0, batch_size=16, epochs=200,
                      verbose=0, seed=0, callbacks=[snaps])
    message = str(record[-1].message)
    epoch, batch = len(hist), snaps.steps - (len(hist) - 1) * 4 + 1  # 4 batches per epoch
    assert f"non-finite numbers in epoch {epoch}, batch {batch}:" in message
    assert "the learning rate (10) is probably too high: try 1" in message
    assert "inputs are not scaled (largest |x| in the batch is" in message
    assert "the largest weight is in " in message or "from layer " in message
    assert hist.stop_reason == "stopped: " + message
    # the weights are those after the last good step, bit for bit
    for k, v in model.state_dict().items():
        np.testing.assert_array_equal(v, snaps.last[k])
        assert np.isfinite(v).all()
    with cr.no_grad():
        assert np.isfinite(model(X).data).all()


def test_the_first_parameter_with_a_non_finite_gradient_is_named() -> None:
    X, y = _regression()
    model = _model()
    bias = model[2].bias
    mse = nn.MSELoss()

    def loss(out, target):  # d sqrt(0 * b)/db = 0 * inf = nan: only 2.bias is hit
        return mse(out, target) + (bias * 0.0).sqrt().sum()

    before = model.state_dict()
    with pytest.warns(UserWarning, match=r"epoch 1, batch 1: the gradient of 2\.bias \(layer "
                                         r"2, Linear\) became nan first \(the loss was "):
        hist = cr.fit(model, X, y.reshape(-1, 1), loss=loss, batch_size=16, epochs=3,
                      verbose=0)
    assert len(hist) == 1
    for k, v in model.state_dict().items():  # no step was taken
        np.testing.assert_array_equal(v, before[k])


def test_an_update_that_overflows_is_undone() -> None:
    X, y = _regression()
    model = _model()
    before = model.state_dict()
    # which parameter overflows first, worked out by hand: w - lr * g with the first step's g
    probe = _model()
    nn.MSELoss()(probe(X), y.reshape(-1, 1)).backward()
    with np.errstate(over="ignore"):
        first = next(k for k, p in probe.named_parameters()
                     if not np.isfinite(p.data - 1e308 * p.grad).all())
    layer = first.split(".")[0]
    with pytest.warns(UserWarning, match=rf"epoch 1, batch 1: the update made {first} \(layer "
                                         rf"{layer}, Linear\) non-finite although every "
                                         r"gradient was finite"):
        cr.fit(model, X, y, optimizer="sgd", lr=1e308, batch_size=None, epochs=2, verbose=0)
    for k, v in model.state_dict().items():
        np.testing.assert_array_equal(v, before[k])


def test_a_nan_loss_names_the_first_layer_with_a_non_finite_output() -> None:
    X, y = _regression()
    model = nn.Sequential(nn.Linear(3, 8, rng=0, dtype=np.float64), nn.ReLU(),
                          nn.Linear(8, 1, rng=1, dtype=np.float64))
    model[0].weight.data[0, :] = 1e308  # finite, but 1e308 * x overflows in layer 0

    with pytest.warns(UserWarning, match=r"the loss became (inf|nan); the first non-finite "
                                         r"output came from layer 0 \(Linear\) \(its largest "
                                         r"\|weight\| is 1e\+308\)"):
        cr.fit(model, X * 10, y, batch_size=None, epochs=1, verbose=0, optimizer="sgd")


def test_the_guard_can_be_switched_off() -> None:
    X, y = _regression()
    model = _model()
    with np.errstate(all="ignore"):
        hist = cr.fit(model, X, y, optimizer="sgd", lr=1e308, batch_size=None, epochs=2,
                      verbose=0, terminate_on_nan=False)
    assert hist.stop_reason is None and len(hist) == 2
    assert not np.isfinite(model[0].weight.data).all()
