"""fit(compile=True) runs several whole epochs in one kernel call where nothing needs Python
between two epochs (training/loop.py _run_epochs): the same weights, History, optimizer
step counts, shuffling generator and guard stops as the epochs run one call each, and one
call an epoch wherever a callback, validation or a checkpoint runs between epochs."""

import numpy as np
import pytest
from small_nets import mlp, problem

import chainrule as cr
from chainrule import nn
from chainrule.training import epoch_kernel, flat, kernel

pytestmark = [pytest.mark.cpu_only,
              pytest.mark.skipif(kernel.kernels() is None, reason="needs numba")]


@pytest.fixture
def calls(monkeypatch):
    """The epochs each call of run_epochs was asked for."""
    asked = []
    real = flat.FlatStep.run_epochs

    def counted(self, X, y, orders, starts, scales, epochs, *args):
        asked.append(epochs)
        return real(self, X, y, orders, starts, scales, epochs, *args)
    monkeypatch.setattr(flat.FlatStep, "run_epochs", counted)
    return asked


def _one_epoch_a_call(monkeypatch):
    monkeypatch.setattr(epoch_kernel.EpochKernel, "epochs_per_call", lambda self, left: 1)


def _course_net():
    rng = np.random.default_rng(2)
    model = nn.Sequential(nn.Linear(2, 4, dtype=np.float64, rng=0), nn.Tanh(),
                          nn.Linear(4, 1, dtype=np.float64, rng=1), nn.Sigmoid())
    X = rng.normal(size=(400, 2))
    y = (X[:, :1] * X[:, 1:] > 0).astype(np.float64)
    return model, X, y, dict(loss="bce", optimizer="sgd", lr=1.2, batch_size=None)


def _adam_mlp():
    X, y, loss_fn, _ = problem("ce", 90, 6, 3, np.float64, seed=4)
    return mlp([6, 8, 3], "relu", np.float64), X, y, dict(loss=loss_fn, optimizer="adam",
                                                          lr=0.01, batch_size=16)


def _run(make, epochs, **extra):
    model, X, y, options = make()
    trainer = cr.training.Trainer(model, **{**options, "verbose": 0, "seed": 3,
                                            "compile": True, **extra})
    trainer.fit(X, y, epochs)
    return trainer


def _assert_same(a, b):
    assert a.history.epochs == b.history.epochs
    assert list(a.history.history) == list(b.history.history)
    for key in a.history.history:
        np.testing.assert_allclose(a.history[key], b.history[key], rtol=1e-12, atol=0,
                                   err_msg=key)
    for p, q in zip(a.model.parameters(), b.model.parameters()):
        np.testing.assert_allclose(p.data, q.data, rtol=1e-12, atol=1e-15)
    assert a.optimizer.step_count == b.optimizer.step_count
    assert list(a.optimizer.steps) == list(b.optimizer.steps)
    assert a.state.rng.bit_generator.state == b.state.rng.bit_generator.state
    assert (a.epoch, a.stop_reason, a.nonfinite) == (b.epoch, b.stop_reason, b.nonfinite)


@pytest.mark.parametrize("make,shuffle", [(_course_net, False), (_adam_mlp, False),
                                          (_adam_mlp, True)])
def test_several_epochs_a_call_equal_one_a_call(make, shuffle, calls, monkeypatch):
    together = _run(make, 12, shuffle=shuffle)
    assert max(calls) > 1, "no call ran several epochs"
    _one_epoch_a_call(monkeypatch)
    calls.clear()
    apart = _run(make, 12, shuffle=shuffle)
    assert not calls
    _assert_same(together, apart)
    assert len(together.history) == 12


def test_a_bounded_number_of_epochs_a_call(calls, monkeypatch):
    # 90 rows x 3 outputs: at most 3 epochs' outputs a call
    monkeypatch.setattr(epoch_kernel, "EPOCH_OUTPUTS", 3 * 90 * 3)
    together = _run(_adam_mlp, 10, shuffle=True)
    assert calls and max(calls) == 3
    _one_epoch_a_call(monkeypatch)
    _assert_same(together, _run(_adam_mlp, 10, shuffle=True))


@pytest.mark.parametrize("shuffle", [False, True])
def test_the_guard_stops_at_the_same_epoch_and_batch(shuffle, calls, monkeypatch):
    def diverging():
        # too high a learning rate: the loss grows past float64 in the third epoch
        X, y, loss_fn, _ = problem("mse", 48, 4, 1, np.float64, seed=1)
        return mlp([4, 6, 1], "relu", np.float64), X * 3, y, dict(
            loss=loss_fn, optimizer="sgd", lr=0.3, batch_size=16)
    together = _run(diverging, 20, shuffle=shuffle)
    assert calls and together.nonfinite is not None and together.nonfinite["epoch"] > 1
    _one_epoch_a_call(monkeypatch)
    apart = _run(diverging, 20, shuffle=shuffle)
    _assert_same(together, apart)


class _EveryEpoch(cr.training.Callback):
    def __init__(self):
        self.seen = []

    def on_epoch_end(self, epoch, logs=None):
        self.seen.append(epoch)


@pytest.mark.parametrize("option", ["callback", "validation", "checkpoint", "verbose"])
def test_one_epoch_a_call_where_something_runs_between_epochs(option, calls, tmp_path,
                                                               monkeypatch, capsys):
    extra, fit_args = {}, {}
    if option == "callback":
        extra["callbacks"] = [_EveryEpoch()]
    elif option == "checkpoint":
        extra["checkpoint"] = str(tmp_path / "run.ckpt")
    elif option == "verbose":
        extra["verbose"] = 2
    model, X, y, options = _adam_mlp()
    if option == "validation":
        fit_args["validation_split"] = 0.2
    trainer = cr.training.Trainer(model, **{**options, "seed": 3, "compile": True,
                                            "verbose": 0, **extra})
    trainer.fit(X, y, 4, **fit_args)
    assert not calls
    assert len(trainer.history) == 4
    if option == "callback":
        assert extra["callbacks"][0].seen == [0, 1, 2, 3]
