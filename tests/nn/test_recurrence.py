"""The whole-sequence recurrence nodes (chainrule.nn.recurrence) against the graph of per-step
nodes they stand for (chainrule.nn.cells.unroll), in float64: outputs, final states, the
gradients of every parameter, input and initial state, gradients of gradients, and what
explain shows."""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
from chainrule.engine import ops
from chainrule.engine.devices import to_numpy
from chainrule.nn import recurrent
from chainrule.nn.cells import unroll
from chainrule.nn.recurrence import PRIMITIVES
from chainrule.nn.recurrent import GRU, LSTM, RNN


def unrolled_run(kind, xi, state, w_hh, b_hh, reverse=False, label="", nonlinearity="tanh"):
    """What the layers computed before the sequence nodes: one node per operation per step."""
    seqs = unroll(kind, xi, state, w_hh, b_hh, reverse, label, nonlinearity)
    last = 0 if reverse else len(seqs[0]) - 1
    return ops.stack(seqs[0], axis=0), [s[last] for s in seqs]


def make(kind, **kw):
    cls = {"RNN": RNN, "LSTM": LSTM, "GRU": GRU}[kind.split("-")[0]]
    if kind == "RNN-relu":
        kw["nonlinearity"] = "relu"
    return cls(3, 4, dtype="float64", rng=0, **kw)


def run_layer(model, kind, batch_first, initial):
    rng = np.random.default_rng(1)
    shape = (2, 5, 3) if batch_first else (5, 2, 3)
    x = cr.tensor(rng.normal(size=shape), requires_grad=True)
    rows = model.num_layers * (2 if model.bidirectional else 1)
    states = [cr.tensor(rng.normal(size=(rows, 2, 4)), requires_grad=True)
              for _ in range(2 if kind == "LSTM" else 1)] if initial else []
    if kind == "LSTM":
        out, (h, c) = model(x, tuple(states) if states else None)
        finals = [h, c]
    else:
        out, h = model(x, states[0] if states else None)
        finals = [h]
    weights = [rng.normal(size=t.shape) for t in (out, *finals)]
    loss = sum((t * w).sum() for t, w in zip((out, *finals), weights))
    for p in model.parameters():
        p.grad = None
    loss.backward()
    return ([t.numpy() for t in (out, *finals)],
            [to_numpy(t.grad) for t in (x, *states, *model.parameters())])


@pytest.mark.parametrize("kind", ["RNN", "RNN-relu", "LSTM", "GRU"])
@pytest.mark.parametrize("layers,bidirectional,batch_first,bias,initial", [
    (1, False, False, True, False), (2, False, True, True, True), (2, True, False, True, True),
    (1, True, True, False, True), (3, True, True, True, False)])
def test_sequence_node_equals_the_unrolled_steps(kind, layers, bidirectional, batch_first,
                                                 bias, initial, monkeypatch):
    model = make(kind, num_layers=layers, bidirectional=bidirectional, batch_first=batch_first,
                 bias=bias)
    base = kind.split("-")[0]
    fused = run_layer(model, base, batch_first, initial)
    monkeypatch.setattr(recurrent, "run", unrolled_run)
    plain = run_layer(model, base, batch_first, initial)
    for a, b in zip(fused[0] + fused[1], plain[0] + plain[1]):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("kind", ["RNN", "RNN-relu", "LSTM", "GRU"])
@pytest.mark.parametrize("reverse", [False, True])
def test_hessian_vector_products_equal_the_unrolled_steps(kind, reverse, monkeypatch):
    # d/dw <grad_w L, v> through the sequence node's backward rule run on tensors, against
    # the same through the per-step graph; every input of the node gets one.
    model = make(kind, bidirectional=reverse)
    rng = np.random.default_rng(2)
    x = rng.normal(size=(4, 2, 3))
    params = list(model.parameters())
    vs = [rng.normal(size=p.shape) for p in params]

    def hvp():
        xt = cr.tensor(x, requires_grad=True)
        out = model(xt)[0]
        loss = (out * out * out).sum()
        grads = cr.grad(loss, [xt, *params], create_graph=True)
        inner = sum((g * v).sum() for g, v in zip(grads[1:], vs)) + (grads[0] * x).sum()
        return [to_numpy(g.data if isinstance(g, cr.Tensor) else g)
                for g in cr.grad(inner, [xt, *params])]

    fused = hvp()
    monkeypatch.setattr(recurrent, "run", unrolled_run)
    for a, b in zip(fused, hvp()):
        np.testing.assert_allclose(a, b, rtol=1e-11, atol=1e-12)


@pytest.mark.parametrize("kind", ["RNN", "LSTM", "GRU"])
def test_gradgradcheck_of_a_sequence_node(kind):
    # second derivatives against finite differences of the gradient, through x, h0 and W_hh
    model = make(kind)
    rng = np.random.default_rng(3)
    x = cr.tensor(rng.normal(size=(3, 1, 3)), requires_grad=True)
    h0 = cr.tensor(rng.normal(size=(1, 1, 4)), requires_grad=True)
    w = model.weight_hh_l0

    def f(x, h0, w):
        model.weight_hh_l0 = w
        state = (h0, h0 * 0.5) if kind == "LSTM" else h0
        return model(x, state)[0]

    try:
        assert cr.gradgradcheck(f, [x, h0, w])
    finally:
        model.weight_hh_l0 = w


@pytest.mark.parametrize("kind", ["RNN", "LSTM", "GRU"])
def test_the_layer_records_one_node_per_direction(kind):
    model = make(kind, num_layers=2, bidirectional=True)
    out = model(np.ones((3, 1, 3)))[0]
    names = {t.op for t in _nodes(out)}
    assert f"{kind.lower()}_sequence" in names
    assert not names & {"sigmoid", "tanh", "relu"}  # no per-step nodes in the graph


def _nodes(root):
    seen, stack, out = set(), [root], []
    while stack:
        t = stack.pop()
        if id(t) not in seen:
            seen.add(id(t))
            out.append(t)
            stack.extend(t.inputs)
    return out


def test_expand_rebuilds_the_per_step_graph_from_the_node_inputs():
    model = make("LSTM")
    out = model(np.ones((3, 1, 3)))[0]
    node = next(t for t in _nodes(out) if t.op == "lstm_sequence")
    shown = PRIMITIVES["LSTM"].expand(node)
    np.testing.assert_allclose(shown.numpy(), node.numpy(), rtol=1e-14)
    names = {t.name for t in _nodes(shown)}
    assert {"h[0]", "c[2]", "i[1]", "f[0]", "g[2]", "o[1]"} <= names


def test_explain_shows_the_steps_and_the_same_gradients():
    # The notebook's example: one tanh unit, three steps, h[t] = tanh(0.5 x[t] + 0.8 h[t-1]).
    rnn = RNN(1, 1, bias=False, dtype="float64")
    rnn.weight_ih_l0.data[...] = 0.5
    rnn.weight_hh_l0.data[...] = 0.8
    _, h_n = rnn(cr.tensor([[[1.0]], [[0.0]], [[0.0]]]))
    J = 0.5 * (h_n.sum() - 0.2) ** 2
    ex = cr.explain(J, names=dict(rnn.named_parameters()))
    h0 = np.tanh(0.5)
    h1 = np.tanh(0.8 * h0)
    h2 = np.tanh(0.8 * h1)
    assert ex.value("h[0]") == pytest.approx(h0) and ex.value("h[2]") == pytest.approx(h2)
    assert "tanh(" in ex.forward_table()
    J.backward()
    assert ex.grad("weight_hh_l0") == pytest.approx(float(to_numpy(rnn.weight_hh_l0.grad).item()),
                                                    rel=1e-12)
    assert ex.grad("h[2]") == pytest.approx(h2 - 0.2)
