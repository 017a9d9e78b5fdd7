"""Embedding against PyTorch (float64, same weights): lookups of any shape, repeated indices
whose gradients add up, the padding row that gets none; bad indices; saving and summary."""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
from chainrule.errors import DataError, DTypeError, ShapeError
from chainrule.nn.embedding import Embedding
from chainrule.tools.saving import load, save


@pytest.fixture
def torch():
    return pytest.importorskip("torch")


@pytest.mark.parametrize("padding_idx", [None, 2, -1])
@pytest.mark.parametrize("shape", [(7,), (3, 4), (2, 2, 3)])
def test_lookup_and_gradient_match_pytorch(torch, padding_idx, shape):
    theirs = torch.nn.Embedding(6, 4, padding_idx=padding_idx).double()
    ours = Embedding(6, 4, padding_idx=padding_idx, dtype="float64", rng=0)
    ours.load_state_dict({"weight": theirs.weight.detach().numpy()})
    rng = np.random.default_rng(0)
    idx = rng.integers(0, 6, size=shape)
    idx.flat[:3] = [2, 2, 5]   # repeated indices, the padding row among them
    w = rng.normal(size=(*shape, 4))
    out_c = ours(idx)
    out_t = theirs(torch.tensor(idx))
    np.testing.assert_allclose(out_c.data, out_t.detach().numpy(), rtol=1e-12, atol=0)
    (out_c * w).sum().backward()
    (out_t * torch.tensor(w)).sum().backward()
    np.testing.assert_allclose(ours.weight.grad, theirs.weight.grad.numpy(), rtol=1e-12,
                               atol=1e-12)


def test_repeated_indices_add_their_gradients():
    # Row 1 is read three times with upstream gradient 1 each: its gradient is 3 per entry.
    emb = Embedding(4, 2, dtype="float64", rng=0)
    emb(np.array([1, 1, 3, 1])).sum().backward()
    assert np.asarray(emb.weight.grad).tolist() == [[0, 0], [3, 3], [0, 0], [1, 1]]


def test_padding_row_starts_at_zero_and_is_never_trained():
    emb = Embedding(5, 3, padding_idx=-2, rng=0)
    assert emb.padding_idx == 3
    assert not emb.weight.numpy()[3].any() and emb.weight.numpy()[2].all()
    emb.weight.data[3, ...] = 7.0           # as in PyTorch, the row's value is still returned...
    out = emb(np.array([[3, 0], [3, 3]]))
    assert (out.numpy()[0, 0] == 7.0).all()
    (out * out).sum().backward()
    assert not np.asarray(emb.weight.grad)[3].any()  # ... but no gradient reaches it
    assert np.asarray(emb.weight.grad)[0].any()


def test_weights_start_standard_normal():
    w = Embedding(2000, 10, rng=0).weight.numpy()
    assert abs(w.mean()) < 0.02 and abs(w.std() - 1) < 0.02
    assert w.dtype == np.float32


def test_indices_may_be_lists_integer_tensors_and_unsigned():
    emb = Embedding(3, 2, rng=0)
    want = emb(np.array([[0, 2]])).data
    np.testing.assert_array_equal(emb([[0, 2]]).data, want)
    np.testing.assert_array_equal(emb(cr.tensor(np.array([[0, 2]]))).data, want)
    np.testing.assert_array_equal(emb(np.array([[0, 2]], np.uint8)).data, want)
    assert emb(np.array(1)).shape == (2,)
    assert emb(np.zeros((0, 3), np.int64)).shape == (0, 3, 2)


def test_bad_indices_say_which_and_the_valid_range():
    emb = Embedding(10, 2, rng=0)
    with pytest.raises(DataError, match=r"index 10 is out of range.*\[0, 9\]"):
        emb(np.array([3, 10, 2]))
    with pytest.raises(DataError, match=r"index -1 is out of range"):
        emb(np.array([-1, 2]))
    with pytest.raises(DTypeError, match=r"indices must be integers, got float64.*astype"):
        emb(np.array([1.0, 2.0]))
    with pytest.raises(DTypeError, match="integers"):
        emb(np.array([True]))
    with pytest.raises(ShapeError, match=r"padding_idx must be an integer in \[-10, 10\)"):
        Embedding(10, 2, padding_idx=10)


def test_save_and_load_round_trip(tmp_path):
    emb = Embedding(6, 3, padding_idx=0, dtype="float64", rng=0)
    save(emb, tmp_path / "emb.safetensors")
    loaded = load(tmp_path / "emb.safetensors")
    assert repr(loaded) == repr(emb) == "Embedding(6, 3, padding_idx=0, dtype=float64)"
    idx = np.array([[0, 5, 1]])
    np.testing.assert_array_equal(loaded(idx).data, emb(idx).data)


def test_summary_counts_the_table():
    summary = Embedding(100, 8, rng=0).summary()
    assert summary.total == 800
    assert Embedding(100, 8, rng=0).output_shape((None, 5)) == (None, 5, 8)
