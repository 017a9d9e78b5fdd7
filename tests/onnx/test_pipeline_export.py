"""A Pipeline object exports to ONNX as the model file it was read from does: same graph."""

from __future__ import annotations

from pathlib import Path

import pytest

import chainrule as cr
import chainrule.pipeline

onnx = pytest.importorskip("onnx")
FIXTURES = Path(__file__).resolve().parents[1] / "pipeline" / "fixtures"


@pytest.mark.parametrize("name", ["binary", "multiclass", "regression", "moons"])
def test_a_pipeline_exports_the_graph_of_its_model_file(name, tmp_path):
    path = FIXTURES / f"{name}.safetensors"
    from_object = cr.export_onnx(chainrule.pipeline.load(path), tmp_path / "p.onnx")
    from_file = cr.export_onnx(path, tmp_path / "f.onnx")
    a, b = from_object.graph, from_file.graph
    a.doc_string = b.doc_string = ""  # each says where it came from
    assert a.SerializeToString() == b.SerializeToString()
    onnx.checker.check_model(onnx.load(tmp_path / "p.onnx"), full_check=True)


def test_example_input_is_refused_for_a_pipeline(tmp_path):
    pipe = chainrule.pipeline.load(FIXTURES / "binary.safetensors")
    with pytest.raises(cr.ConfigError, match="example_input is for networks"):
        cr.export_onnx(pipe, tmp_path / "p.onnx", example_input=[[0.0]])
