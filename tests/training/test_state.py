"""The run's state as one object: its round trip through a checkpoint's dict, the trainer's
attributes that read it, and the warnings that carry the options they name as data."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import chainrule as cr
from chainrule import nn
from chainrule.errors import Option, OptionWarning
from chainrule.training import Trainer
from chainrule.training.callbacks import CSVLogger, ModelCheckpoint, TerminateOnNaN
from chainrule.training.progress import warn_user
from chainrule.training.state import DataRecord, Position, RunState

QUIET = {"verbose": 0, "seed": 0}


def _data(n: int = 20):
    X = np.random.default_rng(0).normal(size=(n, 2))
    return X, (X.sum(axis=1) > 0).astype(int)


def test_run_state_round_trip_keeps_every_field() -> None:
    state = RunState.from_seed(7)
    state.begin(5)
    state.end_epoch()
    state.position = Position(2, state.rng.bit_generator.state, 0.1, 20, 8,
                              {"loss": 1.0, "weight": 2.0, "stats": {}})
    state.data = DataRecord(20, 8, 12345)
    state.rng.random()  # move the shuffling generator on
    again = RunState.from_seed(1)
    again.load_dict(state.to_dict())
    assert again.to_dict() == state.to_dict()
    assert again.seed == 7 and again.epoch == 1 and again.resumed_data == state.data
    # the validation split is drawn from the seed, as the saved run drew it
    assert again.split_rng.random() == RunState.from_seed(7).split_rng.random()


def test_begin_clears_what_the_previous_fit_decided() -> None:
    state = RunState.from_seed(0)
    state.begin(2)
    state.interrupt()
    state.stop("early stop")
    state.begin(3)
    assert (state.stop_training, state.stop_reason, state.interrupted) == (False, None, False)
    assert state.epochs == 3 and state.running


def test_the_trainer_sets_few_attributes_and_reads_its_state() -> None:
    trainer = Trainer(nn.Sequential(nn.Linear(2, 2, rng=0)), batch_size=None, **QUIET)
    assert len(vars(trainer)) <= 10, sorted(vars(trainer))
    X, y = _data()
    trainer.fit(X, y, 2)
    assert trainer.epoch == trainer.state.epoch == 2 and trainer.epochs_run == 2
    trainer.epoch = 1  # a hand-driven trainer may set it (tests of checkpoints do)
    assert trainer.state.epoch == 1
    assert trainer.history is trainer.state.history


def test_callbacks_say_how_the_trainer_runs_them() -> None:
    assert ModelCheckpoint.chief_only and CSVLogger.chief_only
    assert TerminateOnNaN.needs_guard and not CSVLogger.needs_guard
    trainer = Trainer(nn.Sequential(nn.Linear(2, 2, rng=0)), terminate_on_nan=False,
                      callbacks=[TerminateOnNaN()], **QUIET)
    assert trainer.guard.enabled


def test_warn_user_takes_an_option_warning_and_points_at_this_line() -> None:
    w = OptionWarning("pass {bs}", bs=Option("batch_size", None))
    with pytest.warns(OptionWarning) as record:
        warn_user(w)
    assert record[0].message is w and record[0].filename == __file__


def test_the_batch_size_warning_and_the_guard_keep_their_options() -> None:
    X, y = _data(10)
    with pytest.warns(OptionWarning) as record:
        cr.fit(nn.Sequential(nn.Linear(2, 2, rng=0)), X, y, epochs=1, batch_size=64, **QUIET)
    w = next(r.message for r in record if isinstance(r.message, OptionWarning))
    assert w.options["full"].value is None and w.options["batch_size"].name == "batch_size"
    assert w.render(lambda o: "--" + o.name.replace("_", "-")).endswith(
        "or a smaller --batch-size")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        h = cr.fit(nn.Sequential(nn.Linear(2, 1, rng=0)), X * 1e3, X[:, 0] * 1e3, loss="mse",
                   optimizer="sgd", lr=10.0, epochs=50, batch_size=None, **QUIET)
    assert h.stop_reason.startswith("stopped: non-finite")
    assert str(h.stop_notice) == h.stop_reason
    assert h.stop_notice.options["scaler"].name == "chainrule.data.StandardScaler"
