"""examples/notebooks/sequences.ipynb runs in a real kernel: explain shows backpropagation
through time step by step (h[0], h[1], h[2]), the recursion by hand equals chainrule's
gradient, and a GRU keeps more of its starting state over long sequences than a tanh RNN."""

from __future__ import annotations

import re

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")

import kernel  # noqa: E402  (tests/notebooks/kernel.py)


@pytest.fixture(scope="module")
def executed(tmp_path_factory):
    return kernel.executed("sequences.ipynb", tmp_path_factory.mktemp("nb"))


def test_explain_shows_each_time_step(executed):
    cell = kernel.cell(executed, "cr.explain(J)")
    html = kernel.html(cell)
    for t in range(3):
        assert f"h[{t}]" in html
    assert "tanh(" in html and "<table" in html


def test_the_recursion_by_hand_equals_chainrule(executed):
    out = kernel.text(kernel.cell(executed, "by hand"))
    hand, chain = (float(v) for v in re.findall(r"= (\S+)", out))
    assert hand == pytest.approx(chain, rel=1e-12) and chain != 0


def test_the_gru_keeps_more_of_its_state_than_the_rnn(executed):
    printed = kernel.text(kernel.cell(executed, "def memory("))
    rows = [line.split() for line in printed.splitlines()[1:]]
    rnn = [float(r[1]) for r in rows]
    gru = [float(r[2]) for r in rows]
    assert rnn == sorted(rnn, reverse=True) and rnn[-1] < rnn[0] / 5   # it fades with length
    assert gru[-1] > 5 * rnn[-1]
