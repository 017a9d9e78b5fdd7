"""RNN, LSTM and GRU (and their cells) against PyTorch in float64 with the same weights,
loaded by name from PyTorch's state dict: outputs, final states and the gradient of every
parameter, input and initial state.  Then finite differences, shapes and errors, saving,
summary, the names explain shows, and a small sequence task that trains."""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
from chainrule.errors import ConfigError, ShapeError
from chainrule.nn.cells import GRUCell, LSTMCell, RNNCell, gru_step, lstm_step, rnn_step
from chainrule.nn.layers import Linear
from chainrule.nn.recurrent import GRU, LSTM, RNN, time_steps
from chainrule.tools.saving import load, save

LAYERS = {"RNN-tanh": (RNN, {}), "RNN-relu": (RNN, {"nonlinearity": "relu"}),
          "LSTM": (LSTM, {}), "GRU": (GRU, {})}
CELLS = {"RNNCell-tanh": (RNNCell, {}), "RNNCell-relu": (RNNCell, {"nonlinearity": "relu"}),
         "LSTMCell": (LSTMCell, {}), "GRUCell": (GRUCell, {})}
TOL = 1e-10


@pytest.fixture
def torch():
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    return torch


def _torch_twin(torch, cls, kwargs, **common):
    """The PyTorch layer of the same name and arguments, and our layer holding its weights."""
    ours = cls(**common, **kwargs, dtype="float64", rng=0)
    theirs = getattr(torch.nn, cls.__name__)(**common, **kwargs).double()
    state = {k: v.detach().numpy() for k, v in theirs.state_dict().items()}
    assert list(ours.state_dict()) == list(state)  # same names, same order
    ours.load_state_dict(state)
    return ours, theirs


def _close(ours, theirs, what):
    theirs = theirs.detach().numpy() if hasattr(theirs, "detach") else theirs
    assert ours.shape == theirs.shape, what
    np.testing.assert_allclose(ours, theirs, rtol=TOL, atol=TOL, err_msg=what)


@pytest.mark.parametrize("name", sorted(LAYERS))
@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("given_state", [False, True])
@pytest.mark.parametrize("layers,bidirectional,bias", [(2, True, True), (1, False, False)])
def test_layer_matches_pytorch(torch, name, batch_first, given_state, layers, bidirectional,
                               bias):
    cls, kwargs = LAYERS[name]
    ours, theirs = _torch_twin(torch, cls, kwargs, input_size=3, hidden_size=4,
                               num_layers=layers, bidirectional=bidirectional, bias=bias,
                               batch_first=batch_first)
    rng = np.random.default_rng(1)
    x = rng.normal(size=(2, 5, 3) if batch_first else (5, 2, 3))
    state_shape = (layers * (2 if bidirectional else 1), 2, 4)
    states = [rng.normal(size=state_shape) for _ in range(2 if cls is LSTM else 1)]
    x_c, x_t = cr.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    s_c = [cr.tensor(s, requires_grad=True) for s in states]
    s_t = [torch.tensor(s, requires_grad=True) for s in states]
    if cls is LSTM:
        out_c, (h_c, c_c) = ours(x_c, tuple(s_c) if given_state else None)
        out_t, (h_t, c_t) = theirs(x_t, tuple(s_t) if given_state else None)
        finals = [(h_c, h_t), (c_c, c_t)]
    else:
        out_c, h_c = ours(x_c, s_c[0] if given_state else None)
        out_t, h_t = theirs(x_t, s_t[0] if given_state else None)
        finals = [(h_c, h_t)]
    _close(out_c.data, out_t, "output")
    # A loss that reaches every output and final state with a different weight each.
    w = rng.normal(size=out_c.shape)
    loss_c = (out_c * w).sum() + sum(((a * a * a).sum() for a, _ in finals), cr.tensor(0.0))
    loss_t = (out_t * torch.tensor(w)).sum() + sum((b ** 3).sum() for _, b in finals)
    for k, (a, b) in enumerate(finals):
        _close(a.data, b, f"final state {k}")
    loss_c.backward()
    loss_t.backward()
    _close(x_c.grad, x_t.grad, "d/dx")
    if given_state:
        for k, (a, b) in enumerate(zip(s_c, s_t)):
            _close(a.grad, b.grad, f"d/d(initial state {k})")
    grads_t = dict(theirs.named_parameters())
    for pname, p in ours.named_parameters():
        _close(p.grad, grads_t[pname].grad, f"d/d{pname}")


@pytest.mark.parametrize("name", sorted(LAYERS))
def test_unbatched_sequence_matches_pytorch(torch, name):
    cls, kwargs = LAYERS[name]
    ours, theirs = _torch_twin(torch, cls, kwargs, input_size=2, hidden_size=3, num_layers=2,
                               bidirectional=True)
    x = np.random.default_rng(2).normal(size=(4, 2))
    h0 = np.random.default_rng(3).normal(size=(4, 3))
    state_c = (h0, h0 * 0.5) if cls is LSTM else h0
    state_t = ((torch.tensor(h0), torch.tensor(h0 * 0.5)) if cls is LSTM
               else torch.tensor(h0))
    out_c, fin_c = ours(x, state_c)
    out_t, fin_t = theirs(torch.tensor(x), state_t)
    assert out_c.shape == (4, 6)
    _close(out_c.data, out_t, "output")
    if cls is LSTM:
        _close(fin_c[0].data, fin_t[0], "h_n")
        _close(fin_c[1].data, fin_t[1], "c_n")
    else:
        assert fin_c.shape == (4, 3)
        _close(fin_c.data, fin_t, "h_n")


@pytest.mark.parametrize("name", sorted(CELLS))
@pytest.mark.parametrize("batched", [True, False])
@pytest.mark.parametrize("given_state", [False, True])
@pytest.mark.parametrize("bias", [True, False])
def test_cell_matches_pytorch(torch, name, batched, given_state, bias):
    cls, kwargs = CELLS[name]
    ours, theirs = _torch_twin(torch, cls, kwargs, input_size=3, hidden_size=4, bias=bias)
    rng = np.random.default_rng(4)
    lead = (5,) if batched else ()
    x = rng.normal(size=(*lead, 3))
    states = [rng.normal(size=(*lead, 4)) for _ in range(2 if cls is LSTMCell else 1)]
    x_c, x_t = cr.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    s_c = [cr.tensor(s, requires_grad=True) for s in states]
    s_t = [torch.tensor(s, requires_grad=True) for s in states]
    if cls is LSTMCell:
        h_c, c_c = ours(x_c, tuple(s_c) if given_state else None)
        h_t, c_t = theirs(x_t, tuple(s_t) if given_state else None)
        loss_c, loss_t = (h_c * c_c).sum() + h_c.sum(), (h_t * c_t).sum() + h_t.sum()
        _close(c_c.data, c_t, "c'")
    else:
        h_c = ours(x_c, s_c[0] if given_state else None)
        h_t = theirs(x_t, s_t[0] if given_state else None)
        loss_c, loss_t = (h_c * h_c * h_c).sum(), (h_t ** 3).sum()
    _close(h_c.data, h_t, "h'")
    loss_c.backward()
    loss_t.backward()
    _close(x_c.grad, x_t.grad, "d/dx")
    if given_state:
        for a, b in zip(s_c, s_t):
            _close(a.grad, b.grad, "d/d(state)")
    grads_t = dict(theirs.named_parameters())
    for pname, p in ours.named_parameters():
        _close(p.grad, grads_t[pname].grad, f"d/d{pname}")


# -- finite differences ------------------------------------------------------------------------
@pytest.mark.parametrize("step", ["rnn", "lstm", "gru"])
def test_step_functions_pass_gradcheck(step):
    rng = np.random.default_rng(5)
    gates = {"rnn": 1, "lstm": 4, "gru": 3}[step]
    xi, h, c = rng.normal(size=(3, 2 * gates)), rng.normal(size=(3, 2)), rng.normal(size=(3, 2))
    w, b = rng.normal(size=(2 * gates, 2)), rng.normal(size=2 * gates)
    if step == "lstm":
        def f(xi, h, c, w, b):
            h2, c2 = lstm_step(xi, h, c, w, b)
            return h2 * 2.0 + c2
        assert cr.gradcheck(f, (xi, h, c, w, b))
    else:
        fn = rnn_step if step == "rnn" else gru_step
        assert cr.gradcheck(lambda xi, h, w, b: fn(xi, h, w, b), (xi, h, w, b))


@pytest.mark.parametrize("cls", [RNN, LSTM, GRU])
def test_layer_gradients_match_finite_differences(cls):
    # Every parameter, entry by entry, by central differences on a tiny two-layer
    # bidirectional network (float64).
    model = cls(2, 2, num_layers=2, bidirectional=True, dtype="float64", rng=6)
    x = np.random.default_rng(7).normal(size=(3, 2, 2))
    w = np.random.default_rng(8).normal(size=(3, 2, 4))

    def loss() -> cr.Tensor:
        out = model(x)[0]
        return (out * w).sum()

    model.zero_grad()
    loss().backward()
    eps = 1e-6
    for name, p in model.named_parameters():
        numeric = np.zeros_like(p.data)
        for i in np.ndindex(p.data.shape):
            keep = p.data[i]
            p.data[i] = keep + eps
            up = float(loss().data)
            p.data[i] = keep - eps
            down = float(loss().data)
            p.data[i] = keep
            numeric[i] = (up - down) / (2 * eps)
        np.testing.assert_allclose(p.grad, numeric, rtol=1e-5, atol=1e-8, err_msg=name)


@pytest.mark.parametrize("steps", [1, 5, 16, 23])
def test_slicing_time_steps_in_blocks_gives_the_plain_slices_and_gradient(steps):
    xi_np = np.random.default_rng(11).normal(size=(steps, 2, 3))
    w = np.random.default_rng(12).normal(size=(steps, 2, 3))
    grads = []
    for block in (1, None, 4):     # plain slices, the default, blocks of 4
        xi = cr.tensor(xi_np, requires_grad=True)
        parts = time_steps(xi, block)
        assert len(parts) == steps
        for t, part in enumerate(parts):
            np.testing.assert_array_equal(part.data, xi_np[t])
        sum(((p * w[t] * (t + 1)).sum() for t, p in enumerate(parts)), cr.tensor(0.0)).backward()
        grads.append(xi.grad)
    np.testing.assert_array_equal(grads[0], w * np.arange(1, steps + 1)[:, None, None])
    np.testing.assert_array_equal(grads[1], grads[0])
    np.testing.assert_array_equal(grads[2], grads[0])


def test_a_long_sequence_matches_pytorch(torch):
    # 40 steps: the inputs are sliced from blocks of 6 steps (time_steps).
    ours, theirs = _torch_twin(torch, GRU, {}, input_size=2, hidden_size=3)
    x = np.random.default_rng(13).normal(size=(40, 2, 2))
    out_c, out_t = ours(x)[0], theirs(torch.tensor(x))[0]
    _close(out_c.data, out_t, "output")
    out_c.sum().backward()
    out_t.sum().backward()
    for pname, p in ours.named_parameters():
        _close(p.grad, dict(theirs.named_parameters())[pname].grad, f"d/d{pname}")


def test_gradcheck_through_the_input_and_initial_state():
    model = LSTM(2, 3, num_layers=2, bidirectional=True, batch_first=True, dtype="float64",
                 rng=9)
    rng = np.random.default_rng(10)
    x, h0, c0 = rng.normal(size=(2, 4, 2)), rng.normal(size=(4, 2, 3)), rng.normal(size=(4, 2, 3))

    def f(x, h0, c0):
        out, (h, c) = model(x, (h0, c0))
        return out.sum() + (h * c).sum()
    assert cr.gradcheck(f, (x, h0, c0))


# -- shapes, errors and options ------------------------------------------------------------------
def test_shapes_follow_pytorch():
    x = np.zeros((7, 4, 3), np.float32)                           # (T, N, input)
    out, h = GRU(3, 5, num_layers=3, bidirectional=True, rng=0)(x)
    assert out.shape == (7, 4, 10) and h.shape == (6, 4, 5)
    out, h = RNN(3, 5, batch_first=True, rng=0)(np.zeros((4, 7, 3), np.float32))
    assert out.shape == (4, 7, 5) and h.shape == (1, 4, 5)        # h_n is never batch-first
    out, (h, c) = LSTM(3, 5, num_layers=2, rng=0)(np.zeros((7, 3), np.float32))
    assert out.shape == (7, 5) and h.shape == c.shape == (2, 5)
    assert out.numpy().dtype == np.float32


def test_the_initial_state_goes_by_pytorchs_keyword_hx():
    x, h0 = np.ones((3, 2, 2)), np.full((1, 2, 4), 0.5)
    gru = GRU(2, 4, dtype="float64", rng=0)
    np.testing.assert_array_equal(gru(x, hx=h0)[0].data, gru(x, h0)[0].data)
    assert not np.allclose(gru(x, hx=h0)[0].data, gru(x)[0].data)
    lstm = LSTMCell(2, 4, dtype="float64", rng=0)
    assert lstm(x[0], hx=(h0[0], h0[0]))[1].shape == (2, 4)
    assert RNNCell(2, 4, rng=0)(x[0], hx=h0[0]).shape == (2, 4)


def test_bidirectional_output_holds_both_directions_in_time_order():
    model = GRU(2, 3, bidirectional=True, dtype="float64", rng=0)
    x = np.random.default_rng(0).normal(size=(5, 1, 2))
    out, h = model(x)
    np.testing.assert_array_equal(out.numpy()[-1, :, :3], h.numpy()[0])  # forward ends at T-1
    np.testing.assert_array_equal(out.numpy()[0, :, 3:], h.numpy()[1])   # reverse ends at 0


def test_wrong_input_and_state_shapes_name_what_is_expected():
    model = LSTM(3, 5, num_layers=2, bidirectional=True, rng=0)
    with pytest.raises(ShapeError, match=r"input_size=3, got \(7, 4, 2\)"):
        model(np.zeros((7, 4, 2)))
    with pytest.raises(ShapeError, match=r"expected h0 of shape \(4, 4, 5\)"):
        model(np.zeros((7, 4, 3)), (np.zeros((2, 4, 5)), np.zeros((4, 4, 5))))
    with pytest.raises(ShapeError, match=r"expected c0 of shape \(4, 4, 5\)"):
        model(np.zeros((7, 4, 3)), (np.zeros((4, 4, 5)), np.zeros((4, 5))))
    with pytest.raises(ShapeError, match=r"expected h0 of shape \(4, 5\)"):
        model(np.zeros((7, 3)), (np.zeros((4, 1, 5)), np.zeros((4, 1, 5))))
    with pytest.raises(ShapeError, match="expected input of shape"):
        GRU(3, 5)(np.zeros(3))
    with pytest.raises(ShapeError, match=r"expected the state h of shape \(2, 4\)"):
        GRUCell(3, 4)(np.zeros((2, 3)), np.zeros((3, 4)))
    with pytest.raises(ShapeError, match=r"expected input of shape \(N, 3\)"):
        RNNCell(3, 4)(np.zeros((2, 5)))


def test_bad_arguments_are_refused():
    with pytest.raises(ConfigError, match="nonlinearity"):
        RNN(3, 4, nonlinearity="sigmoid")
    with pytest.raises(ConfigError, match="nonlinearity"):
        RNNCell(3, 4, nonlinearity="gelu")
    with pytest.raises(ConfigError, match="hidden_size"):
        LSTM(3, 0)
    with pytest.raises(ConfigError, match="dropout"):
        GRU(3, 4, num_layers=2, dropout=1.5)
    with pytest.warns(UserWarning, match="num_layers=1"):
        GRU(3, 4, dropout=0.5)


def test_dropout_acts_between_layers_in_training_only():
    model = LSTM(3, 4, num_layers=2, dropout=0.5, dtype="float64", rng=0)
    plain = LSTM(3, 4, num_layers=2, dtype="float64", rng=0)
    x = np.random.default_rng(0).normal(size=(5, 2, 3))
    model.eval()
    np.testing.assert_array_equal(model(x)[0].numpy(), plain(x)[0].numpy())
    model.train()
    assert not np.allclose(model(x)[0].numpy(), plain(x)[0].numpy())
    # The first layer sees no dropout: its final state is untouched.
    np.testing.assert_array_equal(model(x)[1][0].numpy()[0], plain(x)[1][0].numpy()[0])


def test_inputs_are_converted_to_the_layers_dtype():
    out, h = GRU(2, 3, rng=0)(np.ones((4, 1, 2)))                 # float64 data
    assert out.numpy().dtype == h.numpy().dtype == np.float32
    assert LSTMCell(2, 3, dtype="float64", rng=0)(np.ones(2, np.float32))[0].numpy().dtype == \
        np.float64


def test_weights_start_uniform_within_one_over_root_hidden():
    model = LSTM(10, 100, rng=0)
    for p in model.parameters():
        assert np.abs(p.data).max() <= 0.1
        assert np.abs(p.data).max() > 0.09
    np.testing.assert_array_equal(RNN(3, 4, rng=1).weight_hh_l0.data,
                                  RNN(3, 4, rng=1).weight_hh_l0.data)   # a seed repeats


# -- saving, summary, explain -------------------------------------------------------------------
@pytest.mark.parametrize("model", [
    RNN(3, 4, num_layers=2, nonlinearity="relu", bidirectional=True, dtype="float64", rng=0),
    LSTM(3, 4, batch_first=True, bias=False, rng=0),
    GRU(3, 4, num_layers=2, dropout=0.25, rng=0),
    RNNCell(3, 4, nonlinearity="relu", rng=0), LSTMCell(3, 4, rng=0),
    GRUCell(3, 4, bias=False, dtype="float64", rng=0)], ids=lambda m: type(m).__name__)
def test_save_and_load_round_trip(model, tmp_path):
    path = tmp_path / "rnn.safetensors"
    save(model, path)
    loaded = load(path)
    assert type(loaded) is type(model)
    assert repr(loaded) == repr(model)
    assert loaded.get_config() == model.get_config()
    x = np.random.default_rng(0).normal(size=(5, 2, 3) if "Cell" not in type(model).__name__
                                        else (2, 3))
    model.eval()
    loaded.eval()
    a, b = model(x), loaded(x)
    a0 = a[0] if isinstance(a, tuple) else a
    b0 = b[0] if isinstance(b, tuple) else b
    np.testing.assert_array_equal(a0.data, b0.data)


def test_summary_counts_the_parameters_pytorch_has(torch):
    for make, theirs in [(lambda: LSTM(3, 4, num_layers=2, bidirectional=True),
                          torch.nn.LSTM(3, 4, num_layers=2, bidirectional=True)),
                         (lambda: GRU(5, 6, bias=False), torch.nn.GRU(5, 6, bias=False)),
                         (lambda: RNNCell(2, 3), torch.nn.RNNCell(2, 3))]:
        summary = make().summary()
        assert summary.total == sum(p.numel() for p in theirs.parameters())
    # summary() feeds one zero batch of shape (1, 2, 3): to a sequence-first layer that is
    # T=1 step of N=2 rows, so output (1, 2, 4) and h_n (2 layers, 2, 4), first axis shown None.
    summary = GRU(3, 4, num_layers=2, rng=0).summary((2, 3))
    # 3 gates x 4 units = 12 rows: weight_ih, weight_hh and two biases per layer.
    assert summary.rows[0].params == (12 * 3 + 12 * 4 + 2 * 12) + (12 * 4 + 12 * 4 + 2 * 12)
    assert summary.rows[0].output_shape == ((None, 2, 4), (None, 2, 4))


def test_explain_names_the_states_by_time_step():
    model = LSTM(1, 1, num_layers=2, dtype="float64", rng=0)
    out, _ = model(np.array([[1.0], [2.0], [3.0]]))
    names = [step.name for step in cr.explain(out.sum()).forward]
    for t in range(3):
        assert {f"h[{t}]", f"c[{t}]", f"i[{t}]", f"f[{t}]", f"g[{t}]", f"o[{t}]",
                f"h_l1[{t}]", f"c_l1[{t}]"} <= set(names)
    rev = GRU(1, 1, bidirectional=True, rng=0)(np.ones((2, 1)))[0]
    assert {"h_l0_reverse[0]", "h_l0_reverse[1]", "z[1]"} <= {
        s.name for s in cr.explain(rev.sum()).forward}


# -- learning ----------------------------------------------------------------------------------
class RunningParity(cr.nn.Module):
    """Read a sequence of bits and say, after every bit, whether an odd number of ones came so
    far: the answer at step t needs the state carried from step t-1."""

    def __init__(self, cell):
        super().__init__()
        self.rnn = cell(1, 8, batch_first=True, rng=0)
        self.head = Linear(8, 1, rng=1)

    def forward(self, x):
        out, _ = self.rnn(x)
        return self.head(out)   # (N, T, 1): one answer per step


@pytest.mark.parametrize("cell", [LSTM, GRU])
def test_running_parity_is_learned(cell):
    # All 64 sequences of 6 bits; the loss starts at chance (log 2 = 0.69) and reaches about
    # 0.002 after 50 Adam steps with either cell (seeds 0-2 checked by hand).
    bits = ((np.arange(64)[:, None] >> np.arange(6)) & 1).astype(np.float32)[..., None]
    target = np.cumsum(bits, axis=1) % 2
    model = RunningParity(cell)
    opt = cr.optim.Adam(model.parameters(), lr=0.05)
    loss_fn = cr.nn.BCEWithLogitsLoss()
    x = cr.tensor(bits * 2 - 1)
    losses = []
    for _ in range(80):
        loss = loss_fn(model(x), target)
        losses.append(float(loss.data))
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert losses[0] > 0.6
    assert losses[-1] < 0.02
    assert ((model(x).numpy() > 0) == target).all()
