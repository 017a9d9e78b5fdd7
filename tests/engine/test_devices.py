"""The device seam: namespaces, the extras the array API lacks, moving tensors, and every
engine operation on the array API's strict library (the stand-in for a GPU) against NumPy."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

import chainrule as cr
from chainrule.engine import backend, devices
from chainrule.engine.backend import NUMPY, add_at, namespace, pad, sliding_windows
from chainrule.engine.ops.elementwise import stable_sigmoid
from chainrule.errors import ConfigError, DeviceError

strict = pytest.importorskip("array_api_strict")
STRICT = "array_api_strict"
# These tests place every tensor on each device themselves, from the CPU default.
pytestmark = pytest.mark.cpu_only
RNG = np.random.default_rng(0)


def test_numpy_namespace_fast_forms_equal_numpy_functions():
    a = RNG.normal(size=(3, 4, 5))
    for axis in (None, 0, (0, 2), -1):
        for keepdims in (False, True):
            for name in ("sum", "mean", "max", "min"):
                np.testing.assert_array_equal(
                    getattr(NUMPY, name)(a, axis=axis, keepdims=keepdims),
                    getattr(np, name)(a, axis=axis, keepdims=keepdims))
    np.testing.assert_array_equal(NUMPY.reshape(a, (4, -1)), np.reshape(a, (4, -1)))
    assert NUMPY.astype(a, np.float32).dtype == np.float32
    np.testing.assert_array_equal(NUMPY.permute_dims(a, (2, 0, 1)), np.permute_dims(a, (2, 0, 1)))
    np.testing.assert_array_equal(NUMPY.matrix_transpose(a), np.matrix_transpose(a))
    np.testing.assert_array_equal(NUMPY.concat([a, a], axis=1), np.concat([a, a], axis=1))


def test_stable_sigmoid_in_place_numpy_path_equals_the_standard_path():
    z = np.concatenate([RNG.normal(size=50) * 30, [-1e4, 1e4, 0.0]])
    for dtype in ("float32", "float64"):
        got = stable_sigmoid(z.astype(dtype))
        plain = stable_sigmoid(strict.asarray(z.astype(dtype)))
        np.testing.assert_array_equal(got, np.asarray(plain))


def test_namespace_of_two_devices_is_an_error_naming_both():
    with pytest.raises(DeviceError, match=r"cpu \(numpy\) and array_api_strict"):
        namespace(np.zeros(2), strict.zeros(2))
    assert namespace(strict.zeros(2), None, 1.0) is strict


@pytest.mark.parametrize("lib", ["numpy", STRICT])
def test_extras_agree_with_numpy(lib):
    put = (lambda a: a) if lib == "numpy" else strict.asarray
    a = RNG.normal(size=(2, 3, 5, 6))
    win = sliding_windows(put(a), (3, 2), (2, 3))
    np.testing.assert_array_equal(
        np.asarray(win), np.lib.stride_tricks.sliding_window_view(a, (3, 2), axis=(2, 3)))
    np.testing.assert_array_equal(np.asarray(pad(put(a), ((0, 0), (0, 0), (1, 2), (2, 1)))),
                                  np.pad(a, ((0, 0), (0, 0), (1, 2), (2, 1))))
    for index in (np.array([0, 2, 2, 1, 0]), (np.array([1, 1, 0]), np.array([0, 4, 4]))):
        target = np.zeros((3, 5))
        values = RNG.normal(size=index[0].shape + ((5,) if isinstance(index, np.ndarray) else ()))
        expected = target.copy()
        np.add.at(expected, index, values)
        got = put(target.copy())
        add_at(got, tuple(put(i) for i in index) if isinstance(index, tuple) else put(index),
               put(values))
        np.testing.assert_allclose(np.asarray(got), expected, rtol=1e-15)


def test_device_names_are_checked_and_missing_libraries_named():
    with pytest.raises(ConfigError, match="unknown device 'tpu'; choose from cpu, cuda"):
        devices.device("tpu")
    with pytest.raises(DeviceError, match="cuda:1"):
        devices.device("cuda:1")
    assert devices.device("CPU") == "cpu" and devices.device("cpu").type == "cpu"
    if importlib.util.find_spec("cupy") is None:
        with pytest.raises(DeviceError, match=r"pip install chainrule\[gpu\]"):
            devices.device("cuda")
        with pytest.raises(DeviceError, match="cupy"):
            cr.tensor([1.0]).to("cuda")
        with pytest.raises(DeviceError, match="cupy"):
            cr.fit(cr.nn.Linear(1, 1), np.zeros((2, 1)), np.zeros(2), device="cuda", verbose=0)


def test_tensor_moves_between_devices_and_the_gradient_comes_back():
    x = cr.tensor([1.0, -2.0, 3.0], requires_grad=True)
    y = x.to(STRICT)
    assert y.device == STRICT and x.device == "cpu" and y.op == "to"
    assert "device='array_api_strict'" in repr(y)
    (y * y).sum().backward()
    assert type(x.grad) is np.ndarray
    np.testing.assert_array_equal(x.grad, [2.0, -4.0, 6.0])
    assert y.to(STRICT) is y and x.cpu() is x
    z = cr.tensor([[1.0, 2.0]], device=STRICT)
    assert z.device == STRICT and z.numpy().tolist() == [[1.0, 2.0]]
    assert z.sum().item() == 3.0 and isinstance(z.sum().item(), float)


def test_second_derivative_through_a_move():
    x = cr.tensor([0.5, 2.0], requires_grad=True)
    (g,) = cr.grad((x.to(STRICT) ** 3).sum(), x, create_graph=True)
    assert g.device == "cpu"
    (h,) = cr.grad(g.sum(), x)
    np.testing.assert_allclose(h.numpy(), 6 * np.array([0.5, 2.0]))


def test_mixing_devices_in_one_operation_names_both():
    a = cr.tensor([1.0, 2.0])
    b = cr.tensor([1.0, 2.0], device=STRICT)
    for op in (lambda: a + b, lambda: b * a, lambda: a @ b, lambda: cr.maximum(a, b)):
        with pytest.raises(DeviceError, match=r"(?=.*cpu \(numpy\))(?=.*array_api_strict)"):
            op()


W = RNG.normal(size=(4, 3))
OPS = {
    "arithmetic": lambda x, w: ((x * 2.0 - x / 3.0) ** 2 + (1.0 - x) * x).sum(),
    "pow_tensor": lambda x, w: (x.abs() + 0.5) ** (x * 0.1),
    "exp_log_sqrt": lambda x, w: (x.exp() + (x * x + 1.0).log() + (x * x + 1.0).sqrt()),
    "activations": lambda x, w: x.tanh() + x.sigmoid() + x.relu() + x.leaky_relu(0.1),
    "clip_where": lambda x, w: x.clip(-0.5, 0.5) + cr.where(x > 0, x, x * x),
    "maximum": lambda x, w: cr.maximum(x, x * 0.5) + cr.minimum(x, -x),
    "matmul": lambda x, w: (x @ w).tanh() @ w.T,
    "linear": lambda x, w: cr.linear(x, w.T, w[0]),
    "reductions": lambda x, w: x.sum(axis=0) + x.mean(axis=0) + x.max(axis=0) * x.min(axis=0),
    "softmax": lambda x, w: x.softmax(axis=1) + x.log_softmax(axis=0) + x.logsumexp(axis=1,
                                                                                   keepdims=True),
    "shapes": lambda x, w: cr.concatenate([x.T.reshape(-1), x[1:, ::2].reshape(-1)]),
    "stack": lambda x, w: cr.stack([x, x * 2], axis=1).sum(axis=1),
    "index": lambda x, w: x[np.array([0, 2, 2])] + x[:, np.array([1, 1, 0, 3])][:3],
    "astype": lambda x, w: x.astype("float32").astype("float64") * x,
}


@pytest.mark.parametrize("name", sorted(OPS))
def test_every_operation_on_the_strict_library_equals_numpy(name):
    """Forward, gradient and a Hessian-vector product, in float64, on both libraries."""
    x0 = RNG.normal(size=(5, 4))
    v = RNG.normal(size=(5, 4))
    results = []
    for device in ("cpu", STRICT):
        x = cr.tensor(x0, requires_grad=True, device=device)
        out = OPS[name](x, cr.tensor(W, device=device))
        s = (out * out).sum()
        (g,) = cr.grad(s, x, create_graph=True)
        (hv,) = cr.grad((g * cr.tensor(v, device=device)).sum(), x, allow_unused=True)
        results.append((out.numpy(), g.numpy(), None if hv is None else hv.numpy()))
    for cpu, other in zip(*results):
        if cpu is None:
            assert other is None
        else:
            np.testing.assert_allclose(other, cpu, rtol=1e-12, atol=1e-12)


def test_backend_module_imports_no_device_library():
    # CuPy and the strict library are imported only when a device asks for them
    assert "cupy" not in backend.__dict__ and "array_api_strict" not in backend.__dict__
