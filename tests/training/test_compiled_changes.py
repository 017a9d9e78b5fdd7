"""cr.compile and fit(compile=True) after the network changed: the replay computes the network
as it is now, step for step equal to eager training of the changed model (float64)."""

from __future__ import annotations

import copy
import functools
import warnings

import numpy as np
import pytest

import chainrule as cr
from chainrule import nn
from chainrule.nn import functional as F
from chainrule.training import compiled

# Compiled plans are NumPy's and numba's: they run on the CPU only (other devices train
# eagerly, tests/engine/test_devices.py and tests/training/test_device_fit.py).
pytestmark = pytest.mark.cpu_only

F64 = np.float64
RNG = np.random.default_rng(0)
X = RNG.normal(size=(12, 3))
Y = RNG.normal(size=(12, 2))


def _model():
    return nn.Sequential(nn.Linear(3, 5, dtype=F64, rng=0), nn.Tanh(),
                         nn.Linear(5, 2, dtype=F64, rng=1))


def _train(model, loss_fn, opt, change, compiled_step, steps=(3, 4)):
    """``steps[0]`` steps, ``change(model, loss_fn, opt)``, ``steps[1]`` more; returns the
    losses, the compiled step (or None) and the model (the change may return a new one)."""
    state = {"model": model, "opt": opt}

    def step(xb, yb):
        state["opt"].zero_grad()
        loss = loss_fn(state["model"](xb), yb)
        loss.backward()
        state["opt"].step()
        return loss

    fast = cr.compile(step, model=model, loss_fn=loss_fn, optimizer=opt) if compiled_step \
        else step
    losses = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # eager fallbacks, asserted elsewhere
        for _ in range(steps[0]):
            losses.append(float(fast(cr.tensor(X), Y)))
        new = change(model, loss_fn, opt)
        if new is not None:  # a new model (and optimizer): the step names them now
            state["model"], state["opt"] = new
            if compiled_step:
                fast.model, fast.optimizer = new
        for _ in range(steps[1]):
            losses.append(float(fast(cr.tensor(X), Y)))
    return losses, (fast if compiled_step else None), state["model"]


def _swap_activation(m, loss_fn, opt):
    m[1] = nn.ReLU()


def _swap_activation_in_dict(m, loss_fn, opt):
    m._modules["1"] = nn.LeakyReLU(0.3)  # bypassing setattr: Sequential runs _modules


def _append_activation(m, loss_fn, opt):
    m.append(nn.Tanh())


def _append_trained_layer(m, loss_fn, opt):
    layer = nn.Linear(2, 2, dtype=F64, rng=7)
    m.append(layer)
    opt.add_param_group({"params": layer.parameters()})


def _delete_activation(m, loss_fn, opt):
    del m[1]


def _insert_trained_layer(m, loss_fn, opt):
    layer = nn.Linear(5, 5, dtype=F64, rng=8)
    m.insert(1, layer)  # Linear, Linear, Tanh, Linear
    opt.add_param_group({"params": layer.parameters()})


def _leaky(m, loss_fn, opt):
    m[1].negative_slope = 0.5


def _new_weight(m, loss_fn, opt):
    # The optimizer still holds the old tensor: eager training leaves the new one as set.
    m[0].weight = nn.Parameter(np.full((5, 3), 0.1))


def _new_bias_one_number(m, loss_fn, opt):
    # A one-element tensor equal in value to the old one compares equal: identity must count.
    m[2].bias = nn.Parameter(m[2].bias.data.copy())


def _new_data_shape(m, loss_fn, opt):
    rng = np.random.default_rng(3)
    m[0].weight.data = rng.normal(size=(4, 3))
    m[0].bias.data = rng.normal(size=4)
    m[2].weight.data = rng.normal(size=(2, 4))


def _new_data_same_shape(m, loss_fn, opt):
    m[0].weight.data = m[0].weight.data * 0.5


def _to_float32(m, loss_fn, opt):
    m.to(np.float32)


def _freeze_weight(m, loss_fn, opt):
    m[0].weight.requires_grad = False


def _eval_mode(m, loss_fn, opt):
    m.eval()


def _train_mode(m, loss_fn, opt):
    m.train()


def _reduction_sum(m, loss_fn, opt):
    loss_fn.reduction = "sum"


def _drop_p(m, loss_fn, opt):
    m[2].p = 0.5


def _new_model(m, loss_fn, opt):
    other = nn.Sequential(nn.Linear(3, 4, dtype=F64, rng=5), nn.ReLU(),
                          nn.Linear(4, 2, dtype=F64, rng=6))
    return other, cr.optim.SGD(other.parameters(), lr=0.05)


def _dropout_model(p, training):
    m = nn.Sequential(nn.Linear(3, 5, dtype=F64, rng=0), nn.Tanh(), nn.Dropout(p, rng=4),
                      nn.Linear(5, 2, dtype=F64, rng=1))
    return m.train(training)


def _leaky_model():
    return nn.Sequential(nn.Linear(3, 5, dtype=F64, rng=0), nn.LeakyReLU(0.1),
                         nn.Linear(5, 2, dtype=F64, rng=1))


# name: (model, change, optimizer, whether the changed model is replayed)
CHANGES = {
    "activation swapped": (_model, _swap_activation, "adam", True),
    "activation swapped in _modules": (_model, _swap_activation_in_dict, "adam", True),
    "activation deleted": (_model, _delete_activation, "adam", True),
    "trained layer inserted": (_model, _insert_trained_layer, "momentum", True),
    "activation appended": (_model, _append_activation, "adam", True),
    "trained layer appended": (_model, _append_trained_layer, "momentum", True),
    "LeakyReLU slope": (_leaky_model, _leaky, "adam", True),
    "weight replaced by a new Parameter": (_model, _new_weight, "adam", True),
    "one-element bias replaced": (_model, _new_bias_one_number, "adam", True),
    "weight arrays of a new shape": (_model, _new_data_shape, "sgd", True),
    "weight array replaced, same shape": (_model, _new_data_same_shape, "adam", True),
    "model cast to float32": (_model, _to_float32, "sgd", True),
    "weight frozen": (_model, _freeze_weight, "momentum", True),
    "eval mode (dropout off)": (lambda: _dropout_model(0.5, True), _eval_mode, "adam", True),
    "train mode (dropout on)": (lambda: _dropout_model(0.5, False), _train_mode, "adam", False),
    "dropout rate from 0": (lambda: _dropout_model(0.0, True), _drop_p, "adam", False),
    "loss reduction": (_model, _reduction_sum, "adam", True),
    "another model and optimizer": (_model, _new_model, "sgd", True),
}

OPTIMIZERS = {
    "sgd": lambda m: cr.optim.SGD(m.parameters(), lr=0.05),
    "momentum": lambda m: cr.optim.SGD(m.parameters(), lr=0.05, momentum=0.9,
                                       weight_decay=0.01),
    "adam": lambda m: cr.optim.Adam(m.parameters(), lr=0.01),
}


@pytest.mark.parametrize("name", list(CHANGES))
def test_a_changed_network_trains_as_eager_training_of_it(name):
    make, change, opt_name, replayed = CHANGES[name]
    base = make()
    runs = []
    for compiled_step in (False, True):
        model = copy.deepcopy(base)
        runs.append(_train(model, nn.MSELoss(), OPTIMIZERS[opt_name](model), change,
                           compiled_step))
    (eager_losses, _, eager_model), (fast_losses, fast, fast_model) = runs
    tol = 1e-5 if name == "model cast to float32" else 1e-12
    np.testing.assert_allclose(fast_losses, eager_losses, rtol=tol)
    for a, b in zip(fast_model.parameters(), eager_model.parameters(), strict=True):
        np.testing.assert_allclose(a.data, b.data, rtol=tol, atol=tol * 1e-2)
    assert fast.compiled == replayed, fast.reason


def test_a_weight_frozen_after_capture_stays_unchanged():
    model = _model()
    opt = cr.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    fast = cr.compile(model=model, loss_fn=nn.MSELoss(), optimizer=opt)
    for _ in range(3):
        fast(X, Y)
    model[2].weight.requires_grad = False
    frozen = model[2].weight.data.copy()
    for _ in range(3):
        fast(X, Y)
    assert fast.compiled
    np.testing.assert_array_equal(model[2].weight.data, frozen)
    assert model[2].weight.grad is None


def test_the_step_functions_names_rebound_to_another_model_and_optimizer():
    # compile(step) finds the model, loss and optimizer from the names the step uses; after
    # ``model = ...`` the step trains the new model, and so must the replay.
    holder = {}

    def build(seed):
        model = nn.Sequential(nn.Linear(3, 4, dtype=F64, rng=seed), nn.Tanh(),
                              nn.Linear(4, 2, dtype=F64, rng=seed + 1))
        return model, cr.optim.Adam(model.parameters(), lr=0.01)

    def run(use_compile):
        model, opt = build(0)
        loss_fn = nn.MSELoss()

        def step(xb, yb):
            opt.zero_grad()
            loss = loss_fn(model(xb), yb)
            loss.backward()
            opt.step()
            return loss

        def rebind():
            nonlocal model, opt
            model, opt = build(10)
            holder["model"] = model

        fast = cr.compile(step) if use_compile else step
        for _ in range(3):
            fast(cr.tensor(X), Y)
        rebind()
        for _ in range(3):
            fast(cr.tensor(X), Y)
        return fast, [p.data.copy() for p in holder["model"].parameters()]

    _, eager = run(False)
    fast, replayed = run(True)
    assert fast.compiled, fast.reason
    for a, b in zip(replayed, eager, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-12)


def test_loss_options_held_in_a_partial_are_watched():
    def run(use_compile):
        model = _model()
        opt = cr.optim.SGD(model.parameters(), lr=0.05)
        loss_fn = functools.partial(F.mse_loss, reduction="mean")
        fast = cr.compile(model=model, loss_fn=loss_fn, optimizer=opt)
        for i in range(6):
            if i == 3:
                loss_fn.keywords["reduction"] = "sum"
            if use_compile:
                fast(X, Y)
            else:
                fast._eager(X, Y)
        return fast, [p.data.copy() for p in model.parameters()]

    _, eager = run(False)
    fast, replayed = run(True)
    assert fast.compiled, fast.reason
    for a, b in zip(replayed, eager, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-12)


def test_nothing_changed_means_no_new_capture(monkeypatch):
    calls = []
    real = compiled.capture
    monkeypatch.setattr(compiled, "capture", lambda *a: calls.append(1) or real(*a))
    model = _leaky_model()
    fast = cr.compile(model=model, loss_fn=nn.MSELoss(),
                      optimizer=cr.optim.Adam(model.parameters(), lr=0.01))
    for _ in range(5):
        fast(X, Y)
    model[1].negative_slope = 0.1 * 1.0  # the same option, set again
    model.train()  # already training
    model[0].weight.data = model[0].weight.data.copy()  # the same shape and dtype
    for _ in range(5):
        fast(X, Y)
    assert fast.compiled
    assert len(calls) == 1
    model[1].negative_slope = 0.2
    fast(X, Y)
    assert len(calls) == 2


def test_gradients_follow_the_changed_model():
    model = _leaky_model()
    fast = cr.compile(model=model, loss_fn=nn.MSELoss(),
                      optimizer=cr.optim.SGD(model.parameters(), lr=0.1))
    fast(X, Y)
    model[1].negative_slope = 0.7
    fast.gradients(X, Y)
    replayed = [p.grad.copy() for p in model.parameters()]
    for p in model.parameters():
        p.grad = None
    nn.MSELoss()(model(cr.tensor(X)), Y).backward()
    for a, p in zip(replayed, model.parameters(), strict=True):
        np.testing.assert_allclose(a, p.grad, rtol=1e-12)


@pytest.mark.parametrize("kind", ["dropout", "batchnorm"])
def test_an_eager_fallback_equals_eager_training(kind):
    # The capture's extra forward pass must not draw from Dropout's generator or move
    # BatchNorm's running statistics: the fallback then differs from plain eager training.
    def make():
        middle = nn.Dropout(0.3, rng=5) if kind == "dropout" else nn.BatchNorm1d(5, dtype=F64)
        return nn.Sequential(nn.Linear(3, 5, dtype=F64, rng=0), middle,
                             nn.Linear(5, 2, dtype=F64, rng=1))

    runs = []
    for use_compile in (False, True):
        model = make()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            cr.fit(model, X, Y, loss="mse", epochs=2, batch_size=4, seed=0, verbose=0,
                   compile=use_compile)
        runs.append(model.state_dict())
    for name in runs[0]:
        np.testing.assert_array_equal(runs[1][name], runs[0][name], err_msg=name)


def test_sample_weights_are_named_as_the_reason():
    w = np.linspace(0.5, 2.0, len(X))
    model = _model()
    fast = cr.compile(model=model, loss_fn=lambda out, y: F.mse_loss(out, y, sample_weight=w),
                      optimizer=cr.optim.SGD(model.parameters(), lr=0.1))
    with pytest.warns(RuntimeWarning, match="sample weights"):
        fast(X, Y)
    assert not fast.compiled


class _EditAtEpochEnd(cr.training.Callback):
    """Edits the model after each epoch: an activation swapped, its slope, a frozen weight,
    evaluation mode for the dropout, and finally a layer appended."""

    def on_epoch_end(self, epoch, logs=None):
        m = self.model
        if epoch == 0:
            m[1] = nn.LeakyReLU(0.1)
        elif epoch == 1:
            m[1].negative_slope = 0.4
            m[0].bias.requires_grad = False
        elif epoch == 2:
            m.eval()  # the Dropout(0.0) records nothing either way; the flag still counts
        elif epoch == 3:
            m.append(nn.Tanh())


def test_fit_with_compile_trains_the_network_a_callback_edits():
    results = []
    for use_compile in (False, True):
        model = nn.Sequential(nn.Linear(3, 6, dtype=F64, rng=0), nn.Tanh(),
                              nn.Dropout(0.0), nn.Linear(6, 2, dtype=F64, rng=1))
        with warnings.catch_warnings():
            warnings.simplefilter("error", RuntimeWarning)  # every network here replays
            h = cr.fit(model, X, Y, loss="mse", optimizer="adam", lr=0.01, epochs=5,
                       batch_size=4, seed=0, verbose=0, compile=use_compile,
                       callbacks=[_EditAtEpochEnd()])
        results.append((h["loss"], model))
    (eager_loss, eager), (fast_loss, fast) = results
    np.testing.assert_allclose(fast_loss, eager_loss, rtol=1e-12)
    for a, b in zip(fast.parameters(), eager.parameters(), strict=True):
        np.testing.assert_allclose(a.data, b.data, rtol=1e-12, atol=1e-14)
    assert isinstance(fast[1], nn.LeakyReLU) and len(fast) == 5
