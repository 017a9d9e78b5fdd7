"""examples/notebooks/sequences.ipynb runs in a real kernel: explain shows backpropagation
through time step by step (h[0], h[1], h[2]), the recursion by hand equals chainrule's
gradient, and a GRU keeps more of its starting state over long sequences than a tanh RNN."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")

NOTEBOOK = Path(__file__).resolve().parents[2] / "examples" / "notebooks" / "sequences.ipynb"


def _cell(nb, marker: str):
    (cell,) = [c for c in nb.cells if c.cell_type == "code" and marker in c.source]
    return cell


def _text(cell) -> str:
    return "".join(o.get("text", "") for o in cell.outputs)


@pytest.fixture(scope="module")
def executed(tmp_path_factory):
    nb = nbformat.read(NOTEBOOK, as_version=4)
    assert all(not c.get("outputs") and c.get("execution_count") is None
               for c in nb.cells if c.cell_type == "code"), "commit the notebook without outputs"
    nbclient.NotebookClient(nb, timeout=300, kernel_name="python3", resources={
        "metadata": {"path": str(tmp_path_factory.mktemp("nb"))}}).execute()
    return nb


def test_explain_shows_each_time_step(executed):
    cell = _cell(executed, "cr.explain(J)")
    html = "".join(o["data"]["text/html"] for o in cell.outputs if "text/html" in o.get("data", {}))
    for t in range(3):
        assert f"h[{t}]" in html
    assert "tanh(" in html and "<table" in html


def test_the_recursion_by_hand_equals_chainrule(executed):
    out = _text(_cell(executed, "by hand"))
    hand, chain = (float(v) for v in re.findall(r"= (\S+)", out))
    assert hand == pytest.approx(chain, rel=1e-12) and chain != 0


def test_the_gru_keeps_more_of_its_state_than_the_rnn(executed):
    rows = [line.split() for line in _text(_cell(executed, "def memory(")).splitlines()[1:]]
    rnn = [float(r[1]) for r in rows]
    gru = [float(r[2]) for r in rows]
    assert rnn == sorted(rnn, reverse=True) and rnn[-1] < rnn[0] / 5   # it fades with length
    assert gru[-1] > 5 * rnn[-1]
