"""cr.explain on the seeds' worked examples, plus arrays, reuse and the DOT graph."""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
from chainrule.tools.explain import has_graphviz


def _linear_example():
    # The seed: J = 1/2 (w x + b - y)^2 with w = 2, b = 8, x = -2, y = 2.
    # By hand: c = wx = -4, a = c + b = 4, d = a - y = 2, J = 1/2 * 2^2 = 2;
    # dJ/dd = d = 2, dJ/da = dJ/dc = dJ/db = 2, dJ/dw = dJ/dc * x = 2 * -2 = -4.
    w, b = cr.tensor(2.0, requires_grad=True), cr.tensor(8.0, requires_grad=True)
    x, y = cr.tensor(-2.0), cr.tensor(2.0)
    c = w * x
    a = c + b
    d = a - y
    J = 0.5 * d**2
    return cr.explain(J, names={"w": w, "b": b, "x": x, "y": y, "c": c, "a": a, "d": d}), w, b


def test_seed_linear_example_exact():
    ex, w, b = _linear_example()
    assert ex.value("J") == 2.0
    assert (ex.value("c"), ex.value("a"), ex.value("d")) == (-4.0, 4.0, 2.0)
    assert ex.grad("w") == -4.0
    assert ex.grad("b") == 2.0
    assert (ex.grad("d"), ex.grad("a"), ex.grad("c")) == (2.0, 2.0, 2.0)
    assert w.grad is None and b.grad is None  # explaining does not touch the user's grads


def test_seed_linear_example_tables():
    ex, _, _ = _linear_example()
    fwd = ex.forward_table()
    names = [s.name for s in ex.forward]
    # left to right, each input before the node computed from it
    assert names.index("w") < names.index("c") < names.index("a") < names.index("d")
    assert names[-1] == "J"
    assert "w * x" in fwd  # each node shows its operation with its operands
    back = ex.backward_table()
    assert "dJ/dw = -4" in back and "dJ/db = 2" in back and "∂c/∂w = -2" in back
    rows = [s.name for s in ex.backward]
    assert rows[0] == "J" and rows.index("d") < rows.index("a") < rows.index("w")  # right to left
    assert "x" not in ex.grads  # constants get no gradient


def test_seed_relu_network_exact():
    # The seed's 1-1-1 ReLU network: x = 1, y = 5, w1 = 2, b1 = 0, w2 = 3, b2 = 1.
    # a1 = relu(2*1 + 0) = 2, a2 = relu(3*2 + 1) = 7, J = 1/2 (7 - 5)^2 = 2.
    # dJ/da2 = dJ/dz2 = 2, dJ/db2 = 2, dJ/dw2 = 2 * a1 = 4, dJ/da1 = 2 * w2 = 6,
    # dJ/dz1 = 6 (relu passes it, z1 > 0), dJ/db1 = 6, dJ/dw1 = 6 * x = 6.
    w1, b1 = cr.tensor(2.0, requires_grad=True), cr.tensor(0.0, requires_grad=True)
    w2, b2 = cr.tensor(3.0, requires_grad=True), cr.tensor(1.0, requires_grad=True)
    x, y = cr.tensor(1.0), cr.tensor(5.0)
    z1 = w1 * x + b1
    a1 = cr.relu(z1)
    z2 = w2 * a1 + b2
    a2 = cr.relu(z2)
    J = 0.5 * (a2 - y) ** 2
    ex = cr.explain(J, names=locals())
    assert (ex.value("a1"), ex.value("a2"), ex.value("J")) == (2.0, 7.0, 2.0)
    assert (ex.grad("a2"), ex.grad("z2"), ex.grad("a1"), ex.grad("z1")) == (2.0, 2.0, 6.0, 6.0)
    assert (ex.grad("w1"), ex.grad("b1"), ex.grad("w2"), ex.grad("b2")) == (6.0, 6.0, 4.0, 2.0)


def test_node_used_twice_shows_each_edge():
    # J = w * w at w = 3: two edges, each contributes w = 3, total dJ/dw = 6.
    w = cr.tensor(3.0, requires_grad=True)
    ex = cr.explain(w * w, names={"w": w})
    edges = [s for s in ex.backward if s.name == "w"]
    assert [float(s.contribution) for s in edges] == [3.0, 3.0]
    assert ex.grad("w") == 6.0
    assert "+= 3" in ex.backward_table()


def test_arrays_and_model_parameters():
    rng = np.random.default_rng(0)
    layer = cr.nn.Linear(3, 2, dtype=np.float64, rng=0)
    X = rng.normal(size=(5, 3))
    J = layer(cr.tensor(X)).tanh().sum()
    ex = cr.explain(J, names=dict(layer.named_parameters()))
    J.backward()
    assert np.array_equal(ex.grad("weight"), layer.weight.grad)
    assert np.array_equal(ex.grad("bias"), layer.bias.grad)
    assert "array(5, 3)" in ex.forward_table()  # big arrays are shown by shape


def test_non_scalar_output_seeds_ones():
    w = cr.tensor([1.0, 2.0], requires_grad=True)
    ex = cr.explain(w * 3.0, names={"w": w})
    assert np.array_equal(ex.grad("w"), [3.0, 3.0])


def test_freed_graph_and_bad_input():
    w = cr.tensor(1.0, requires_grad=True)
    J = (w * 2.0).exp()
    J.backward()
    with pytest.raises(cr.GraphError, match="freed"):
        cr.explain(J)
    with pytest.raises(TypeError):
        cr.explain(3.0)


def test_constant_computation_has_only_a_forward_table():
    ex = cr.explain(cr.tensor(2.0) * 3.0)
    assert ex.backward == [] and "Backward" not in str(ex)


def test_dot_text():
    ex, _, _ = _linear_example()
    dot = ex.to_dot()
    assert dot.startswith("digraph") and dot.rstrip().endswith("}")
    assert "dJ/dw = -4" in dot and "value 2" in dot
    assert dot.count("->") == 8  # w,x->c  c,b->a  a,y->d  d->d^2  d^2->J


@pytest.mark.skipif(not has_graphviz(), reason="Graphviz's dot is not installed")
@pytest.mark.parametrize("suffix", [".svg", ".png"])
def test_render(tmp_path, suffix):
    ex, _, _ = _linear_example()
    path = ex.render(tmp_path / f"graph{suffix}")
    data = path.read_bytes()
    assert data.startswith(b"\x89PNG") if suffix == ".png" else b"<svg" in data


def test_render_without_graphviz(monkeypatch, tmp_path):
    import shutil

    monkeypatch.setattr(shutil, "which", lambda name: None)
    ex, _, _ = _linear_example()
    with pytest.raises(RuntimeError, match="dot"):
        ex.render(tmp_path / "g.svg")
