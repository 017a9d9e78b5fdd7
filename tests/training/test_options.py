"""fit's options: sample weights, gradient clipping, target standardisation, metrics, the
guard's stop as callbacks see it, and the one check of every option."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import chainrule as cr
from chainrule import nn
from chainrule.errors import ConfigError, DataError
from chainrule.training import (
    Callback,
    EarlyStopping,
    TerminateOnNaN,
    Trainer,
    evaluate,
    metrics,
)
from chainrule.training.config import TrainConfig


def _classes(n: int = 40, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    X = np.random.default_rng(seed).normal(size=(n, 3))
    return X, (X[:, 0] - X[:, 1] > 0).astype(np.int64) + (X[:, 2] > 0.8)


def _values(n: int = 50, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 3))
    # body mass in grams: a large mean and spread, as on the penguin data
    return X, 4200.0 + 800.0 * (X @ np.array([1.0, -0.5, 0.25])) + rng.normal(0, 50, n)


def _net(n_out: int, seed: int = 0) -> nn.Sequential:
    return nn.Sequential(nn.Linear(3, 6, rng=seed, dtype=np.float64), nn.Tanh(),
                         nn.Linear(6, n_out, rng=seed + 1, dtype=np.float64))


def _params(model: nn.Module) -> list[np.ndarray]:
    return [p.numpy().copy() for p in model.parameters()]


# -- sample weights -------------------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["cross_entropy", "mse", "bce_with_logits"])
def test_integer_weights_equal_duplicated_rows_in_full_batch(kind: str) -> None:
    X, y = _classes()
    if kind == "mse":
        X, y = _values()
        y = (y - y.mean()) / y.std()
    if kind == "bce_with_logits":
        y = (y > 0).astype(np.float64)
    w = np.random.default_rng(1).integers(0, 4, size=len(X))
    rows = np.repeat(np.arange(len(X)), w)
    n_out = 3 if kind == "cross_entropy" else 1
    a, b = _net(n_out), _net(n_out)
    opts = {"loss": kind, "optimizer": "sgd", "lr": 0.3, "batch_size": None, "epochs": 15,
            "verbose": 0}
    ha = cr.fit(a, X, y, sample_weight=w, **opts)
    hb = cr.fit(b, X[rows], y[rows], **opts)
    for p, q in zip(_params(a), _params(b)):
        np.testing.assert_allclose(p, q, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(ha["loss"], hb["loss"], rtol=1e-12)
    ea = evaluate(a, X, y, loss=kind, sample_weight=w)
    eb = evaluate(a, X[rows], y[rows], loss=kind)
    assert ea == pytest.approx(eb, rel=1e-12)


def test_weighted_validation_data_and_metrics_match_the_metric_functions() -> None:
    X, y = _values()
    Xv, yv = X[:20], y[:20]
    wv = np.linspace(0.5, 2.0, 20)
    model = _net(1)
    h = cr.fit(model, X, y, epochs=3, lr=0.01, verbose=0, metrics=["mse", "mae", "r2"],
               validation_data=(Xv, yv, wv), standardize_target=True)
    with cr.no_grad():
        pred = model(Xv).numpy()[:, 0]
    assert h["val_r2"][-1] == pytest.approx(metrics.r2(yv, pred, wv), rel=1e-9)
    assert h["val_mae"][-1] == pytest.approx(metrics.mae(yv, pred, wv), rel=1e-9)
    assert h["val_loss"][-1] == pytest.approx(metrics.mse(yv, pred, wv), rel=1e-9)


def test_bad_sample_weights_are_named() -> None:
    X, y = _classes()
    with pytest.raises(DataError, match=r"sample_weight\[3\] is -1.0"):
        w = np.ones(len(X))
        w[3] = -1
        cr.fit(_net(3), X, y, sample_weight=w, verbose=0)
    with pytest.raises(DataError, match="shape"):
        cr.fit(_net(3), X, y, sample_weight=np.ones(3), verbose=0)
    with pytest.raises(ConfigError, match="needs one of the built-in losses"):
        cr.fit(_net(3), X, y, sample_weight=np.ones(len(X)), verbose=0,
               loss=lambda out, t: nn.CrossEntropyLoss()(out, t))


# -- gradient clipping ----------------------------------------------------------------------------
def test_clip_grad_norm_equals_a_hand_written_loop_with_pytorch_rule() -> None:
    X, y = _classes()
    a, b = _net(3), _net(3)
    cr.fit(a, X, y, optimizer="sgd", lr=0.5, batch_size=None, epochs=10, clip_grad_norm=0.05,
           verbose=0)
    opt = cr.optim.SGD(b.parameters(), lr=0.5)
    for _ in range(10):
        opt.zero_grad()
        nn.CrossEntropyLoss()(b(cr.tensor(X)), y).backward()
        grads = [p.grad for p in b.parameters()]
        total = np.sqrt(sum(float((np.asarray(g) ** 2).sum()) for g in grads))
        scale = float(min(1.0, 0.05 / (total + 1e-6)))  # torch.nn.utils.clip_grad_norm_'s rule
        for g in grads:
            g *= scale
        opt.step()
    for p, q in zip(_params(a), _params(b)):
        np.testing.assert_allclose(p, q, rtol=1e-12, atol=1e-14)


# -- standardised targets -------------------------------------------------------------------------
def test_standardize_target_trains_in_standard_units_and_predicts_in_the_targets() -> None:
    X, y = _values()
    a, b = _net(1), _net(1)
    h = cr.fit(a, X, y, optimizer="adam", lr=0.02, batch_size=10, epochs=6, seed=3, verbose=0,
               standardize_target=True, validation_split=0.2)
    # The same run by hand: standardise with the training rows' mean and std, then undo.
    trainer = Trainer(b, optimizer="adam", lr=0.02, batch_size=10, seed=3, verbose=0)
    ids = np.arange(len(X)).reshape(-1, 1)
    from chainrule.data import train_test_split

    tr, va, _, _ = train_test_split(ids, y, 0.2, seed=np.random.default_rng(
        np.random.SeedSequence(trainer.seed).spawn(2)[0]))
    m, s = y[tr[:, 0]].mean(), y[tr[:, 0]].std()
    trainer.fit(X[tr[:, 0]], (y[tr[:, 0]] - m) / s, 6)
    with cr.no_grad():
        pa, pb = a(X).numpy()[:, 0], b(X).numpy()[:, 0] * s + m
    np.testing.assert_allclose(pa, pb, rtol=1e-10)
    # Reported numbers are in grams.
    yv, pv = y[va[:, 0]], pa[va[:, 0]]
    assert h["val_loss"][-1] == pytest.approx(metrics.mse(yv, pv), rel=1e-9)
    assert h["val_loss"][-1] > 100.0  # grams squared, not standard units


def test_standardize_target_needs_a_regression_loss_and_a_final_linear() -> None:
    X, y = _classes()
    with pytest.raises(ConfigError, match="for regression with the mse loss"):
        cr.fit(_net(3), X, y, standardize_target=True, verbose=0)
    Xv, yv = _values()
    with pytest.raises(ConfigError, match="last layer is a Linear"):
        cr.fit(nn.Sequential(_net(1), nn.Tanh()), Xv, yv, standardize_target=True, verbose=0)


# -- the guard's stop, as callbacks see it --------------------------------------------------------
class Ends(Callback):
    def __init__(self) -> None:
        self.ended = False

    def on_train_end(self, logs=None):
        self.ended = True


def test_a_diverging_run_with_early_stopping_ends_with_the_guards_warning() -> None:
    X, y = _values()
    ends = Ends()
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        h = cr.fit(_net(1), X * 1e3, y, optimizer="sgd", lr=1e300, epochs=20, verbose=0,
                   validation_split=0.2, callbacks=[EarlyStopping("val_loss", patience=3), ends])
    assert ends.ended
    assert h.stop_reason.startswith("stopped: non-finite numbers in epoch")
    assert str(record[-1].message) == h.stop_reason.removeprefix("stopped: ")
    assert record[-1].filename == __file__  # the warning points at the caller's line


def test_terminate_on_nan_turns_the_guard_on() -> None:
    X, y = _values()
    model = _net(1)
    with pytest.warns(UserWarning, match="non-finite numbers in epoch 1, batch 1"):
        h = cr.fit(model, X, y, optimizer="sgd", lr=1e308, batch_size=None, epochs=3,
                   verbose=0, terminate_on_nan=False, callbacks=[TerminateOnNaN()])
    assert len(h) == 1 and all(np.isfinite(p).all() for p in _params(model))


# -- options are checked once ----------------------------------------------------------------------
@pytest.mark.parametrize("options, match", [
    ({"epoch": 3}, "unknown option 'epoch'; the options are allow_single_class"),
    ({"epochs": True}, "epochs must be a non-negative integer, got True"),
    ({"epochs": -1}, "epochs must be a non-negative integer"),
    ({"seed": -1}, "seed must be a non-negative integer"),
    ({"seed": "abc"}, "seed must be a non-negative integer"),
    ({"validation_split": "0.2"}, "validation_split must be a number"),
    ({"metrics": 3}, "metrics must be 'auto'"),
    ({"metrics": ["f1"]}, "unknown metric 'f1'"),
    ({"clip_grad_norm": -1.0}, "clip_grad_norm must be a positive finite number"),
    ({"shuffle": "yes"}, "shuffle must be True or False"),
    ({"batch_size": 2.5}, "batch_size must be a positive integer or None"),
    ({"callbacks": Ends()}, "callbacks must be a list"),
    ({"checkpoint_every": 0}, "checkpoint_every"),
    ({"resume": 1, "checkpoint": "x.ckpt"}, "resume must be True or False"),
])
def test_bad_options_are_named(options: dict, match: str) -> None:
    X, y = _classes()
    with pytest.raises(ConfigError, match=match):
        cr.fit(_net(3), X, y, verbose=0, **options)


def test_lr_may_be_a_numpy_number() -> None:
    X, y = _classes()
    cr.fit(_net(3), X, y, lr=np.float32(0.1), epochs=1, verbose=0)


def test_a_config_object_is_the_same_as_keywords() -> None:
    X, y = _classes()
    a, b = _net(3), _net(3)
    cr.fit(a, X, y, epochs=2, lr=0.05, seed=4, verbose=0)
    cr.fit(b, X, y, epochs=2, config=TrainConfig(lr=0.05, seed=4, verbose=0,
                                                   allow_single_class=False))
    for p, q in zip(_params(a), _params(b)):
        np.testing.assert_array_equal(p, q)
    with pytest.raises(ConfigError, match="not both"):
        cr.fit(_net(3), X, y, config=TrainConfig(), lr=0.1)


def test_metrics_needing_classes_are_refused_for_regression() -> None:
    X, y = _values()
    with pytest.raises(ConfigError, match="'accuracy' needs classes"):
        cr.fit(_net(1), X, y, metrics=["accuracy"], verbose=0)
