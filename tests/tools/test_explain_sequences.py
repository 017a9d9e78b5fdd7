"""cr.explain of recurrent layers: the layers train with one node per sequence
(chainrule.nn.recurrence), and explain shows that node as the per-step graph it stands for,
with the states named h[t], the user's names kept and the same gradients."""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
from chainrule.engine.devices import to_numpy
from chainrule.nn import GRU, LSTM, RNN


def _rnn():
    rnn = RNN(1, 1, bias=False, dtype="float64", rng=0)
    rnn.weight_ih_l0.data[...] = 0.5
    rnn.weight_hh_l0.data[...] = 0.8
    return rnn


def test_a_name_given_to_the_sequence_names_what_shows_it():
    rnn = _rnn()
    out, _ = rnn(cr.tensor([[[1.0]], [[0.5]]]))
    J = (out * out).sum()
    assert out.op == "rnn_sequence"
    ex = cr.explain(J, names={"out": out, "J": J})
    names = [s.name for s in ex.forward]
    assert names.index("h[0]") < names.index("h[1]") < names.index("out") < names.index("J")
    np.testing.assert_allclose(ex.value("out"), to_numpy(out.data))
    np.testing.assert_allclose(ex.grad("out"), 2 * to_numpy(out.data))


@pytest.mark.parametrize("make", [lambda: GRU(2, 3, num_layers=2, bidirectional=True, rng=0),
                                  lambda: LSTM(2, 3, batch_first=True, rng=0)])
def test_every_gradient_explain_shows_is_the_layers(make):
    model = make()
    out, _ = model(np.linspace(-1, 1, 18).reshape(3, 3, 2).astype("float32"))
    J = (out * out).sum()
    ex = cr.explain(J, names=dict(model.named_parameters()))
    J.backward()
    for name, p in model.named_parameters():
        np.testing.assert_allclose(ex.grad(name), to_numpy(p.grad), rtol=2e-5, atol=1e-6)
    assert {"h[0]", "h[2]"} <= {s.name for s in ex.forward}


def test_explain_leaves_the_graph_and_the_grads_as_they_were():
    rnn = _rnn()
    out, h_n = rnn(cr.tensor([[[1.0]], [[0.0]], [[0.0]]]))
    J = 0.5 * (h_n.sum() - 0.2) ** 2
    before = [t.op for t in J.inputs]
    cr.explain(J)
    assert [t.op for t in J.inputs] == before and rnn.weight_hh_l0.grad is None
    assert out.op == "rnn_sequence"


def test_a_gradient_through_the_sequence_node_is_explained_too():
    # d(dJ/dw_hh)/dw_hh: the node's backward rule ran on tensors (create_graph=True)
    rnn = _rnn()
    out, _ = rnn(cr.tensor([[[1.0]], [[0.5]]]))
    J = (out * out).sum()
    J.backward(create_graph=True)
    g = rnn.weight_hh_l0.grad
    ex = cr.explain(g, names={"J": J, **dict(rnn.named_parameters())}, backward_of=J)
    assert "h[1]" in {s.name for s in ex.forward}
    assert ex.value(ex.output) == pytest.approx(float(to_numpy(g.data).item()))
