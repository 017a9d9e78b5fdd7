"""Convolution, pooling, flattening and normalisation layers exported to ONNX, run by
onnxruntime against chainrule's forward pass (evaluation mode: running statistics)."""

from __future__ import annotations

import numpy as np
import pytest

from chainrule import nn
from chainrule.errors import ShapeError
from chainrule.nn.layers import Dropout2d, Flatten, Unflatten

pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")
conv = pytest.importorskip("chainrule.nn.conv")
pooling = pytest.importorskip("chainrule.nn.pooling")
normalization = pytest.importorskip("chainrule.nn.normalization")

from onnx_helpers import ATOL, check_export, reference, run_onnx  # noqa: E402

from chainrule.onnx import export_onnx  # noqa: E402

NORM = {
    "BatchNorm1d": lambda: nn.Sequential(nn.Linear(5, 4, rng=0),
                                         normalization.BatchNorm1d(4)),
    "BatchNorm1d(affine=False)": lambda: nn.Sequential(
        nn.Linear(5, 4, rng=0), normalization.BatchNorm1d(4, affine=False)),
    "LayerNorm": lambda: nn.Sequential(nn.Linear(5, 4, rng=0), normalization.LayerNorm(4)),
    "LayerNorm(elementwise_affine=False)": lambda: nn.Sequential(
        nn.Linear(5, 4, rng=0), normalization.LayerNorm(4, elementwise_affine=False)),
}


def _randomise_norms(model, seed=3):
    """Non-trivial running statistics and affine parameters, so the export must use them."""
    rng = np.random.default_rng(seed)
    for m in model.modules():
        if getattr(m, "running_mean", None) is not None:
            m.running_mean[...] = rng.normal(size=m.running_mean.shape)
            m.running_var[...] = rng.uniform(0.5, 2.0, size=m.running_var.shape)
        if type(m).__name__ in ("BatchNorm1d", "BatchNorm2d", "LayerNorm") and \
                m.weight is not None:
            m.weight.data[...] = rng.uniform(0.5, 1.5, size=m.weight.data.shape)
            m.bias.data[...] = rng.normal(size=m.bias.data.shape)
    return model


@pytest.mark.parametrize("name", sorted(NORM))
def test_normalisation_after_dense_layers(name, tmp_path):
    check_export(_randomise_norms(NORM[name]()), (5,), tmp_path)


def conv_net():
    return nn.Sequential(
        conv.Conv2d(2, 4, 3, padding=1, rng=0), nn.ReLU(),
        pooling.MaxPool2d(2),
        conv.Conv2d(4, 4, 3, stride=2, padding="valid", groups=2, rng=1),
        normalization.BatchNorm2d(4), nn.Tanh(),
        pooling.AdaptiveAvgPool2d(1), Flatten(), nn.Linear(4, 3, rng=2), nn.LogSoftmax())


CONV = {
    "Conv2d": lambda: conv.Conv2d(2, 3, 3, rng=0),
    "Conv2d(padding='same', dilation=2)": lambda: conv.Conv2d(2, 3, 3, padding="same",
                                                              dilation=2, rng=0),
    "Conv2d(padding='same', even kernel)": lambda: conv.Conv2d(2, 3, 4, padding="same", rng=0),
    "Conv2d(stride=(2, 1), padding=(1, 2), bias=False)": lambda: conv.Conv2d(
        2, 4, (3, 2), stride=(2, 1), padding=(1, 2), bias=False, rng=0),
    "Conv2d(groups=2)": lambda: conv.Conv2d(2, 4, 3, groups=2, rng=0),
    "MaxPool2d": lambda: pooling.MaxPool2d(2),
    "MaxPool2d(3, stride=2, padding=1)": lambda: pooling.MaxPool2d(3, stride=2, padding=1),
    "AvgPool2d": lambda: pooling.AvgPool2d(2),
    "AvgPool2d(3, stride=1, padding=1)": lambda: pooling.AvgPool2d(3, stride=1, padding=1),
    "AdaptiveAvgPool2d(1)": lambda: pooling.AdaptiveAvgPool2d(1),
    "AdaptiveAvgPool2d(4)": lambda: pooling.AdaptiveAvgPool2d(4),
    "AdaptiveAvgPool2d((4, 2))": lambda: pooling.AdaptiveAvgPool2d((4, 2)),
    "BatchNorm2d": lambda: normalization.BatchNorm2d(2),
    "BatchNorm2d(track_running_stats=False)": lambda: normalization.BatchNorm2d(
        2, track_running_stats=False),
    "LayerNorm([2, 8, 8])": lambda: normalization.LayerNorm([2, 8, 8]),
    "Flatten": lambda: Flatten(),
    "Flatten(start_dim=2)": lambda: Flatten(start_dim=2),
    "Flatten(1, 2)": lambda: Flatten(1, 2),
    "Dropout2d (identity)": lambda: Dropout2d(0.5, rng=0).train(),
    "Flatten then Unflatten": lambda: nn.Sequential(Flatten(), Unflatten(1, (2, 4, 16))),
    "Unflatten(-1, (4, 2))": lambda: Unflatten(-1, (4, 2)),
    "a small CNN": conv_net,
}


@pytest.mark.parametrize("name", sorted(CONV))
def test_conv_layers_match_onnxruntime(name, tmp_path):
    check_export(_randomise_norms(CONV[name]()), (2, 8, 8), tmp_path, example=True)


def test_conv_network_takes_any_image_size_without_example(tmp_path):
    model = _randomise_norms(conv_net())
    proto = export_onnx(model, tmp_path / "cnn.onnx")
    dims = [d.dim_param or d.dim_value for d in proto.graph.input[0].type.tensor_type.shape.dim]
    assert dims == ["N", 2, "H", "W"]
    for size in (8, 13):
        x = np.random.default_rng(size).normal(size=(2, 2, size, size)).astype(np.float32)
        np.testing.assert_allclose(run_onnx(proto, x), reference(model, x), atol=ATOL)


def test_uneven_adaptive_pool_needs_the_image_size(tmp_path):
    with pytest.raises(ShapeError, match="example_input"):
        export_onnx(nn.Sequential(conv.Conv2d(1, 1, 3, rng=0), pooling.AdaptiveAvgPool2d(3)),
                    tmp_path / "m.onnx")


def test_a_later_opset_also_runs(tmp_path):
    model = nn.Sequential(nn.Linear(4, 4, rng=0), normalization.LayerNorm(4), nn.ReLU())
    proto = export_onnx(model, tmp_path / "m.onnx", opset=18)
    x = np.random.default_rng(0).normal(size=(2, 4)).astype(np.float32)
    np.testing.assert_allclose(run_onnx(proto, x), reference(model, x), atol=ATOL)
