"""Progress output: lines for logs and captures, tqdm's bar on a terminal and in a notebook."""

from __future__ import annotations

import io
import sys

import numpy as np
import pytest

import chainrule as cr
from chainrule import nn
from chainrule.training import progress


def _fit(**kw) -> None:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(16, 2))
    y = (X[:, 0] > 0).astype(np.int64)
    model = nn.Sequential(nn.Linear(2, 2, rng=0))
    cr.fit(model, X, y, epochs=3, batch_size=None, **kw)


def test_a_captured_stream_gets_one_line_per_epoch(capsys) -> None:
    _fit(verbose=1)
    out = capsys.readouterr().out
    assert [line.split()[1] for line in out.splitlines()[:3]] == ["1/3", "2/3", "3/3"]


def test_a_notebook_kernel_gets_the_tqdm_bar(capsys, monkeypatch) -> None:
    pytest.importorskip("tqdm")
    monkeypatch.setattr(progress, "in_notebook", lambda: True)
    made = []

    class Bar:  # stands in for tqdm.auto's class, which picks the widget in a kernel
        def __init__(self, **kw):
            made.append(kw)

        def update(self, n):
            made.append(n)

        def set_postfix_str(self, text, refresh=False):
            pass

        def close(self):
            made.append("closed")

    import tqdm.auto
    monkeypatch.setattr(tqdm.auto, "tqdm", Bar)
    logger = progress.ProgressLogger(verbose=1)
    assert logger.stream is sys.stdout and logger._want_bar()
    _fit(verbose=0, callbacks=[logger])
    assert made[0]["total"] == 3 and made[1:] == [1, 1, 1, "closed"]
    assert "epoch 1/3" not in capsys.readouterr().out  # the bar, not the lines


def test_no_bar_for_another_stream_even_in_a_notebook(monkeypatch) -> None:
    monkeypatch.setattr(progress, "in_notebook", lambda: True)
    assert not progress.ProgressLogger(verbose=1, stream=io.StringIO())._want_bar()
    assert not progress.ProgressLogger(verbose=2)._want_bar()
