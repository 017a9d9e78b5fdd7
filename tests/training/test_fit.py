"""cr.fit: the loop against hand-written loops, seeds, validation, callbacks, interrupts."""

from __future__ import annotations

import csv
import io

import numpy as np
import pytest

import chainrule as cr
from chainrule import nn
from chainrule.data import DataError
from chainrule.training import (
    Callback,
    ConfigError,
    CSVLogger,
    EarlyStopping,
    LearningRateScheduler,
    TerminateOnNaN,
    Trainer,
    evaluate,
)


def _data(n: int = 60, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    X = np.random.default_rng(seed).normal(size=(n, 3))
    y = (X[:, 0] - X[:, 1] > 0).astype(np.int64)
    return X, y


def _model(n_out: int = 2, seed: int = 0, dtype: type = np.float64) -> nn.Sequential:
    return nn.Sequential(nn.Linear(3, 5, rng=seed, dtype=dtype), nn.Tanh(),
                         nn.Linear(5, n_out, rng=seed + 1, dtype=dtype))


def _params(model: nn.Module) -> list[np.ndarray]:
    return [p.numpy().copy() for p in model.parameters()]


def test_full_batch_equals_the_seeds_loop() -> None:
    X, y = _data()
    yf = y.reshape(-1, 1).astype(np.float64)
    a = nn.Sequential(nn.Linear(3, 4, rng=1, dtype=np.float64), nn.Tanh(),
                      nn.Linear(4, 1, rng=2, dtype=np.float64), nn.Sigmoid())
    b = nn.Sequential(nn.Linear(3, 4, rng=1, dtype=np.float64), nn.Tanh(),
                      nn.Linear(4, 1, rng=2, dtype=np.float64), nn.Sigmoid())
    cr.fit(a, X, y, optimizer="sgd", lr=0.5, batch_size=None, epochs=25, verbose=0)
    opt = cr.optim.SGD(b.parameters(), lr=0.5)
    for _ in range(25):
        opt.zero_grad()
        nn.BCELoss()(b(cr.tensor(X)), yf).backward()
        opt.step()
    for p, q in zip(_params(a), _params(b)):
        np.testing.assert_array_equal(p, q)


def test_minibatches_without_shuffle_equal_a_manual_loop() -> None:
    X, y = _data(50)
    a, b = _model(), _model()
    hist = cr.fit(a, X, y, optimizer="adam", lr=0.01, batch_size=16, epochs=3, shuffle=False,
                  verbose=0)
    opt = cr.optim.Adam(b.parameters(), lr=0.01)
    losses = []
    for _ in range(3):
        total = 0.0
        for s in range(0, 50, 16):
            opt.zero_grad()
            loss = nn.CrossEntropyLoss()(b(X[s:s + 16]), y[s:s + 16])
            loss.backward()
            opt.step()
            total += loss.item() * len(y[s:s + 16])
        losses.append(total / 50)
    for p, q in zip(_params(a), _params(b)):
        np.testing.assert_array_equal(p, q)
    np.testing.assert_allclose(hist["loss"], losses, rtol=1e-12)


def test_seed_fixes_the_shuffle_and_different_seeds_differ() -> None:
    X, y = _data()
    runs = []
    for seed in (3, 3, 4):
        m = _model()
        cr.fit(m, X, y, batch_size=8, epochs=2, seed=seed, verbose=0)
        runs.append(_params(m))
    assert all(np.array_equal(p, q) for p, q in zip(runs[0], runs[1]))
    assert not all(np.array_equal(p, q) for p, q in zip(runs[0], runs[2]))


def test_learns_and_reports_history() -> None:
    X, y = _data(200)
    hist = cr.fit(_model(), X, y, lr=0.05, epochs=15, validation_split=0.25, seed=0,
                  verbose=0)
    assert len(hist) == 15 and hist.epochs == list(range(1, 16))
    assert set(hist.history) == {"loss", "accuracy", "val_loss", "val_accuracy", "lr"}
    assert hist["loss"][-1] < hist["loss"][0]
    assert hist["val_accuracy"][-1] > 0.9
    assert hist.params["validation_samples"] == 50 and hist.params["samples"] == 150


def test_validation_split_is_stratified() -> None:
    X, _ = _data(100)
    y = np.array([0] * 80 + [1] * 20)
    seen: dict[str, np.ndarray] = {}

    class Spy(Callback):
        def on_train_begin(self, logs=None):
            seen["n"] = self.trainer.history.params["validation_samples"]

    trainer = Trainer(_model(), verbose=0, callbacks=[Spy()], seed=1)
    trainer.fit(X, y, 1, validation_split=0.2)
    assert seen["n"] == 20
    # the same split, recomputed with the public helper: 16 of class 0 and 4 of class 1
    from chainrule.data import train_test_split
    _, _, _, yv = train_test_split(X, y, 0.2, stratify=True, seed=5)
    assert np.bincount(yv).tolist() == [16, 4]


def test_regression_with_mse_and_1d_targets() -> None:
    X = np.random.default_rng(0).normal(size=(80, 3))
    y = X @ np.array([1.0, -2.0, 0.5]) + 0.3
    model = nn.Sequential(nn.Linear(3, 1, rng=0, dtype=np.float64))
    hist = cr.fit(model, X, y, loss="mse", lr=0.05, epochs=40, batch_size=8, seed=0,
                  verbose=0, validation_data=(X[:10], y[:10]))
    assert "accuracy" not in hist and hist["val_loss"][-1] < 0.01
    res = evaluate(model, X, y, loss="mse")
    with cr.no_grad():
        expected = float(np.mean((model(X).numpy()[:, 0] - y) ** 2))
    assert res["loss"] == pytest.approx(expected, rel=1e-12)


def test_float32_model_trains_on_float64_data() -> None:
    X, y = _data()
    model = _model(dtype=np.float32)
    hist = cr.fit(model, X, y, epochs=2, verbose=0)
    assert model[0].weight.numpy().dtype == np.float32 and np.isfinite(hist["loss"]).all()


def test_unknown_names_list_the_valid_ones() -> None:
    X, y = _data()
    with pytest.raises(ConfigError, match=r"unknown optimizer 'adamax'.*adam, adamw, rmsprop"):
        cr.fit(_model(), X, y, optimizer="adamax")
    with pytest.raises(ConfigError, match=r"unknown loss 'hinge'.*cross_entropy"):
        cr.fit(_model(), X, y, loss="hinge")
    with pytest.raises(ConfigError, match="lr is set on the optimizer"):
        m = _model()
        cr.fit(m, X, y, optimizer=cr.optim.SGD(m.parameters()), lr=0.1)
    with pytest.raises(ConfigError, match="batch_size"):
        cr.fit(_model(), X, y, batch_size=0)


def test_bad_data_is_named() -> None:
    X, y = _data()
    with pytest.raises(DataError, match=r"2-D.*reshape\(-1, 1\)"):
        cr.fit(_model(), X[:, 0], y, verbose=0)
    Xn = X.copy()
    Xn[7, 2] = np.nan
    with pytest.raises(DataError, match="NaN at row 7, column 2"):
        cr.fit(_model(), Xn, y, verbose=0)
    with pytest.raises(DataError, match="60 examples but y has 59"):
        cr.fit(_model(), X, y[:-1], verbose=0)
    with pytest.raises(DataError, match="non-integer"):
        cr.fit(_model(), X, y + 0.5, loss="cross_entropy", verbose=0)
    with pytest.raises(DataError, match="encode string labels"):
        cr.fit(_model(), X, np.array(["a", "b"] * 30), verbose=0)


class Recorder(Callback):
    def __init__(self) -> None:
        self.events: list[str] = []

    def on_train_begin(self, logs=None):
        self.events.append("train_begin")

    def on_epoch_begin(self, epoch, logs=None):
        self.events.append(f"epoch_begin {epoch}")

    def on_batch_end(self, batch, logs=None):
        self.events.append(f"batch {batch}")

    def on_epoch_end(self, epoch, logs=None):
        self.events.append(f"epoch_end {epoch} {sorted(logs)}")

    def on_train_end(self, logs=None):
        self.events.append("train_end")


def test_callback_order() -> None:
    X, y = _data(20)
    rec = Recorder()
    cr.fit(_model(), X, y, batch_size=10, epochs=2, callbacks=[rec], verbose=0)
    keys = "['accuracy', 'loss', 'lr']"
    assert rec.events == ["train_begin", "epoch_begin 0", "batch 0", "batch 1",
                          f"epoch_end 0 {keys}", "epoch_begin 1", "batch 0", "batch 1",
                          f"epoch_end 1 {keys}", "train_end"]


class FakeMetric(Callback):
    """Puts a scripted value into the logs and remembers the weights after each epoch."""

    def __init__(self, values: list[float]) -> None:
        self.values = values
        self.weights: list[list[np.ndarray]] = []

    def on_epoch_end(self, epoch, logs=None):
        logs["score"] = self.values[epoch]
        self.weights.append(_params(self.model))


def test_early_stopping_fires_after_patience() -> None:
    X, y = _data(20)
    fake = FakeMetric([5.0, 3.0, 4.0, 3.5, 1.0, 1.0])
    stop = EarlyStopping(monitor="score", patience=2)
    hist = cr.fit(_model(), X, y, epochs=6, callbacks=[fake, stop], verbose=0)
    assert len(hist) == 4 and stop.stopped_epoch == 3 and stop.best_epoch == 1
    assert "early stop" in hist.stop_reason


@pytest.mark.parametrize("patience", [1, 10])
def test_restore_best_weights_whether_or_not_it_fired(patience: int) -> None:
    X, y = _data(20)
    fake = FakeMetric([5.0, 3.0, 4.0, 4.0, 4.0])
    stop = EarlyStopping(monitor="score", patience=patience, restore_best_weights=True)
    model = _model()
    hist = cr.fit(model, X, y, epochs=5, callbacks=[fake, stop], verbose=0)
    assert (stop.stopped_epoch is None) == (patience == 10)
    assert len(hist) == (3 if patience == 1 else 5)
    for p, q in zip(_params(model), fake.weights[1]):
        np.testing.assert_array_equal(p, q)


def test_early_stopping_on_missing_metric_explains() -> None:
    X, y = _data(20)
    with pytest.raises(ConfigError, match=r"val_loss.*validation_split"):
        cr.fit(_model(), X, y, epochs=2, callbacks=[EarlyStopping()], verbose=0)


def test_learning_rate_schedules() -> None:
    X, y = _data(20)
    hist = cr.fit(_model(), X, y, optimizer="sgd", lr=0.1, epochs=5, verbose=0,
                  callbacks=[LearningRateScheduler(
                      lambda opt: cr.optim.StepLR(opt, step_size=2, gamma=0.5))])
    assert hist["lr"] == pytest.approx([0.1, 0.1, 0.05, 0.05, 0.025])
    hist = cr.fit(_model(), X, y, optimizer="sgd", lr=0.1, epochs=3, verbose=0,
                  callbacks=[LearningRateScheduler(lambda epoch, lr: 0.1 / (epoch + 1))])
    assert hist["lr"] == pytest.approx([0.1, 0.05, 0.1 / 3])


def test_terminate_on_nan_stops_and_keeps_finite_weights() -> None:
    X, y = _data(40)
    calls = {"n": 0}

    def poisoned(out, target):
        calls["n"] += 1
        loss = nn.CrossEntropyLoss()(out, target)
        return loss * np.nan if calls["n"] == 6 else loss  # epoch 2, batch 2

    model = _model()
    with pytest.warns(UserWarning, match="epoch 2, batch 2"):
        hist = cr.fit(model, X, y, loss=poisoned, batch_size=10, epochs=5, verbose=0,
                      metrics=[])
    assert len(hist) == 2 and "loss became nan" in hist.stop_reason
    assert all(np.isfinite(p).all() for p in _params(model))
    assert isinstance(TerminateOnNaN(), Callback)


def test_ctrl_c_stops_cleanly_and_model_stays_usable() -> None:
    X, y = _data(40)

    class Interrupt(Callback):
        def on_batch_end(self, batch, logs=None):
            if self.trainer.epoch == 2 and batch == 1:
                raise KeyboardInterrupt

    fake = FakeMetric([3.0, 1.0, 2.0, 2.0])
    stop = EarlyStopping(monitor="score", patience=10, restore_best_weights=True)
    model = _model()
    out = io.StringIO()
    hist = cr.fit(model, X, y, batch_size=10, epochs=4, callbacks=[fake, stop, Interrupt()],
                  verbose=2, stream=out)
    assert hist.interrupted and len(hist) == 2
    assert "interrupted with Ctrl-C" in out.getvalue()
    for p, q in zip(_params(model), fake.weights[1]):  # on_train_end still restored the best
        np.testing.assert_array_equal(p, q)
    assert all(p.grad is None for p in model.parameters())
    with cr.no_grad():
        assert np.isfinite(model(X).numpy()).all()


def test_csv_logger(tmp_path) -> None:
    X, y = _data(20)
    path = tmp_path / "log.csv"
    hist = cr.fit(_model(), X, y, epochs=3, callbacks=[CSVLogger(path)], verbose=0,
                  validation_split=0.25)
    rows = list(csv.DictReader(path.open()))
    assert [int(r["epoch"]) for r in rows] == [1, 2, 3]
    assert [float(r["val_loss"]) for r in rows] == hist["val_loss"]


def test_verbosity(capsys) -> None:
    X, y = _data(20)
    cr.fit(_model(), X, y, epochs=3, verbose=0)
    assert capsys.readouterr().out == ""
    cr.fit(_model(), X, y, epochs=3, verbose=2)
    lines = capsys.readouterr().out.splitlines()
    assert [ln.split()[1] for ln in lines[:3]] == ["1/3", "2/3", "3/3"]
    assert lines[3].startswith("trained 3 epochs")
    cr.fit(_model(), X, y, epochs=100, verbose=1)  # not a terminal: about 20 lines
    assert 20 <= len(capsys.readouterr().out.splitlines()) <= 22


def test_continuing_a_trainer_equals_one_long_run() -> None:
    X, y = _data(30)
    a = Trainer(_model(), batch_size=8, seed=7, verbose=0)
    a.fit(X, y, 4)
    b = Trainer(_model(), batch_size=8, seed=7, verbose=0)
    b.fit(X, y, 2)
    state = b.state_dict()
    c = Trainer(_model(seed=5), batch_size=8, seed=99, verbose=0)
    c.load_state_dict(state)
    hist = c.fit(X, y, 2)
    assert hist.epochs == [1, 2, 3, 4]
    for p, q in zip(_params(a.model), _params(c.model)):
        np.testing.assert_array_equal(p, q)
