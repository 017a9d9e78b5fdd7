"""The sequence examples train with cr.fit on real sequence shapes and beat their baselines."""

from __future__ import annotations

import runpy
from pathlib import Path

import numpy as np
import pytest

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def _load(name: str) -> dict:
    return runpy.run_path(str(EXAMPLES / name), run_name="example")


def test_sequence_classification_reads_order_through_the_padding_mask():
    ex = _load("sequence_classification.py")
    result = ex["main"](n_train=1500, epochs=8)
    assert result["accuracy"] >= 0.95  # the majority class scores about 0.6


def test_padded_integer_sequences_stay_integers_and_floats_are_refused():
    import chainrule as cr
    ex = _load("sequence_classification.py")
    X, y = ex["make"](64, np.random.default_rng(1))
    with pytest.raises(cr.DataError, match=r"integer token indices.*Embedding"):
        cr.fit(ex["LastStateClassifier"](), X.astype(np.float64) + 0.5, y, epochs=1, verbose=0)


def test_time_series_lstm_beats_repeating_the_last_value():
    ex = _load("time_series.py")
    result = ex["main"](epochs=6)
    assert result["loss"] < 0.7 * result["naive"]
