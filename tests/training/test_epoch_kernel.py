"""fit(compile=True) runs the rest of each epoch in one call of the step kernel
(training/epoch_kernel.py): the same weights, history and guard stops as eager training, and
the batch-by-batch loop wherever something happens between batches."""

import numpy as np
import pytest
from small_nets import mlp, problem

import chainrule as cr
from chainrule import nn
from chainrule.training import flat, kernel

pytestmark = [pytest.mark.cpu_only,
              pytest.mark.skipif(kernel.kernels() is None, reason="needs numba")]

@pytest.fixture
def epochs_run(monkeypatch):
    """How many times the whole-epoch kernel ran (for one epoch, or several)."""
    calls = []

    def counting(real):
        def counted(self, *args, **kwargs):
            out = real(self, *args, **kwargs)
            calls.append(out is not None)
            return out
        return counted
    for name in ("run_epoch", "run_epochs"):
        monkeypatch.setattr(flat.FlatStep, name, counting(getattr(flat.FlatStep, name)))
    return calls


def _fit_both(make_model, X, y, **options):
    results = []
    for compiled in (False, True):
        model = make_model()
        h = cr.fit(model, X, y, verbose=0, seed=0, compile=compiled, **options)
        results.append((h, [p.data.copy() for p in model.parameters()]))
    return results


CASES = [  # loss, output layer, optimizer settings, hidden activation
    ("ce", None, dict(optimizer="sgd", lr=0.1), "relu"),
    ("ce", None, dict(optimizer=lambda p: cr.optim.SGD(p, lr=0.05, momentum=0.9,
                                                         nesterov=True)), "tanh"),
    ("bce", nn.Sigmoid, dict(optimizer="adam", lr=0.01), "tanh"),
    ("bce_logits", None, dict(optimizer="adamw", lr=0.01), "relu"),
    ("mse", None, dict(optimizer="rmsprop", lr=0.005), "sigmoid"),
]


@pytest.mark.parametrize("kind,out,opt,act", CASES)
@pytest.mark.parametrize("batch_size", [7, 8, None])
def test_fit_compiled_equals_eager_epoch_by_epoch(kind, out, opt, act, batch_size,
                                                   epochs_run):
    n_out = 1 if kind.startswith("bce") or kind == "mse" else 3
    X, y, loss_fn, _ = problem(kind, 40, 4, n_out, np.float64, seed=1)
    options = dict(opt)
    if callable(options.get("optimizer")):
        make_opt = options.pop("optimizer")
        models = []

        def make():
            models.append(mlp([4, 6, 5, n_out], act, np.float64, out))
            return models[-1]
        results = []
        for compiled in (False, True):
            model = make()
            h = cr.fit(model, X, y, loss=loss_fn, optimizer=make_opt(model.parameters()),
                       epochs=5, batch_size=batch_size, verbose=0, seed=0, compile=compiled,
)
            results.append((h, [p.data.copy() for p in model.parameters()]))
    else:
        results = _fit_both(lambda: mlp([4, 6, 5, n_out], act, np.float64, out), X, y,
                            loss=loss_fn, epochs=5, batch_size=batch_size, **options)
    (eager, w_eager), (fast, w_fast) = results
    assert any(epochs_run), "the whole-epoch kernel never ran"
    for key in eager.history:
        np.testing.assert_allclose(fast[key], eager[key], rtol=1e-12, atol=1e-14,
                                   err_msg=key)
    for a, b in zip(w_fast, w_eager):
        np.testing.assert_allclose(a, b, rtol=1e-11, atol=1e-13)


def test_float32_within_its_tolerance(epochs_run):
    X, y, loss_fn, _ = problem("ce", 200, 8, 4, np.float32, seed=1)
    (eager, w_eager), (fast, w_fast) = _fit_both(
        lambda: mlp([8, 16, 4], "relu", np.float32), X, y, loss=loss_fn, optimizer="adam",
        lr=0.01, epochs=4, batch_size=32)
    assert any(epochs_run)
    np.testing.assert_allclose(fast["loss"], eager["loss"], rtol=1e-4)
    for a, b in zip(w_fast, w_eager):
        np.testing.assert_allclose(a, b, rtol=1e-3, atol=1e-5)


def test_the_guard_stops_where_eager_training_stops(epochs_run):
    X, y, loss_fn, _ = problem("mse", 40, 4, 1, np.float64, seed=1)
    X[29] = 1e155  # finite, but its squared error overflows: the loss of batch 4 is inf
    results = _fit_both(lambda: mlp([4, 6, 1], "relu", np.float64), X, y, loss=loss_fn,
                        optimizer="sgd", lr=0.01, epochs=3, batch_size=8, shuffle=False)
    (eager, w_eager), (fast, w_fast) = results
    assert any(epochs_run)
    assert eager.stop_reason is not None and "epoch 1, batch 4" in eager.stop_reason
    assert fast.stop_reason == eager.stop_reason
    for a, b in zip(w_fast, w_eager):
        np.testing.assert_allclose(a, b, rtol=1e-12)


def test_an_update_that_overflows_is_undone_as_eager_training_undoes_it(epochs_run):
    X, y, loss_fn, _ = problem("mse", 40, 4, 1, np.float64, seed=1)
    # finite loss and gradients, but lr * gradient overflows a weight in the first update
    results = _fit_both(lambda: mlp([4, 6, 1], "relu", np.float64), X, y * 1e6,
                        loss=loss_fn, optimizer="sgd", lr=1e306, epochs=3, batch_size=8)
    (eager, w_eager), (fast, w_fast) = results
    assert any(epochs_run)
    assert eager.stop_reason is not None and "the update made" in eager.stop_reason
    assert fast.stop_reason == eager.stop_reason
    for a, b, start in zip(w_fast, w_eager, mlp([4, 6, 1], "relu", np.float64).parameters()):
        np.testing.assert_array_equal(a, b)
        np.testing.assert_array_equal(a, start.data)  # the weights from before the update


class _CountBatches(cr.training.Callback):
    def __init__(self):
        self.seen = 0

    def on_batch_end(self, batch, logs=None):
        self.seen += 1


@pytest.mark.parametrize("option", ["callback", "sample_weight", "clip", "standardize"])
def test_batch_by_batch_where_something_happens_between_batches(option, epochs_run):
    X, y, loss_fn, _ = problem("ce", 40, 4, 3, np.float64, seed=1)
    options = dict(loss=loss_fn, optimizer="sgd", lr=0.1, epochs=2, batch_size=8)
    counter = _CountBatches()
    if option == "callback":
        options["callbacks"] = [counter]
    elif option == "sample_weight":
        options["sample_weight"] = np.linspace(0.5, 2.0, 40)
    elif option == "clip":
        options["clip_grad_norm"] = 0.1
    else:  # regression on standardised targets: the loss is reported in the target's units
        X, y, loss_fn, _ = problem("mse", 40, 4, 3, np.float64, seed=1)
        options.update(loss=loss_fn, standardize_target=True)
        y = y * 50 + 7
    (eager, w_eager), (fast, w_fast) = _fit_both(lambda: mlp([4, 6, 3], "tanh", np.float64),
                                                 X, y, **options)
    assert not any(epochs_run)
    if option == "callback":
        assert counter.seen == 20  # every batch of both epochs, in both runs
    np.testing.assert_allclose(fast["loss"], eager["loss"], rtol=1e-12)
    for a, b in zip(w_fast, w_eager):
        np.testing.assert_allclose(a, b, rtol=1e-11, atol=1e-13)


def test_wide_layers_step_batch_by_batch_as_the_faster_numpy_plan(epochs_run):
    # past kernel.LARGEST multiply-adds in a layer the NumPy plan is the faster one
    X, y, loss_fn, _ = problem("ce", 64, 8, 3, np.float64, seed=1)
    width = kernel.LARGEST // (32 * 8) + 1
    (eager, _), (fast, _) = _fit_both(
        lambda: mlp([8, width, 3], "relu", np.float64), X, y, loss=loss_fn,
        optimizer="sgd", lr=0.01, epochs=2, batch_size=32)
    assert not any(epochs_run)
    np.testing.assert_allclose(fast["loss"], eager["loss"], rtol=1e-12)
