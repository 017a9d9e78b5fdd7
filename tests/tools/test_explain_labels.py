"""Every primitive shows its real operation, with its constants, in cr.explain."""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
from chainrule.nn import functional as F

w = cr.tensor(3.0, requires_grad=True)
a = cr.tensor([1.0, -2.0], requires_grad=True)
b = cr.tensor([0.5, 4.0], requires_grad=True)
M = cr.tensor(np.arange(6.0).reshape(2, 3), requires_grad=True)

# (expression, the name of the node under test, what its row must say)
CASES = [
    (lambda: 1 - w, "sub", "1 - w"),
    (lambda: w - 1, "sub", "w - 1"),
    (lambda: w * 2, "mul", "w * 2"),
    (lambda: 2 * w, "mul", "2 * w"),
    (lambda: w + 2.5, "add", "w + 2.5"),
    (lambda: 2 + w, "add", "2 + w"),
    (lambda: w / 4, "div", "w / 4"),
    (lambda: 1 / w, "div", "1 / w"),
    (lambda: w * -2, "mul", "w * (-2)"),
    (lambda: w ** 2, "pow", "w ** 2"),
    (lambda: 2 ** w, "pow", "2 ** w"),
    (lambda: -w, "neg", "-w"),
    (lambda: a + b, "add", "a + b"),
    (lambda: a - b, "sub", "a - b"),
    (lambda: a * b, "mul", "a * b"),
    (lambda: a / b, "div", "a / b"),
    (lambda: a ** b, "pow", "a ** b"),
    (lambda: a @ b, "matmul", "a @ b"),
    (lambda: cr.maximum(a, b), "maximum", "maximum(a, b)"),
    (lambda: cr.minimum(a, b), "minimum", "minimum(a, b)"),
    (lambda: cr.where(a.data > 0, a, b), "where", "where(condition, a, b)"),
    (lambda: a.exp(), "exp", "exp(a)"),
    (lambda: b.log(), "log", "log(b)"),
    (lambda: b.sqrt(), "sqrt", "sqrt(b)"),
    (lambda: a.abs(), "abs", "abs(a)"),
    (lambda: a.tanh(), "tanh", "tanh(a)"),
    (lambda: a.sigmoid(), "sigmoid", "sigmoid(a)"),
    (lambda: a.relu(), "relu", "relu(a)"),
    (lambda: a.leaky_relu(0.1), "leaky_relu", "leaky_relu(a, 0.1)"),
    (lambda: a.clip(-1, 1), "clip", "clip(a, (-1), 1)"),
    (lambda: a.astype("float32"), "astype", "astype(a, float32)"),
    (lambda: a.sum(), "sum", "sum(a)"),
    (lambda: M.sum(axis=1), "sum", "sum(M, axis=1)"),
    (lambda: M.mean(axis=0), "mean", "mean(M, axis=0)"),
    (lambda: M.max(axis=1), "max", "max(M, axis=1)"),
    (lambda: M.min(), "min", "min(M)"),
    (lambda: cr.logsumexp(M, axis=1), "logsumexp", "logsumexp(M, axis=1)"),
    (lambda: cr.softmax(M), "softmax", "softmax(M)"),
    (lambda: cr.log_softmax(M, axis=0), "log_softmax", "log_softmax(M, axis=0)"),
    (lambda: M.reshape(3, 2), "reshape", "reshape(M, (3, 2))"),
    (lambda: M.T, "transpose", "M.T"),
    (lambda: M[0, 1:], "getitem", "M[0, 1:]"),
    (lambda: cr.concatenate([a, b]), "concatenate", "concatenate([a, b], axis=0)"),
    (lambda: cr.stack([a, b], axis=1), "stack", "stack([a, b], axis=1)"),
    (lambda: cr.linear(M, cr.tensor(np.ones((2, 3)), requires_grad=True)), "linear", "M @ "),
    (lambda: F.mse_loss(a, [0.0, 0.0]), "mse_loss", "mse_loss(a, target)"),
    (lambda: F.binary_cross_entropy(a.sigmoid(), [1.0, 0.0]), "bce_loss",
     "bce_loss(sigmoid(a), target)"),
    (lambda: F.binary_cross_entropy(cr.tensor([0.2, 0.7], requires_grad=True), [1.0, 0.0]),
     "bce_loss", "bce_loss("),
    (lambda: F.binary_cross_entropy_with_logits(a, [1.0, 0.0]), "bce_with_logits_loss",
     "bce_with_logits_loss(a, target)"),
    (lambda: F.cross_entropy(M, [0, 2]), "cross_entropy_loss", "cross_entropy_loss(M, target)"),
]


@pytest.mark.parametrize(("make", "op", "shown"), CASES, ids=[c[2] for c in CASES])
def test_every_primitive_shows_its_operation(make, op, shown):
    out = make()
    assert out.op == op
    ex = cr.explain(out.sum() if out.data.size > 1 else out, names={"w": w, "a": a, "b": b,
                                                                    "M": M})
    rows = [s for s in ex.forward if s.op == op]
    assert rows, ex.forward_table()
    assert any(s.formula.startswith(shown) for s in rows), ex.forward_table()


def test_the_issue_example_one_minus_w_times_two():
    # (1 - w) * 2 at w = 3: v1 = 1 - w = -2, J = v1 * 2 = -4; dJ/dv1 = 2, dJ/dw = -2.
    ex = cr.explain((1 - w) * 2, names={"w": w})
    table = ex.forward_table()
    assert "1 - w" in table and "v1 * 2" in table and "neg" not in table
    assert (ex.value("v1"), ex.value("J"), ex.grad("w")) == (-2.0, -4.0, -2.0)
    assert "v1 = 1 - w" in ex.to_dot()


def test_losses_through_modules_show_their_own_names():
    x = cr.tensor([[0.3], [-1.2]], requires_grad=True)
    for module, name in [(cr.nn.MSELoss(), "mse_loss"), (cr.nn.BCEWithLogitsLoss(),
                                                         "bce_with_logits_loss")]:
        assert module(x, [[1.0], [0.0]]).op == name
    assert cr.nn.BCELoss()(x.sigmoid(), [[1.0], [0.0]]).op == "bce_loss"
    assert cr.nn.MSELoss(reduction="none")(x, [[1.0], [0.0]]).op == "mse_loss"
