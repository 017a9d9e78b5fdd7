"""Every dense layer's ONNX export, run by onnxruntime, against chainrule's forward pass.

The model is checked with ``onnx.checker.check_model(full_check=True)`` and run at two batch
sizes (the batch axis is dynamic); outputs must agree to float32 tolerance.
"""

from __future__ import annotations

import pytest

from chainrule import nn
from chainrule.errors import ConfigError, ShapeError

pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")

from onnx_helpers import check_export

from chainrule.onnx import export_onnx

DENSE = {
    "Linear": lambda: nn.Linear(5, 3, rng=0),
    "Linear(bias=False)": lambda: nn.Linear(5, 3, bias=False, rng=0),
    "Sigmoid": lambda: nn.Sequential(nn.Linear(5, 4, rng=0), nn.Sigmoid()),
    "Tanh": lambda: nn.Sequential(nn.Linear(5, 4, rng=0), nn.Tanh()),
    "ReLU": lambda: nn.Sequential(nn.Linear(5, 4, rng=0), nn.ReLU()),
    "LeakyReLU": lambda: nn.Sequential(nn.Linear(5, 4, rng=0), nn.LeakyReLU(0.2)),
    "Identity": lambda: nn.Sequential(nn.Linear(5, 4, rng=0), nn.Identity()),
    "Dropout": lambda: nn.Sequential(nn.Linear(5, 4, rng=0), nn.Dropout(0.5, rng=0)),
    "Softmax": lambda: nn.Sequential(nn.Linear(5, 4, rng=0), nn.Softmax()),
    "LogSoftmax": lambda: nn.Sequential(nn.Linear(5, 4, rng=0), nn.LogSoftmax()),
    "nested Sequential": lambda: nn.Sequential(
        nn.Sequential(nn.Linear(5, 6, rng=0), nn.Tanh()),
        nn.Sequential(nn.Linear(6, 2, rng=1), nn.Softmax(axis=1))),
    "float64 model": lambda: nn.Sequential(nn.Linear(5, 4, dtype="float64", rng=0), nn.Tanh(),
                                           nn.Linear(4, 1, dtype="float64", rng=1)),
}


@pytest.mark.parametrize("name", sorted(DENSE))
def test_dense_layers_match_onnxruntime(name, tmp_path):
    check_export(DENSE[name](), (5,), tmp_path)


def test_dropout_exports_as_identity_even_from_training_mode(tmp_path):
    model = nn.Sequential(nn.Linear(5, 4, rng=0), nn.Dropout(0.9, rng=0)).train()
    proto = export_onnx(model, tmp_path / "m.onnx")
    assert "Identity" in [n.op_type for n in proto.graph.node]
    assert model.training  # exporting does not switch the model's mode


def test_linear_on_three_dimensional_inputs(tmp_path):
    # Linear acts on the last axis: MatMul + Add, not Gemm.
    model = nn.Sequential(nn.Linear(5, 3, rng=0), nn.Softmax(axis=1))
    check_export(model, (7, 5), tmp_path, example=True)


def test_a_layer_without_an_onnx_form_is_refused_by_name(tmp_path):
    class Cube(nn.Module):
        def forward(self, x):
            return x * x * x

    with pytest.raises(ConfigError, match=r"layer 1 \(Cube\).*to_onnx"):
        export_onnx(nn.Sequential(nn.Linear(2, 2, rng=0), Cube()), tmp_path / "m.onnx")
    assert not (tmp_path / "m.onnx").exists()


def test_a_user_layer_exports_through_its_own_method(tmp_path):
    class Cube(nn.Module):
        def forward(self, x):
            return x * x * x

        def to_onnx(self, graph, x, shape):
            return graph.op("Mul", graph.op("Mul", x, x), x, hint="cube")

    check_export(nn.Sequential(nn.Linear(5, 2, rng=0), Cube()), (5,), tmp_path)


def test_a_network_of_unknown_input_needs_an_example(tmp_path):
    with pytest.raises(ShapeError, match="example_input"):
        export_onnx(nn.Sequential(nn.Tanh()), tmp_path / "m.onnx")
    check_export(nn.Sequential(nn.Tanh()), (3,), tmp_path, example=True)


def test_opset_below_17_is_refused(tmp_path):
    with pytest.raises(ConfigError, match="LayerNormalization"):
        export_onnx(nn.Linear(2, 1, rng=0), tmp_path / "m.onnx", opset=13)
