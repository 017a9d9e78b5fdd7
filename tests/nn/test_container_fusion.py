"""Sequential runs a ReLU followed by a MaxPool2d as one pooling of the rectified input
(``MaxPool2d.relu_forward``): the same outputs and gradients as the two layers one after the
other, errors still name the layer, and a subclass of either layer is left alone."""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
from chainrule import nn
from chainrule.engine import ShapeError


def _net() -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(2, 3, 3, padding=1, rng=0, dtype=np.float64), nn.ReLU(),
                         nn.MaxPool2d(2), nn.Flatten(),
                         nn.Linear(3 * 4 * 4, 2, rng=1, dtype=np.float64))


def _one_by_one(model: nn.Sequential, x: cr.Tensor) -> cr.Tensor:
    for layer in model:
        x = layer(x)
    return x


def test_relu_then_max_pool_gives_the_layers_numbers_and_gradients() -> None:
    model = _net()
    x_np = np.random.default_rng(0).normal(size=(4, 2, 8, 8))
    grads = []
    for run in (model, lambda t: _one_by_one(model, t)):
        model.zero_grad()
        x = cr.tensor(x_np, requires_grad=True)
        out = run(x)
        (out * out).sum().backward()
        grads.append([out.data, x.grad, *(p.grad for p in model.parameters())])
    for fused, plain in zip(*grads):
        np.testing.assert_allclose(fused, plain, rtol=1e-12, atol=1e-12)


@pytest.mark.cpu_only  # the compiled loop runs on NumPy arrays; other devices compose the two
def test_the_fused_pair_records_one_node_where_the_compiled_loop_runs() -> None:
    from chainrule.nn import kernels

    if kernels.get() is None:
        pytest.skip("the one-node path needs numba (pip install chainrule[fast])")
    x = cr.tensor(np.ones((1, 1, 4, 4)), requires_grad=True)
    out = nn.Sequential(nn.ReLU(), nn.MaxPool2d(2))(x)
    assert out.inputs[0] is x  # no relu node between the input and the pooling


def test_a_shape_error_names_the_pooling_layer() -> None:
    model = nn.Sequential(nn.ReLU(), nn.MaxPool2d(2))
    with pytest.raises(ShapeError, match=r"layer 1 \(MaxPool2d\)"):
        model(cr.tensor(np.ones((3, 4))))


def test_a_subclass_of_relu_is_not_fused() -> None:
    class Shifted(nn.ReLU):
        def forward(self, x):
            return super().forward(x) + 1.0

    x = cr.tensor(-np.ones((1, 1, 2, 2)))
    assert nn.Sequential(Shifted(), nn.MaxPool2d(2))(x).item() == 1.0


def test_a_layer_whose_forward_is_wrapped_runs_as_itself() -> None:
    # summary() records each layer's output by wrapping its forward on the instance
    relu = nn.ReLU()
    seen = []
    inner = relu.forward
    relu.forward = lambda x: seen.append(x) or inner(x)
    nn.Sequential(relu, nn.MaxPool2d(2))(cr.tensor(np.ones((1, 1, 2, 2))))
    assert len(seen) == 1
