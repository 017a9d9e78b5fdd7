"""Editing a network in place: reassigning a registered name keeps its place, and Sequential
is edited like a list, as PyTorch's (``model[1] = layer``, ``del``, ``insert``, ``append``,
``extend``, negative indices, slices), checked against PyTorch's Sequential doing the same."""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
from chainrule import nn
from chainrule.errors import ChainruleError, ConfigError, LayerIndexError
from conftest import needs_torch

F64 = np.float64


def _model():
    return nn.Sequential(nn.Linear(3, 4, dtype=F64, rng=0), nn.Tanh(),
                         nn.Linear(4, 2, dtype=F64, rng=1))


def _kinds(model):
    return [type(m).__name__ for m in model]


def test_setattr_on_a_layer_name_keeps_its_place():
    model = _model()
    relu = nn.ReLU()
    setattr(model, "1", relu)
    assert _kinds(model) == ["Linear", "ReLU", "Linear"]
    assert model[1] is relu and list(model._modules) == ["0", "1", "2"]
    x = np.random.default_rng(0).normal(size=(5, 3))
    by_hand = np.maximum(x @ model[0].weight.data.T + model[0].bias.data, 0) \
        @ model[2].weight.data.T + model[2].bias.data
    np.testing.assert_allclose(model(cr.tensor(x)).data, by_hand, rtol=1e-14)


@needs_torch
def test_a_new_parameter_keeps_its_place_as_in_pytorch():
    import torch

    ours, theirs = nn.Linear(3, 2, rng=0), torch.nn.Linear(3, 2)
    ours.weight = nn.Parameter(np.zeros((2, 3), np.float32))
    theirs.weight = torch.nn.Parameter(torch.zeros(2, 3))
    names = [n for n, _ in theirs.named_parameters()]
    assert names == ["weight", "bias"]
    assert [n for n, _ in ours.named_parameters()] == names
    assert list(ours.state_dict()) == names
    # A buffer given a new array keeps its place too.
    bn = nn.BatchNorm1d(2)
    before = [n for n, _ in bn.named_buffers()]
    bn.running_mean = np.ones(2, np.float32)
    assert [n for n, _ in bn.named_buffers()] == before


def _torch_twin(module):
    import torch

    return {"Linear": lambda: torch.nn.Linear(1, 1), "Tanh": torch.nn.Tanh,
            "ReLU": torch.nn.ReLU, "Sigmoid": torch.nn.Sigmoid,
            "Identity": torch.nn.Identity}[type(module).__name__]()


def _edit(seq, op, i, cut, new, tanh):
    """Apply one list edit to ``seq``; returns None, or IndexError when it raised one."""
    try:
        if op == "get":
            seq[i]
        elif op == "set":
            seq[i] = new
        elif op == "del":
            del seq[i]
        elif op == "del_slice":
            del seq[cut]
        elif op == "insert":
            seq.insert(i, new)
        elif op == "append":
            seq.append(new)
        else:
            seq.extend([new, tanh()])
    except IndexError:
        return IndexError
    return None


@needs_torch
@pytest.mark.parametrize("seed", range(8))
def test_random_edits_agree_with_pytorch(seed):
    import torch

    rng = np.random.default_rng(seed)
    makers = [lambda: nn.Linear(1, 1, rng=0), nn.Tanh, nn.ReLU, nn.Sigmoid, nn.Identity]
    ours = nn.Sequential(nn.Linear(1, 1, rng=0), nn.Tanh())
    theirs = torch.nn.Sequential(torch.nn.Linear(1, 1), torch.nn.Tanh())
    for _ in range(40):
        n = len(ours)
        i = int(rng.integers(-n - 2, n + 3))
        cut = slice(i, i + int(rng.integers(0, 3)), int(rng.choice([1, -1, 2])))
        op = str(rng.choice(["get", "set", "del", "del_slice", "insert", "append", "extend",
                             "slice"]))
        if op == "slice":
            assert isinstance(ours[cut], nn.Sequential)
            assert _kinds(ours[cut]) == [type(m).__name__ for m in theirs[cut]]
            continue
        new = makers[int(rng.integers(len(makers)))]()
        assert _edit(ours, op, i, cut, new, nn.Tanh) == \
            _edit(theirs, op, i, cut, _torch_twin(new), torch.nn.Tanh), (op, i, n)
        assert _kinds(ours) == [type(m).__name__ for m in theirs], (op, i)
        assert list(ours._modules) == list(theirs._modules) == [str(k) for k in range(len(ours))]
        assert all(getattr(ours, k) is m for k, m in ours._modules.items())


def test_index_errors_name_the_length_and_are_index_errors():
    model = _model()
    for bad in (3, -4, 10):
        with pytest.raises(LayerIndexError, match=r"index -?\d+ is out of range for 3 layers"):
            model[bad]
        with pytest.raises(IndexError, match="valid: -3 to 2"):
            model[bad] = nn.ReLU()
        with pytest.raises(ChainruleError):
            del model[bad]
    with pytest.raises(IndexError, match="valid: -3 to 3"):
        model.insert(4, nn.ReLU())
    with pytest.raises(IndexError, match="no layers"):
        nn.Sequential()[0]
    assert _kinds(model) == ["Linear", "Tanh", "Linear"]  # nothing changed


def test_items_that_are_not_modules_are_refused_and_change_nothing():
    model = _model()
    with pytest.raises(ConfigError, match="item 1 is ufunc, not a Module"):
        model[1] = np.tanh
    with pytest.raises(ConfigError, match="item 0 is int"):
        model.insert(0, 5)
    with pytest.raises(ConfigError, match="item 4 is str"):
        model.extend([nn.ReLU(), "relu"])
    with pytest.raises(ConfigError, match="integers or slices, got 'a'"):
        model["a"]
    with pytest.raises(ConfigError, match="one layer at a time"):
        model[0:1] = nn.ReLU()
    assert _kinds(model) == ["Linear", "Tanh", "Linear"]


def test_saving_summary_and_state_see_the_edited_layers(tmp_path):
    model = _model()
    model[1] = nn.LeakyReLU(0.3)
    model.insert(0, nn.Identity())
    del model[-1]
    model.append(nn.Linear(4, 1, dtype=F64, rng=2))
    assert [row.kind for row in model.summary((3,)).rows] == \
        ["Identity", "Linear", "LeakyReLU", "Linear"]
    assert list(model.state_dict()) == ["1.weight", "1.bias", "3.weight", "3.bias"]
    assert model.get_config()["layers"][2] == {"type": "LeakyReLU", "negative_slope": 0.3}
    cr.save(model, tmp_path / "m.npz")
    loaded = cr.load(tmp_path / "m.npz")
    assert _kinds(loaded) == _kinds(model)
    x = cr.tensor(np.random.default_rng(1).normal(size=(6, 3)))
    np.testing.assert_array_equal(loaded(x).data, model(x).data)
