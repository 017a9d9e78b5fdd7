"""The job spec produces the trainer's configuration: the course job's defaults, the defaults
for real data, and the user's choices over both."""

from __future__ import annotations

from chainrule.job import RunOptions, TrainConfig
from chainrule.training.config import TrainConfig as TrainerConfig


def test_the_course_job_is_full_batch_gradient_descent():
    d = TrainConfig().run_options()
    assert (d.course, d.layers, d.activation, d.optimizer, d.lr, d.epochs, d.batch_size) == (
        True, [4], "tanh", "sgd", 1.2, 10_000, None)


def test_real_data_gets_adam_batches_and_early_stopping():
    d = RunOptions.of(TrainConfig(data="t.csv", target="y"))
    assert (d.optimizer, d.lr, d.batch_size, d.patience, d.standardize) == (
        "adam", None, 32, 30, True)
    assert RunOptions.of(TrainConfig(data="t.csv", target="y", val_split=0.0)).patience is None


def test_the_users_choices_win_and_reach_the_trainer():
    cfg = TrainConfig(data="t.csv", target="y", optimizer="rmsprop", lr=0.01, batch_size=8,
                      seed=3, checkpoint="c.ckpt", checkpoint_every=2)
    tc = cfg.run_options().trainer_config(cfg, loss="mse", callbacks=[], stream=None,
                                          distributed=False)
    assert isinstance(tc, TrainerConfig)
    assert (tc.optimizer, tc.lr, tc.batch_size, tc.seed, tc.loss, tc.checkpoint,
            tc.checkpoint_every) == ("rmsprop", 0.01, 8, 3, "mse", "c.ckpt", 2)
