"""TransformerEncoderLayer against PyTorch (float64, weights copied by name), finite
differences, saving, and a causal (GPT-style) model that trains."""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
from chainrule.errors import ConfigError
from chainrule.nn.attention import PositionalEncoding, generate_square_subsequent_mask
from chainrule.nn.transformer import TransformerEncoderLayer

torch = pytest.importorskip("torch")

TOL = 1e-10
D, H, FF = 8, 2, 12


def _pair(**kwargs):
    ours = TransformerEncoderLayer(D, H, FF, dropout=0.0, dtype="float64", rng=0, **kwargs)
    theirs = torch.nn.TransformerEncoderLayer(D, H, FF, dropout=0.0, dtype=torch.float64,
                                              **kwargs)
    theirs.load_state_dict({k: torch.tensor(v) for k, v in ours.state_dict().items()})
    return ours, theirs


def _close(a, b):
    a = a.data if isinstance(a, cr.Tensor) else a
    assert a.shape == tuple(b.shape)
    np.testing.assert_allclose(a, b.detach().numpy(), rtol=0, atol=TOL)


def test_parameters_are_pytorchs():
    ours, theirs = _pair()
    assert [(n, p.shape) for n, p in ours.named_parameters()] == [
        (n, tuple(p.shape)) for n, p in theirs.named_parameters()]
    assert ours.num_parameters() == sum(p.numel() for p in theirs.parameters())
    layer = TransformerEncoderLayer(16, 4, rng=0)  # PyTorch's default dim_feedforward, 2048
    assert layer.summary().total == layer.num_parameters() == sum(
        p.numel() for p in torch.nn.TransformerEncoderLayer(16, 4).parameters())


def _padding(shape):
    m = np.zeros(shape, bool)
    m[..., -2:] = [True, False]
    m[0, -1] = True
    return m


CASES = {
    "post-norm": ({}, (5, 3, D), {}),
    "pre-norm": ({"norm_first": True}, (5, 3, D), {}),
    "batch_first": ({"batch_first": True}, (3, 5, D), {}),
    "unbatched": ({}, (5, D), {}),
    "bool src_mask": ({}, (5, 3, D), {"src_mask": np.triu(np.ones((5, 5), bool), 1)}),
    "causal": ({"norm_first": True}, (5, 3, D),
               {"src_mask": generate_square_subsequent_mask(5, "float64"), "is_causal": True}),
    "key padding": ({"batch_first": True}, (3, 5, D), {"src_key_padding_mask": _padding((3, 5))}),
    "float key padding": ({}, (5, 3, D), {
        "src_key_padding_mask": np.where(_padding((3, 5)), -np.inf, 0.0)}),
}


@pytest.mark.parametrize("case", list(CASES))
def test_matches_pytorch_with_gradients(case):
    kwargs, shape, call = CASES[case]
    ours, theirs = _pair(**kwargs)
    x = np.random.default_rng(1).standard_normal(shape)
    xa, xt = cr.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    out = ours(xa, **call)
    ref = theirs(xt, **{k: (torch.tensor(v) if isinstance(v, np.ndarray) else v)
                        for k, v in call.items()})
    _close(out, ref)
    g = np.random.default_rng(2).standard_normal(out.shape)
    (out * g).sum().backward()
    (ref * torch.tensor(g)).sum().backward()
    _close(xa.grad, xt.grad)
    params = dict(theirs.named_parameters())
    for name, p in ours.named_parameters():
        _close(p.grad, params[name].grad)


def test_gradcheck():
    layer = TransformerEncoderLayer(4, 2, 6, dropout=0.0, dtype="float64", rng=3)
    x = np.random.default_rng(4).standard_normal((3, 2, 4))
    mask = generate_square_subsequent_mask(3, "float64")
    assert cr.gradcheck(lambda a: layer(a, src_mask=mask, is_causal=True), [x])


def test_activation_choices():
    assert TransformerEncoderLayer(4, 2, 6, activation="ReLU", rng=0).activation == "relu"
    with pytest.raises(ConfigError, match="choose one of relu"):
        TransformerEncoderLayer(4, 2, 6, activation="gelu")
    layer = TransformerEncoderLayer(4, 2, 6, activation=cr.engine.ops.tanh, rng=0)
    assert layer(np.zeros((2, 1, 4))).shape == (2, 1, 4)
    with pytest.raises(ConfigError, match="cannot be described"):
        layer.get_config()


def test_dropout_only_in_training():
    layer = TransformerEncoderLayer(8, 2, 16, dropout=0.5, rng=0)
    x = np.random.default_rng(0).standard_normal((4, 2, 8)).astype(np.float32)
    a = layer(x).data
    layer.eval()
    np.testing.assert_array_equal(layer(x).data, layer(x).data)
    assert not np.allclose(a, layer(x).data)


def test_save_round_trip_and_summary(tmp_path):
    model = cr.nn.Sequential(PositionalEncoding(8, max_len=20, batch_first=True),
                             TransformerEncoderLayer(8, 2, 16, batch_first=True,
                                                     norm_first=True, rng=0),
                             cr.nn.Linear(8, 3, rng=1))
    path = tmp_path / "transformer.safetensors"
    cr.save(model, path)
    back = cr.load(path)
    assert back[1].get_config() == model[1].get_config()
    x = np.random.default_rng(0).standard_normal((2, 6, 8)).astype(np.float32)
    np.testing.assert_array_equal(back.eval()(x).data, model.eval()(x).data)
    summary = model.summary((6, 8))
    assert summary.total == model.num_parameters() == 4 * 8 * 8 + 4 * 8 + 2 * 8 * 16 + 16 + 8 \
        + 4 * 8 + 8 * 3 + 3
    assert summary.rows[-1].output_shape == (None, 6, 3)


def test_causal_model_learns_to_output_the_previous_token():
    # A GPT-style block (pre-norm, causal mask) with a positional encoding: the target at
    # position t is the token at t - 1 (0 at t = 0), which only attention to the past can give.
    gen = np.random.default_rng(0)
    n, length, vocab, d = 48, 6, 4, 16
    tokens = gen.integers(0, vocab, (n, length))
    target = np.concatenate([np.zeros((n, 1), int), tokens[:, :-1]], 1).reshape(-1)
    onehot = np.eye(vocab)[tokens]
    mask = generate_square_subsequent_mask(length, "float64")

    class Model(cr.nn.Module):
        def __init__(self):
            super().__init__()
            self.embed = cr.nn.Linear(vocab, d, rng=1, dtype="float64")
            self.pos = PositionalEncoding(d, dropout=0.0, max_len=length, batch_first=True,
                                          dtype="float64")
            self.block = TransformerEncoderLayer(d, 2, 32, dropout=0.0, batch_first=True,
                                                 norm_first=True, dtype="float64", rng=2)
            self.head = cr.nn.Linear(d, vocab, rng=3, dtype="float64")

        def forward(self, x):
            return self.head(self.block(self.pos(self.embed(x)), src_mask=mask,
                                        is_causal=True))

    model = Model()
    opt = cr.optim.Adam(model.parameters(), lr=0.01)
    for _ in range(150):
        loss = cr.nn.functional.cross_entropy(model(onehot).reshape(-1, vocab), target)
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert loss.item() < 0.05
