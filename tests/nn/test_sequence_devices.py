"""The sequence layers on array-api-strict (the stand-in for a GPU) against the CPU: the same
outputs and gradients in float64, with inputs, masks and indices placed by the test itself
(host masks and indices are moved to the layer's device by the layers)."""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
from chainrule import nn
from chainrule.engine.devices import device_of
from chainrule.errors import DataError
from chainrule.nn.attention import scaled_dot_product_attention
from chainrule.nn.language import CharRecurrent, CharTransformer

pytest.importorskip("array_api_strict")
STRICT = "array_api_strict"
# These tests place every tensor and model on each device themselves, from the CPU default.
pytestmark = pytest.mark.cpu_only
TOL = {"rtol": 1e-12, "atol": 1e-12}


def _both(make):
    """The same freshly seeded model on the CPU and on the strict device."""
    cpu, strict = make(), make().to(STRICT)
    assert cpu.device == "cpu" and strict.device == STRICT
    return cpu, strict


def _inputs(arrays, device):
    return [cr.tensor(a, device=device, requires_grad=True) for a in arrays]


def _loss(outputs):
    """A scalar that weighs every output entry differently (so each gradient is checked)."""
    total = None
    for k, out in enumerate(outputs):
        if out is None:
            continue
        gen = np.random.default_rng(100 + k)
        w = cr.tensor(gen.standard_normal(out.shape), device=device_of(out.data))
        term = (out * w).sum()
        total = term if total is None else total + term
    return total


def _same(cpu_model, strict_model, cpu_out, strict_out, cpu_in, strict_in):
    for a, b in zip(cpu_out, strict_out):
        if a is None:
            assert b is None
            continue
        assert device_of(b.data) == STRICT
        np.testing.assert_allclose(b.numpy(), a.numpy(), **TOL)
    _loss(cpu_out).backward()
    _loss(strict_out).backward()
    for (name, p), (_, q) in zip(cpu_model.named_parameters(), strict_model.named_parameters()):
        assert device_of(q.grad) == STRICT, name
        np.testing.assert_allclose(np.asarray(q.grad), p.grad, err_msg=name, **TOL)
    for a, b in zip(cpu_in, strict_in):
        np.testing.assert_allclose(np.asarray(b.grad), a.grad, **TOL)


def test_lstm_with_default_states_and_dropout_between_layers():
    gen = np.random.default_rng(0)
    x = gen.standard_normal((4, 7, 3))
    cpu, strict = _both(lambda: nn.LSTM(3, 5, num_layers=2, batch_first=True, dropout=0.3,
                                        dtype="float64", rng=1))
    xc, xs = _inputs([x], "cpu"), _inputs([x], STRICT)
    out_c, (h_c, c_c) = cpu(xc[0])
    out_s, (h_s, c_s) = strict(xs[0])  # the dropout masks come from one seed on the host
    _same(cpu, strict, (out_c, h_c, c_c), (out_s, h_s, c_s), xc, xs)


def test_bidirectional_two_layer_gru_with_a_given_state_and_host_input():
    gen = np.random.default_rng(1)
    x, h0 = gen.standard_normal((6, 3, 4)), gen.standard_normal((4, 3, 5))
    cpu, strict = _both(lambda: nn.GRU(4, 5, num_layers=2, bidirectional=True,
                                       dtype="float64", rng=2))
    hc, hs = _inputs([h0], "cpu"), _inputs([h0], STRICT)
    out_c, hn_c = cpu(x, hc[0])
    out_s, hn_s = strict(x, hs[0])  # a NumPy input joins the layer's device
    _same(cpu, strict, (out_c, hn_c), (out_s, hn_s), hc, hs)
    # the zero initial state is made on the layer's device too
    np.testing.assert_allclose(strict(x)[0].numpy(), cpu(x)[0].numpy(), **TOL)


def test_gru_cell_and_lstm_cell():
    x = np.random.default_rng(2).standard_normal((3, 4))
    for make in (lambda: nn.GRUCell(4, 5, dtype="float64", rng=3),
                 lambda: nn.LSTMCell(4, 5, dtype="float64", rng=3)):
        cpu, strict = _both(make)
        xc, xs = _inputs([x], "cpu"), _inputs([x], STRICT)
        out_c, out_s = cpu(xc[0]), strict(xs[0])
        out_c = out_c if isinstance(out_c, tuple) else (out_c,)
        out_s = out_s if isinstance(out_s, tuple) else (out_s,)
        _same(cpu, strict, out_c, out_s, xc, xs)


def test_multihead_attention_with_boolean_and_float_masks():
    gen = np.random.default_rng(3)
    q, k, v = (gen.standard_normal(s) for s in ((2, 5, 8), (2, 6, 8), (2, 6, 8)))
    padding = np.zeros((2, 6), bool)
    padding[1, 4:] = True
    attn = np.zeros((5, 6), bool)
    attn[0, 1:] = True
    attn[3, :] = True  # a query that may attend to nothing: zeros, not NaN
    float_mask = gen.standard_normal((2 * 2, 5, 6))
    cpu, strict = _both(lambda: nn.MultiheadAttention(8, 2, batch_first=True,
                                                      dtype="float64", rng=4))
    for masks in ({"key_padding_mask": padding, "attn_mask": attn},
                  {"attn_mask": float_mask, "average_attn_weights": False}):
        cpu.zero_grad()
        strict.zero_grad()
        ic, is_ = _inputs([q, k, v], "cpu"), _inputs([q, k, v], STRICT)
        out_c = cpu(*ic, **masks)
        out_s = strict(*is_, **masks)
        _same(cpu, strict, out_c, out_s, ic, is_)


def test_scaled_dot_product_attention_causal():
    gen = np.random.default_rng(4)
    arrays = [gen.standard_normal((2, 4, 3)) for _ in range(3)]
    ic, is_ = _inputs(arrays, "cpu"), _inputs(arrays, STRICT)
    out_c = scaled_dot_product_attention(*ic, is_causal=True)
    out_s = scaled_dot_product_attention(*is_, is_causal=True)
    np.testing.assert_allclose(out_s.numpy(), out_c.numpy(), **TOL)
    _loss([out_c]).backward()
    _loss([out_s]).backward()
    for a, b in zip(ic, is_):
        np.testing.assert_allclose(np.asarray(b.grad), a.grad, **TOL)


@pytest.mark.parametrize("norm_first", [False, True])
def test_transformer_encoder_layer_with_causal_and_padding_masks(norm_first):
    gen = np.random.default_rng(5)
    x = gen.standard_normal((3, 5, 8))
    padding = np.zeros((3, 5), bool)
    padding[2, 3:] = True
    cpu, strict = _both(lambda: nn.TransformerEncoderLayer(
        8, 2, dim_feedforward=16, dropout=0.0, batch_first=True, norm_first=norm_first,
        dtype="float64", rng=6))
    xc, xs = _inputs([x], "cpu"), _inputs([x], STRICT)
    out_c = cpu(xc[0], src_mask=nn.generate_square_subsequent_mask(5, "float64"),
                src_key_padding_mask=padding, is_causal=True)
    mask = nn.generate_square_subsequent_mask(5, "float64", device=STRICT)
    assert device_of(mask) == STRICT
    out_s = strict(xs[0], src_mask=mask, src_key_padding_mask=padding, is_causal=True)
    _same(cpu, strict, (out_c,), (out_s,), xc, xs)


def test_embedding_takes_host_indices_and_positional_encoding_moves_its_table():
    idx = np.array([[1, 2, 0], [4, 0, 3]])
    cpu, strict = _both(lambda: nn.Embedding(6, 4, padding_idx=0, dtype="float64", rng=7))
    _same(cpu, strict, (cpu(idx),), (strict(idx.tolist()),), [], [])
    with pytest.raises(DataError, match="index 6 is out of range"):
        strict(np.array([6, 1]))
    with pytest.raises(DataError, match="index -1 is out of range"):
        strict(cr.tensor([-1, 1], device=STRICT))

    pe_cpu = nn.PositionalEncoding(4, dropout=0.0, max_len=6, batch_first=True,
                                   dtype="float64")
    pe_strict = nn.PositionalEncoding(4, dropout=0.0, max_len=6, batch_first=True,
                                      dtype="float64").to(STRICT)
    assert device_of(pe_strict.pe) == STRICT
    x = np.random.default_rng(8).standard_normal((2, 5, 4))
    out = pe_strict(cr.tensor(x, device=STRICT))
    np.testing.assert_allclose(out.numpy(), pe_cpu(x).numpy(), **TOL)


def test_char_models_run_on_the_strict_device():
    tokens = np.array([[0, 5, 9, 2, 7], [3, 3, 1, 0, 8]])
    for make in (lambda: CharRecurrent(10, 4, 6, layers=2, cell="lstm", rng=0),
                 lambda: CharTransformer(10, 8, 16, 1, 2, 5, rng=0),
                 lambda: CharTransformer(10, 8, 16, 1, 2, 5, positions="sinusoidal", rng=0)):
        cpu, strict = _both(make)
        np.testing.assert_allclose(strict(tokens).numpy(), cpu(tokens).numpy(), rtol=1e-5,
                                   atol=1e-6)
