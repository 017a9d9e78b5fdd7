"""Attention against PyTorch (float64, weights copied by name), finite differences, the
masks' two conventions, saving, and a small task that trains."""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
from chainrule.errors import ConfigError, ShapeError
from chainrule.nn.attention import (
    MultiheadAttention,
    PositionalEncoding,
    generate_square_subsequent_mask,
    scaled_dot_product_attention,
)

torch = pytest.importorskip("torch")
F = torch.nn.functional

TOL = 1e-10


def _pair(*shapes, seed=0):
    """Random float64 arrays, as chainrule tensors and torch tensors needing gradients."""
    gen = np.random.default_rng(seed)
    arrays = [gen.standard_normal(s) for s in shapes]
    return ([cr.tensor(a, requires_grad=True) for a in arrays],
            [torch.tensor(a, requires_grad=True) for a in arrays])


def _close(ours, theirs, tol=TOL):
    a = ours.data if isinstance(ours, cr.Tensor) else np.asarray(ours)
    b = theirs.detach().numpy()
    assert a.shape == b.shape
    np.testing.assert_allclose(a, b, rtol=0, atol=tol)


def _backward_both(ours, theirs, seed=1):
    """Backpropagate the same random output weights through both results."""
    g = np.random.default_rng(seed).standard_normal(ours.shape)
    (ours * g).sum().backward()
    (theirs * torch.tensor(g)).sum().backward()


# -- scaled_dot_product_attention -------------------------------------------------------------
SDPA_CASES = {
    "plain": ((2, 3, 4), (2, 5, 4), (2, 5, 6), None, False),
    "broadcast batch": ((2, 2, 3, 4), (1, 2, 5, 4), (1, 2, 5, 6), None, False),
    "bool mask (True = keep)": ((2, 3, 4), (2, 5, 4), (2, 5, 6), "bool", False),
    "float mask added": ((2, 3, 4), (2, 5, 4), (2, 5, 6), "float", False),
    "float mask with -inf": ((2, 3, 4), (2, 5, 4), (2, 5, 6), "float-inf", False),
    "causal, L < S": ((2, 3, 4), (2, 5, 4), (2, 5, 6), None, True),
    "causal, square": ((2, 4, 3), (2, 4, 3), (2, 4, 2), None, True),
    "per-batch mask": ((2, 3, 4), (2, 5, 4), (2, 5, 6), "bool3", False),
}


def _sdpa_mask(kind, seed=3):
    gen = np.random.default_rng(seed)
    if kind == "bool":
        m = gen.random((3, 5)) > 0.4
        m[:, 0] = True
        return m
    if kind == "bool3":
        m = gen.random((2, 1, 5)) > 0.4
        m[..., 0] = True
        return m
    if kind == "float":
        return gen.standard_normal((3, 5))
    if kind == "float-inf":
        m = gen.standard_normal((3, 5))
        m[gen.random((3, 5)) > 0.6] = -np.inf
        m[:, 1] = 0.5
        return m
    return None


@pytest.mark.parametrize("case", list(SDPA_CASES))
def test_sdpa_matches_pytorch_with_gradients(case):
    qs, ks, vs, mask_kind, causal = SDPA_CASES[case]
    ours, theirs = _pair(qs, ks, vs)
    mask = _sdpa_mask(mask_kind)
    out = scaled_dot_product_attention(*ours, attn_mask=mask, is_causal=causal)
    ref = F.scaled_dot_product_attention(
        *theirs, attn_mask=None if mask is None else torch.tensor(mask), is_causal=causal)
    _close(out, ref)
    _backward_both(out, ref)
    for a, b in zip(ours, theirs):
        _close(a.grad, b.grad)


def test_sdpa_scale_and_unbatched():
    ours, theirs = _pair((3, 4), (5, 4), (5, 2))
    out = scaled_dot_product_attention(*ours, scale=0.3)
    ref = F.scaled_dot_product_attention(*theirs, scale=0.3)
    _close(out, ref)


def test_sdpa_fully_masked_row_gives_zeros_and_no_nan_gradient_as_pytorch():
    # PyTorch's math attention uses a "safe softmax": a query that may attend to nothing gets
    # a zero output and zero gradients.
    for mask in (np.ones((3, 5), bool), np.zeros((3, 5))):
        if mask.dtype == bool:
            mask[1] = False
        else:
            mask[1] = -np.inf
        ours, theirs = _pair((2, 3, 4), (2, 5, 4), (2, 5, 6))
        out = scaled_dot_product_attention(*ours, attn_mask=mask)
        ref = F.scaled_dot_product_attention(*theirs, attn_mask=torch.tensor(mask))
        _close(out, ref)
        assert not out.numpy()[:, 1].any()
        _backward_both(out, ref)
        for a, b in zip(ours, theirs):
            assert np.isfinite(a.grad).all()
            _close(a.grad, b.grad)


def test_sdpa_hand_worked_example():
    # Two keys with scores 0 and ln(3) (scale 1): weights 1/4 and 3/4, output 1/4*1 + 3/4*5 = 4.
    q = cr.tensor([[1.0]])
    k = cr.tensor([[0.0], [np.log(3.0)]])
    v = cr.tensor([[1.0], [5.0]])
    assert scaled_dot_product_attention(q, k, v, scale=1.0).numpy()[0, 0] == pytest.approx(4.0)


def test_sdpa_gradcheck():
    gen = np.random.default_rng(5)
    q, k, v = gen.standard_normal((2, 3, 2)), gen.standard_normal((2, 4, 2)), \
        gen.standard_normal((2, 4, 3))
    mask = np.array([[True, False, True, True], [False, False, False, False],
                     [True, True, True, False]])
    assert cr.gradcheck(lambda a, b, c: scaled_dot_product_attention(a, b, c, attn_mask=mask),
                        [q, k, v])
    assert cr.gradcheck(lambda a, b, c: scaled_dot_product_attention(a, b, c, is_causal=True),
                        [q, k, v])
    # composed of differentiable operations, so a gradient of a gradient comes too
    assert cr.gradgradcheck(
        lambda a, b, c: scaled_dot_product_attention(a, b, c, attn_mask=mask), [q, k, v])


def test_sdpa_errors_name_the_shapes():
    x = cr.tensor(np.zeros((2, 3, 4)))
    with pytest.raises(ShapeError, match=r"\(\.\.\., S, E\)"):
        scaled_dot_product_attention(x, cr.tensor(np.zeros((2, 3, 5))), x)
    with pytest.raises(ShapeError, match="does not broadcast"):
        scaled_dot_product_attention(x, x, x, attn_mask=np.ones((4, 4), bool))
    with pytest.raises(ConfigError, match="not both"):
        scaled_dot_product_attention(x, x, x, attn_mask=np.ones((3, 3), bool), is_causal=True)
    with pytest.raises(ConfigError, match="boolean or floating"):
        scaled_dot_product_attention(x, x, x, attn_mask=np.ones((3, 3), int))


def test_sdpa_dropout_is_seeded_and_scales():
    ours, _ = _pair((1, 4, 3), (1, 6, 3), (1, 6, 2))
    a = scaled_dot_product_attention(*ours, dropout_p=0.5, rng=0).data
    b = scaled_dot_product_attention(*ours, dropout_p=0.5, rng=0).data
    c = scaled_dot_product_attention(*ours).data
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)


def test_causal_mask_equals_pytorch():
    for n in (1, 4):
        ref = torch.nn.Transformer.generate_square_subsequent_mask(n)
        np.testing.assert_array_equal(generate_square_subsequent_mask(n), ref.numpy())
    assert generate_square_subsequent_mask(2, dtype="float64").dtype == np.float64


# -- MultiheadAttention -----------------------------------------------------------------------
def _mha_pair(e=6, h=2, **kwargs):
    ours = MultiheadAttention(e, h, dtype="float64", rng=0, **kwargs)
    theirs = torch.nn.MultiheadAttention(e, h, dtype=torch.float64, **kwargs)
    theirs.load_state_dict({k: torch.tensor(v) for k, v in ours.state_dict().items()})
    return ours, theirs


def _compare_mha(ours, theirs, inputs, masks=None, same=False, **kwargs):
    masks = masks or {}
    (q, k, v), (tq, tk, tv) = _pair(*inputs)
    if same:
        k = v = q
        tk = tv = tq
    out, w = ours(q, k, v, **masks, **kwargs)
    ref, tw = theirs(tq, tk, tv, **{n: torch.tensor(m) for n, m in masks.items()}, **kwargs)
    _close(out, ref)
    if tw is None:
        assert w is None
    else:
        _close(w, tw)
    _backward_both(out, ref)
    for a, b in zip((q, k, v), (tq, tk, tv)):
        _close(a.grad, b.grad)
    params = dict(theirs.named_parameters())
    for name, p in ours.named_parameters():
        _close(p.grad, params[name].grad)


def test_mha_parameters_are_pytorchs():
    ours, theirs = _mha_pair(8, 4)
    assert [(n, p.shape) for n, p in ours.named_parameters()] == [
        (n, tuple(p.shape)) for n, p in theirs.named_parameters()]
    assert ours.num_parameters() == sum(p.numel() for p in theirs.parameters())
    assert not ours.in_proj_bias.numpy().any() and not ours.out_proj.bias.numpy().any()
    bound = np.sqrt(6 / (8 + 24))  # xavier-uniform on the stacked (3E, E) matrix
    assert np.abs(ours.in_proj_weight.data).max() <= bound
    assert np.abs(ours.in_proj_weight.data).max() > 0.8 * bound


MHA_CASES = {
    "seq-first": ({}, [(4, 2, 6), (5, 2, 6), (5, 2, 6)], {}, {}),
    "self-attention": ({}, [(4, 2, 6)], {}, {"same": True}),
    "batch_first": ({"batch_first": True}, [(2, 4, 6), (2, 5, 6), (2, 5, 6)], {}, {}),
    "unbatched": ({}, [(4, 6), (5, 6), (5, 6)], {}, {}),
    "heads kept": ({}, [(4, 2, 6), (5, 2, 6), (5, 2, 6)], {},
                   {"average_attn_weights": False}),
    "no weights": ({}, [(4, 2, 6), (5, 2, 6), (5, 2, 6)], {}, {"need_weights": False}),
    "kdim and vdim": ({"kdim": 3, "vdim": 5}, [(4, 2, 6), (5, 2, 3), (5, 2, 5)], {}, {}),
    "no bias": ({"bias": False}, [(4, 2, 6), (5, 2, 6), (5, 2, 6)], {}, {}),
    "bool attn_mask (True = out)": ({}, [(4, 2, 6), (5, 2, 6), (5, 2, 6)],
                                    {"attn_mask": "bool"}, {}),
    "float attn_mask": ({}, [(4, 2, 6), (5, 2, 6), (5, 2, 6)], {"attn_mask": "float"}, {}),
    "3-D attn_mask": ({}, [(4, 2, 6), (5, 2, 6), (5, 2, 6)], {"attn_mask": "bool3"},
                      {"average_attn_weights": False}),
    "key_padding_mask": ({"batch_first": True}, [(2, 4, 6), (2, 5, 6), (2, 5, 6)],
                         {"key_padding_mask": "bool"}, {}),
    "float key_padding_mask": ({}, [(4, 2, 6), (5, 2, 6), (5, 2, 6)],
                               {"key_padding_mask": "float"}, {}),
    "both masks": ({}, [(4, 2, 6), (5, 2, 6), (5, 2, 6)],
                   {"attn_mask": "bool", "key_padding_mask": "bool"}, {}),
    "unbatched key_padding_mask": ({}, [(4, 6), (5, 6), (5, 6)],
                                   {"key_padding_mask": "bool"}, {}),
    "causal": ({}, [(4, 2, 6)], {"attn_mask": "causal"}, {"same": True, "is_causal": True}),
}


def _mha_mask(name, kind, batched=True, seed=7):
    gen = np.random.default_rng(seed)
    if kind == "causal":
        return generate_square_subsequent_mask(4, dtype="float64")
    if name == "attn_mask":
        shape = {"bool": (4, 5), "float": (4, 5), "bool3": (2 * 2, 4, 5)}[kind]
    else:
        shape = (2, 5) if batched else (5,)
    if kind == "float":
        return gen.standard_normal(shape)
    m = gen.random(shape) > 0.6
    m[..., 0] = False  # every query keeps one key: no fully masked rows here
    return m


@pytest.mark.parametrize("case", list(MHA_CASES))
def test_mha_matches_pytorch_with_gradients(case):
    kwargs, inputs, mask_kinds, call = MHA_CASES[case]
    ours, theirs = _mha_pair(**kwargs)
    batched = len(inputs[0]) == 3
    masks = {n: _mha_mask(n, k, batched) for n, k in mask_kinds.items()}
    _compare_mha(ours, theirs, inputs * (3 if len(inputs) == 1 else 1), masks, **call)


def test_mha_fully_masked_query_gives_zeros_not_nan():
    # PyTorch gives NaN here with need_weights=True and zeros with need_weights=False; chainrule
    # gives zeros in both, with finite gradients.
    ours, theirs = _mha_pair()
    pad = np.zeros((2, 5), bool)
    pad[0] = True
    (q,), (tq,) = _pair((5, 2, 6))
    out, w = ours(q, q, q, key_padding_mask=pad)
    ref, _ = theirs(tq, tq, tq, key_padding_mask=torch.tensor(pad), need_weights=False)
    _close(out, ref)
    assert not w.numpy()[0].any()
    out.sum().backward()
    assert all(np.isfinite(p.grad).all() for p in ours.parameters())


def test_mha_gradcheck():
    mha = MultiheadAttention(4, 2, dtype="float64", rng=1)
    mask = np.array([[False, True, False], [False, False, True]])
    gen = np.random.default_rng(2)
    x, y = gen.standard_normal((2, 1, 4)), gen.standard_normal((3, 1, 4))
    weight, bias = mha.in_proj_weight.numpy().copy(), gen.standard_normal(12)

    def f(a, b, w, c):
        # the tensors gradcheck varies stand in for the parameters
        mha.in_proj_weight, mha.in_proj_bias = w, c
        return mha(a, b, b, attn_mask=mask)[0]

    assert cr.gradcheck(f, [x, y, weight, bias])


def test_mha_errors_name_the_shapes():
    with pytest.raises(ConfigError, match=r"embed_dim \(6\) must be divisible by num_heads"):
        MultiheadAttention(6, 4)
    mha = MultiheadAttention(6, 2, rng=0)
    x = np.zeros((4, 2, 6), np.float32)
    with pytest.raises(ShapeError, match=r"\(L, N, 6\), \(S, N, 6\)"):
        mha(x, np.zeros((4, 2, 5), np.float32), x)
    with pytest.raises(ShapeError, match=r"attn_mask must have shape \(4, 4\) or \(4, 4, 4\)"):
        mha(x, x, x, attn_mask=np.zeros((4, 5), bool))
    with pytest.raises(ShapeError, match=r"key_padding_mask must have shape \(2, 4\)"):
        mha(x, x, x, key_padding_mask=np.zeros((4, 2), bool))
    with pytest.raises(ConfigError, match="generate_square_subsequent_mask"):
        mha(x, x, x, is_causal=True)


def test_mha_dropout_only_in_training():
    mha = MultiheadAttention(6, 2, dropout=0.5, dtype="float64", rng=0)
    x = np.random.default_rng(0).standard_normal((4, 2, 6))
    a = mha(x, x, x)[0].data
    mha.eval()
    b, c = mha(x, x, x)[0].data, mha(x, x, x)[0].data
    np.testing.assert_array_equal(b, c)
    assert not np.allclose(a, b)


def test_mha_float32_and_save_round_trip(tmp_path):
    mha = MultiheadAttention(6, 3, batch_first=True, kdim=4, rng=0)
    assert mha.in_proj_weight is None and mha.k_proj_weight.shape == (6, 4)
    cr.save(mha, tmp_path / "mha.safetensors")
    back = cr.load(tmp_path / "mha.safetensors")
    assert back.get_config() == mha.get_config()
    x, k = np.ones((2, 3, 6), np.float32), np.ones((2, 5, 4), np.float32)
    out = mha(x, k, np.ones((2, 5, 6), np.float32))[0]
    assert out.numpy().dtype == np.float32
    np.testing.assert_array_equal(out.data, back(x, k, np.ones((2, 5, 6), np.float32))[0].data)


def test_mha_summary_counts_parameters():
    mha = MultiheadAttention(8, 2, rng=0)
    s = mha.summary()
    assert s.total == 4 * 8 * 8 + 4 * 8 == mha.num_parameters()
    assert sum(r.params for r in s.rows) == s.total


# -- PositionalEncoding -----------------------------------------------------------------------
def _tutorial_pe(d, max_len):
    # PyTorch's transformer tutorial, verbatim but for the (max_len, d) layout.
    import math
    position = torch.arange(max_len, dtype=torch.float64).unsqueeze(1)
    div_term = torch.exp(torch.arange(0, d, 2, dtype=torch.float64) * (-math.log(10000.0) / d))
    pe = torch.zeros(max_len, d, dtype=torch.float64)
    pe[:, 0::2] = torch.sin(position * div_term)
    pe[:, 1::2] = torch.cos(position * div_term)
    return pe.numpy()


def test_positional_encoding_is_the_tutorials():
    pe = PositionalEncoding(8, dropout=0.0, max_len=50, dtype="float64")
    np.testing.assert_allclose(pe.pe, _tutorial_pe(8, 50), rtol=0, atol=1e-15)
    assert pe.num_parameters() == 0 and list(pe.state_dict()) == ["pe"]
    x = np.random.default_rng(0).standard_normal((7, 3, 8))
    np.testing.assert_allclose(pe(x).data, x + _tutorial_pe(8, 50)[:7, None], atol=1e-15)
    first = PositionalEncoding(8, dropout=0.0, max_len=50, batch_first=True, dtype="float64")
    np.testing.assert_allclose(first(x).data, x + _tutorial_pe(8, 50)[None, :3], atol=1e-15)
    assert PositionalEncoding(5, max_len=3).pe.shape == (3, 5)  # odd sizes work too


def test_positional_encoding_errors_and_saving(tmp_path):
    pe = PositionalEncoding(4, max_len=10)
    with pytest.raises(ShapeError, match="max_len=10"):
        pe(np.zeros((11, 1, 4)))
    with pytest.raises(ShapeError, match=r"\(L, N, 4\)"):
        pe(np.zeros((3, 1, 5)))
    model = cr.nn.Sequential(PositionalEncoding(4, max_len=10), cr.nn.Linear(4, 2, rng=0))
    cr.save(model, tmp_path / "pe.safetensors")
    back = cr.load(tmp_path / "pe.safetensors").eval()
    x = np.ones((3, 2, 4), np.float32)
    np.testing.assert_array_equal(back(x).data, model.eval()(x).data)
    assert model.summary((2, 4)).total == 10


# -- a small task -----------------------------------------------------------------------------
def test_attention_learns_to_copy_the_token_at_the_pointer():
    # Each sequence holds 4 random tokens, one of them flagged; the target at every position is
    # the flagged token.  A one-layer attention model must learn to look it up.
    gen = np.random.default_rng(0)
    n, length, vocab, e = 64, 4, 4, 16
    tokens = gen.integers(0, vocab, (n, length))
    flag = gen.integers(0, length, n)
    x = np.zeros((n, length, vocab + 1))
    x[np.arange(n)[:, None], np.arange(length), tokens] = 1
    x[np.arange(n), flag, vocab] = 1
    target = np.repeat(tokens[np.arange(n), flag][:, None], length, 1).reshape(-1)

    class Model(cr.nn.Module):
        def __init__(self):
            super().__init__()
            self.embed = cr.nn.Linear(vocab + 1, e, rng=1, dtype="float64")
            self.attn = MultiheadAttention(e, 2, batch_first=True, dtype="float64", rng=2)
            self.head = cr.nn.Linear(e, vocab, rng=3, dtype="float64")

        def forward(self, x):
            h = self.embed(x)
            return self.head(self.attn(h, h, h, need_weights=False)[0])

    model = Model()
    opt = cr.optim.Adam(model.parameters(), lr=0.02)
    for _ in range(150):
        logits = model(x).reshape(-1, vocab)
        loss = cr.nn.functional.cross_entropy(logits, target)
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert loss.item() < 0.05
