"""A module's device API, PyTorch's: ``to(device)`` moves every parameter (data and gradient)
and buffer in place and keeps the Parameter objects; ``cpu()``, ``cuda()``, ``.device``; new
layers are made on the default device; ``state_dict`` gives host NumPy arrays, so a model
trained on another device saves and loads on the CPU."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

import chainrule as cr
from chainrule import nn
from chainrule.engine.devices import get_default_device, set_default_device
from chainrule.errors import DeviceError

pytest.importorskip("array_api_strict")

STRICT = "array_api_strict"


def _model() -> nn.Module:
    return nn.Sequential(nn.Linear(3, 4, dtype=np.float64, rng=0), nn.BatchNorm1d(4),
                         nn.ReLU(), nn.Linear(4, 2, dtype=np.float64, rng=1))


def _host(model: nn.Module) -> dict[str, np.ndarray]:
    return {k: np.array(v) for k, v in model.state_dict().items()}


def test_to_moves_parameters_gradients_and_buffers_in_place_and_back() -> None:
    model = _model().to("cpu")
    params = model.parameters()
    model(cr.tensor(np.ones((5, 3)), device="cpu")).sum().backward()
    before = _host(model)  # after the batch norm's running statistics moved
    grads = [np.array(p.grad) for p in params]
    assert model.to(STRICT) is model
    assert model.device == STRICT and model.parameters() == params  # the same objects
    assert all(p is q for p, q in zip(model.parameters(), params))
    for p, g in zip(params, grads):
        assert p.device == STRICT and type(p.grad) is type(p.data)
        np.testing.assert_array_equal(np.asarray(p.grad), g)
    assert all(type(b) is type(params[0].data) for b in model.buffers())
    assert model.cpu() is model and model.device == "cpu"
    assert all(isinstance(b, np.ndarray) for b in model.buffers())
    after = _host(model)
    assert after.keys() == before.keys()
    for k in before:
        np.testing.assert_array_equal(after[k], before[k])
        assert after[k].dtype == before[k].dtype


def test_a_moved_model_computes_what_it_did_on_the_cpu() -> None:
    model = _model().to("cpu").eval()
    x = np.random.default_rng(2).normal(size=(6, 3))
    expected = model(cr.tensor(x, device="cpu")).numpy()
    got = model.to(STRICT)(cr.tensor(x, device=STRICT))
    assert got.device == STRICT
    np.testing.assert_allclose(got.numpy(), expected, rtol=1e-13, atol=1e-13)


def test_to_takes_a_device_a_dtype_or_both() -> None:
    model = nn.Linear(2, 1, rng=0).to("cpu")
    model.to(STRICT, "float64")
    assert model.device == STRICT and model.weight.numpy().dtype == np.float64
    model.to(dtype="float32", device="cpu")
    assert model.device == "cpu" and model.weight.data.dtype == np.float32
    model.to(STRICT).to("CPU")  # names in any case
    assert model.device == "cpu"


def test_an_unknown_device_or_a_missing_one_is_named() -> None:
    model = nn.Linear(2, 1)
    with pytest.raises(cr.ConfigError, match="unknown device 'tpu'; choose from cpu, cuda"):
        model.to("tpu")
    with pytest.raises(cr.ConfigError, match="floating-point"):
        model.to("int32")
    if importlib.util.find_spec("cupy") is None:
        with pytest.raises(DeviceError, match="cupy"):
            model.cuda()
        assert model.weight.device == get_default_device()  # nothing moved


def test_a_module_without_parameters_is_on_the_cpu() -> None:
    assert nn.ReLU().device == "cpu"


def test_new_layers_are_made_on_the_default_device() -> None:
    previous = set_default_device(STRICT)
    try:
        layer = nn.Sequential(nn.Linear(3, 2, rng=0), nn.BatchNorm1d(2))
        assert layer.device == STRICT
        assert all(type(b) is type(layer[0].weight.data) for b in layer.buffers())
    finally:
        set_default_device(previous)
    cpu = nn.Sequential(nn.Linear(3, 2, rng=0), nn.BatchNorm1d(2)).to("cpu")
    assert isinstance(cpu[0].weight.data, np.ndarray)
    # the same seed draws the same weights wherever they live
    np.testing.assert_array_equal(layer[0].weight.numpy(), cpu[0].weight.numpy())


def test_a_state_dict_from_the_strict_device_loads_on_the_cpu(tmp_path) -> None:
    model = _model().to(STRICT)
    x = cr.tensor(np.random.default_rng(3).normal(size=(8, 3)), device=STRICT)
    model(x)  # training mode: the batch norm's running statistics move
    state = model.state_dict()
    assert all(isinstance(v, np.ndarray) for v in state.values())
    cpu = _model().to("cpu")
    cpu.load_state_dict(state)
    assert all(isinstance(p.data, np.ndarray) for p in cpu.parameters())
    for k, v in _host(cpu).items():
        np.testing.assert_array_equal(v, state[k])
    model.eval(), cpu.eval()
    np.testing.assert_allclose(cpu(cr.tensor(x.numpy(), device="cpu")).numpy(),
                               model(x).numpy(), rtol=1e-13, atol=1e-13)
    # and back: load_state_dict puts host values on the parameters' own device
    again = _model().to(STRICT)
    again.load_state_dict(cpu.state_dict())
    assert again.device == STRICT
    assert all(type(b) is type(again[0].weight.data) for b in again.buffers())
    # a model file written from the strict device loads on the CPU
    path = tmp_path / "model.safetensors"
    cr.save(model, path)
    previous = set_default_device("cpu")
    try:
        loaded = cr.load(path)
    finally:
        set_default_device(previous)
    assert loaded.device == "cpu"
    np.testing.assert_allclose(loaded.eval()(cr.tensor(x.numpy(), device="cpu")).numpy(),
                               model(x).numpy(), rtol=1e-13, atol=1e-13)


def test_dropout_and_initialisers_draw_the_same_numbers_on_every_device() -> None:
    x = np.ones((4, 6))
    on_cpu = nn.Dropout(0.5, rng=5)(cr.tensor(x, device="cpu")).numpy()
    on_strict = nn.Dropout(0.5, rng=5)(cr.tensor(x, device=STRICT))
    assert on_strict.device == STRICT
    np.testing.assert_array_equal(on_strict.numpy(), on_cpu)
    w = cr.tensor(np.zeros((3, 4)), device=STRICT)
    nn.init.xavier_uniform_(w, rng=4)
    v = cr.tensor(np.zeros((3, 4)), device="cpu")
    nn.init.xavier_uniform_(v, rng=4)
    assert w.device == STRICT
    np.testing.assert_array_equal(w.numpy(), v.numpy())


def test_clipping_and_summary_work_on_the_strict_device() -> None:
    model = nn.Sequential(nn.Linear(3, 4, rng=0), nn.Tanh(), nn.Linear(4, 1, rng=1))
    twin = nn.Sequential(nn.Linear(3, 4, rng=0), nn.Tanh(), nn.Linear(4, 1, rng=1))
    model.to(STRICT), twin.to("cpu")
    x = np.random.default_rng(1).normal(size=(5, 3)).astype(np.float32)
    for m, dev in ((model, STRICT), (twin, "cpu")):
        m(cr.tensor(x, device=dev)).sum().backward()
    norms = [float(nn.utils.clip_grad_norm_(m.parameters(), 0.1)) for m in (model, twin)]
    assert norms[0] == pytest.approx(norms[1], rel=1e-6)
    for m in (model, twin):
        nn.utils.clip_grad_value_(m.parameters(), 0.01)
    for p, q in zip(model.parameters(), twin.parameters()):
        assert type(p.grad) is type(p.data)
        np.testing.assert_allclose(np.asarray(p.grad), q.grad, rtol=1e-6)
    assert model.summary((3,)).rows[-1].output_shape == (None, 1)
