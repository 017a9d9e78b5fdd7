"""The attention nodes (chainrule.nn.sdpa: ``attention`` and the packed ``self_attention``)
against the same arithmetic composed of the engine's operations, in float64: outputs,
gradients, gradients of gradients, masks (rows with nothing to attend to included) and
broadcasting."""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
from chainrule.engine.devices import to_numpy
from chainrule.nn.attention import MultiheadAttention, generate_square_subsequent_mask
from chainrule.nn.sdpa import as_mask, attention


def _host(t):
    return to_numpy(t.data if isinstance(t, cr.Tensor) else t)


def _masks(length, source):
    rng = np.random.default_rng(5)
    dead = np.zeros((length, source))
    dead[1] = -np.inf                       # query 1 may attend to nothing
    return {"none": None, "causal": generate_square_subsequent_mask(length, "float64")
            if length == source else None,
            "random": np.where(rng.random((length, source)) < 0.3, -np.inf, 0.0), "dead": dead}


def _on(mask, like):
    """A NumPy mask on the device of tensor ``like`` (the layers move theirs the same way)."""
    return None if mask is None else as_mask(mask, "mask", like.data)


def _ops(root):
    seen, stack = set(), [root]
    while stack:
        t = stack.pop()
        seen.add(t.op)
        stack.extend(t.inputs)
    return seen


def _both(fn):
    fused, composed = fn(False), fn(True)
    return fused, composed


@pytest.mark.parametrize("mask", ["none", "causal", "random", "dead"])
@pytest.mark.parametrize("shapes", [((2, 3, 4, 5), (2, 3, 4, 5), (2, 3, 4, 6)),
                                    ((2, 3, 4, 5), (3, 6, 5), (1, 6, 2))])
def test_attention_node_equals_the_composed_operations(mask, shapes):
    rng = np.random.default_rng(0)
    arrays = [rng.normal(size=s) for s in shapes]
    length, source = shapes[0][-2], shapes[1][-2]
    bias = _masks(length, source)[mask]
    if bias is None and mask != "none":
        pytest.skip("the causal mask is square")
    seed = rng.normal(size=np.broadcast_shapes(shapes[0][:-1], shapes[2][:-2] + (1,))
                      + (shapes[2][-1],))

    def run(composed):
        ts = [cr.tensor(a, requires_grad=True) for a in arrays]
        out, _ = attention(*ts, _on(bias, ts[0]), 0.0, 0.3, need_weights=composed)
        assert (out.op == "attention") is not composed
        (out * cr.tensor(seed)).sum().backward()
        return [_host(out)] + [_host(t.grad) for t in ts]

    for a, b in zip(*_both(run)):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-13)


@pytest.mark.parametrize("mask", ["none", "causal", "dead"])
@pytest.mark.parametrize("batch_first", [True, False])
def test_self_attention_node_equals_the_composed_layer(mask, batch_first):
    mha = MultiheadAttention(8, 2, batch_first=batch_first, dtype="float64", rng=0)
    rng = np.random.default_rng(1)
    mha.in_proj_bias.data[...] = cr.tensor(rng.normal(size=24)).data   # on the test device
    shape = (3, 5, 8) if batch_first else (5, 3, 8)      # 3 sequences of 5 positions
    x0 = rng.normal(size=shape)
    bias = _masks(5, 5)[mask]
    seed = rng.normal(size=shape)

    def run(need_weights):
        for p in mha.parameters():
            p.grad = None
        x = cr.tensor(x0, requires_grad=True)
        out, _ = mha(x, x, x, attn_mask=bias, need_weights=need_weights)
        assert ("self_attention" in _ops(out)) is not need_weights
        (out * cr.tensor(seed)).sum().backward()
        return [_host(out), _host(x.grad)] + [_host(p.grad) for p in mha.parameters()]

    for a, b in zip(*_both(run)):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-13)


@pytest.mark.parametrize("packed", [False, True])
def test_hessian_vector_products_equal_the_composed_operations(packed):
    rng = np.random.default_rng(2)
    mha = MultiheadAttention(4, 2, batch_first=True, dtype="float64", rng=0)
    params = list(mha.parameters())
    x0 = rng.normal(size=(2, 3, 4))
    q0, k0, v0 = (rng.normal(size=(2, 3, 4, 5)) for _ in range(3))
    mask = generate_square_subsequent_mask(3, "float64") if packed else _masks(4, 4)["dead"]
    vs = [rng.normal(size=p.shape) for p in params] if packed else [
        rng.normal(size=(2, 3, 4, 5)) for _ in range(3)]

    def hvp(composed):
        if packed:
            x = cr.tensor(x0, requires_grad=True)
            out, _ = mha(x, x, x, attn_mask=mask, need_weights=composed)
            wrt = [x, *params]
        else:
            wrt = [cr.tensor(a, requires_grad=True) for a in (q0, k0, v0)]
            out, _ = attention(*wrt, _on(mask, wrt[0]), 0.0, 0.4, need_weights=composed)
        loss = (out * out * out).sum()
        grads = cr.grad(loss, wrt, create_graph=True)
        pairs = zip(grads[1:], vs) if packed else zip(grads, vs)
        inner = sum((g * cr.tensor(v)).sum() for g, v in pairs)
        return [_host(g) for g in cr.grad(inner, wrt)]

    for a, b in zip(*_both(hvp)):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)


def test_a_query_with_nothing_to_attend_to_gets_zeros_and_no_nan():
    q = cr.tensor(np.ones((1, 2, 3)), requires_grad=True)
    dead = np.array([[0.0, -np.inf], [-np.inf, -np.inf]])
    out, _ = attention(q, q, q, _on(dead, q), 0.0, 1.0, need_weights=False)
    out.sum().backward()
    np.testing.assert_array_equal(_host(out)[0, 1], 0.0)
    assert np.isfinite(_host(q.grad)).all()


def test_gradgradcheck_of_the_attention_node():
    rng = np.random.default_rng(3)
    ts = [cr.tensor(rng.normal(size=(2, 3, 2)), requires_grad=True) for _ in range(3)]
    mask = generate_square_subsequent_mask(3, "float64")
    assert cr.gradgradcheck(lambda q, k, v: attention(q, k, v, _on(mask, q), 0.0, 0.7,
                                                      need_weights=False)[0], ts)
