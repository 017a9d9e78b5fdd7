"""The one "did it improve" rule against PyTorch's ReduceLROnPlateau.is_better.

Cases re-expressed from PyTorch's test/optim/test_lrscheduler.py (the ReduceLROnPlateau tests
with mode min/max and threshold_mode rel/abs) and from the rule table in
torch/optim/lr_scheduler.py.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

import chainrule as cr
from chainrule.optim.monitor import Monitor, check_monitor_args, is_better, worst
from conftest import HAS_TORCH, needs_torch

if HAS_TORCH:
    import torch

VALUES = [1.0, 0.9999, 0.99, 0.5, -0.5, -1.0, 0.0, 2.0, math.inf, -math.inf, math.nan]


def test_worked_examples() -> None:
    # min/rel: best 1.0, threshold 0.1 -> needs value < 1.0 * 0.9 = 0.9
    assert not is_better(0.9, 1.0, mode="min", threshold=0.1)
    assert is_better(0.89, 1.0, mode="min", threshold=0.1)
    # min/abs: needs value < 1.0 - 0.1 = 0.9
    assert is_better(0.8, 1.0, mode="min", threshold=0.1, threshold_mode="abs")
    # max/rel: best 2.0, threshold 0.5 -> needs value > 2.0 * 1.5 = 3.0
    assert not is_better(3.0, 2.0, mode="max", threshold=0.5)
    # max/abs: needs value > 2.0 + 0.5 = 2.5
    assert is_better(2.6, 2.0, mode="max", threshold=0.5, threshold_mode="abs")
    # rel with a negative best follows PyTorch: -1.0 * 0.9 = -0.9, so even -0.95 "improves"
    assert is_better(-0.95, -1.0, mode="min", threshold=0.1)


@needs_torch
@pytest.mark.parametrize("mode, threshold_mode", list(itertools.product(("min", "max"),
                                                                        ("rel", "abs"))))
@pytest.mark.parametrize("threshold", [0.0, 1e-4, 0.1])
def test_rule_matches_pytorch(mode: str, threshold_mode: str, threshold: float) -> None:
    w = torch.zeros(1, requires_grad=True)
    tsched = torch.optim.lr_scheduler.ReduceLROnPlateau(
        torch.optim.SGD([w], lr=0.1), mode=mode, threshold=threshold,
        threshold_mode=threshold_mode)
    for value, best in itertools.product(VALUES, VALUES):
        assert is_better(value, best, mode=mode, threshold=threshold,
                         threshold_mode=threshold_mode) == bool(tsched._is_better(value, best))
    assert worst(mode) == tsched.mode_worse


def test_monitor_tracks_the_best() -> None:
    m = Monitor(mode="min", threshold=0.1, threshold_mode="rel")
    assert m.best == math.inf
    assert m.update(1.0) and m.best == 1.0
    assert not m.update(0.95)            # not below 0.9
    assert not m.update(math.nan)        # NaN never improves
    assert m.update(np.float32(0.5)) and m.best == 0.5
    state = m.state_dict()
    m.reset()
    assert m.best == math.inf
    m.load_state_dict(state)
    assert m.best == 0.5 and not m.is_better(0.46) and m.is_better(0.44)


@pytest.mark.parametrize("kwargs, match", [
    ({"mode": "auto"}, "unknown mode 'auto'"),
    ({"threshold_mode": "relative"}, "unknown threshold_mode 'relative'"),
    ({"threshold": -0.1}, r"threshold must be a number in \[0, inf\)"),
    ({"threshold": math.nan}, "threshold must be"),
    ({"threshold": "0.1"}, "threshold must be"),
    ({"threshold": True}, "threshold must be"),
])
def test_bad_settings_are_refused(kwargs: dict, match: str) -> None:
    with pytest.raises(cr.ConfigError, match=match):
        Monitor(**kwargs)


def test_check_names_the_caller() -> None:
    with pytest.raises(ValueError, match="EarlyStopping: unknown mode"):
        check_monitor_args("up", 0.0, "abs", "EarlyStopping")
    assert check_monitor_args("max", np.float32(0.5), "abs") == 0.5
