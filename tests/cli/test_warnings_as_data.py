"""Library warnings reach the command line as data (OptionWarning), spelled from the option
table: no text is rewritten by pattern."""

from __future__ import annotations

import warnings

import numpy as np

from chainrule import workflow
from chainrule.cli.report import warning_text
from chainrule.engine import Tensor
from chainrule.errors import Option, OptionWarning
from chainrule.training.guard import NonFiniteGuard


def test_the_guard_names_the_learning_rate_and_the_scaler_as_options() -> None:
    w = NonFiniteGuard.message(0, 0, "the loss became nan", Tensor(np.array([[50.0]])), 0.5)
    assert "try 0.05;" in str(w) and "chainrule.data.StandardScaler" in str(w)
    text = warning_text(w)
    assert "try --lr 0.05;" in text and "e.g. with --standardize." in text
    assert "StandardScaler" not in text


def test_a_diverged_runs_hint_is_spelled_as_flags() -> None:
    hint = OptionWarning("lower the learning rate, e.g. {lr}, or standardise the inputs with "
                         "{std}", lr=Option("lr", 1e-5 / 10), std=Option("standardize"))
    assert warning_text(hint) == ("lower the learning rate, e.g. --lr 1e-06, or standardise "
                                  "the inputs with --standardize")


def test_collected_warnings_stay_objects_each_text_once() -> None:
    notes: list[str | Warning] = ["already noted"]
    w = OptionWarning("a smaller {bs}", bs=Option("batch_size"))
    with workflow._collect_warnings(notes):
        warnings.warn(w, stacklevel=1)
        warnings.warn(OptionWarning("a smaller {bs}", bs=Option("batch_size")), stacklevel=1)
        warnings.warn("already   noted", stacklevel=1)
    assert notes == ["already noted", w]
    assert warning_text(notes[1]) == "a smaller --batch-size"
