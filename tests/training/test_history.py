"""History shows itself: a short repr, and an HTML table with the best epoch marked."""

from __future__ import annotations

import math
import re

import numpy as np
import pytest

import chainrule as cr
from chainrule import nn
from chainrule.training import EarlyStopping, History


def _rows(html: str) -> list[list[str]]:
    body = html.split("<tbody>", 1)[1]
    return [re.findall(r"<td>(.*?)</td>", tr) for tr in re.findall(r"<tr[^>]*>(.*?)</tr>", body)]


def _bold_rows(html: str) -> list[list[str]]:
    body = html.split("<tbody>", 1)[1]
    return [re.findall(r"<td>(.*?)</td>", tr)
            for tr in re.findall(r'<tr style="font-weight:bold">(.*?)</tr>', body)]


def _history(losses, val_losses=None) -> History:
    h = History()
    for e, loss in enumerate(losses):
        logs = {"loss": loss, "lr": 0.1}
        if val_losses is not None:
            logs["val_loss"] = val_losses[e]
        h.append(e, logs)
    return h


def test_best_epoch_is_the_first_lowest_validation_loss():
    val = [0.9, 0.5, 0.7, 0.5, 0.6]
    h = _history([1.0, 0.8, 0.6, 0.4, 0.2], val)
    assert h.monitor == "val_loss"
    assert h.best_epoch == int(np.argmin(val)) + 1 == 2  # first of the two 0.5s
    html = h._repr_html_()
    assert _bold_rows(html) == [["2", "0.8", "0.1", "0.5", "\u25c0 best"]]
    assert len(_rows(html)) == 5
    assert "best val_loss 0.5 at epoch 2" in repr(h)


def test_without_validation_the_training_loss_decides_and_nan_never_wins():
    h = _history([1.0, math.nan, 0.3, 0.4])
    assert h.monitor == "loss" and h.best_epoch == 3
    assert _bold_rows(h._repr_html_())[0][:2] == ["3", "0.3"]
    assert _rows(h._repr_html_())[1][1] == ""  # a NaN shows as an empty cell
    empty = History()
    assert empty.best_epoch is None and repr(empty) == "History(0 epochs)"
    assert _rows(empty._repr_html_()) == []


@pytest.mark.parametrize("best", [0, 37, 499])
def test_long_histories_are_bounded_and_keep_the_best_epoch(best):
    n = 500
    val = [1.0 + abs(e - best) for e in range(n)]
    html = _history([1 / (e + 1) for e in range(n)], val)._repr_html_(max_rows=12)
    rows = _rows(html)
    assert len(rows) <= 12 + 3
    shown = [r[0] for r in rows]
    assert shown[:5] == ["1", "2", "3", "4", "5"] and shown[-1] == str(n)
    assert str(best + 1) in shown and "\u2026" in shown
    assert _bold_rows(html)[0][0] == str(best + 1)


def test_repr_is_short_text():
    h = _history([0.5, 0.25], [0.6, 0.3])
    h.stop_reason = "early stop: val_loss did not improve for 5 epochs"
    text = repr(h)
    assert text.startswith("History(2 epochs") and "\n" not in text and len(text) < 200
    assert "early stop" in text and "last: loss 0.25" in text


def test_the_marked_epoch_is_the_one_early_stopping_keeps():
    X, y = cr.data.make_flower(seed=1)
    model = nn.Sequential(nn.Linear(2, 4, rng=0), nn.Tanh(), nn.Linear(4, 1, rng=1),
                          nn.Sigmoid())
    stop = EarlyStopping(patience=3)
    h = cr.fit(model, X, y, optimizer="sgd", lr=3.0, batch_size=32, epochs=40,
               validation_split=0.3, seed=0, verbose=0, callbacks=[stop])
    assert stop.best_epoch is not None
    assert h.best_epoch == stop.best_epoch + 1 == int(np.nanargmin(h["val_loss"])) + 1


def test_a_metric_first_seen_later_and_one_missing_get_nan():
    h = History()
    h.append(0, {"loss": 1.0})
    h.append(1, {"loss": 0.5, "accuracy": 0.75, "note": "text"})
    h.append(2, {"accuracy": 1.0})
    assert h.epochs == [1, 2, 3]
    assert h["loss"][:2] == [1.0, 0.5] and np.isnan(h["loss"][2])
    assert np.isnan(h["accuracy"][0]) and h["accuracy"][1:] == [0.75, 1.0]
    assert "note" not in h
