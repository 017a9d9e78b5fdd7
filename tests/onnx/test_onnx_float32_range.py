"""ONNX export writes float32 constants: a value beyond float32's range (or not finite) is
refused with a ConfigError naming the layer, the constant and the entry, never written as
infinity; a scale that would round to 0 is refused too."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from chainrule import nn
from chainrule.errors import ConfigError
from chainrule.onnx import export_model_file, export_onnx
from chainrule.onnx.graph import Graph


def _net() -> nn.Sequential:
    return nn.Sequential(nn.Linear(2, 3, dtype=np.float64, rng=0),
                         nn.BatchNorm1d(3, dtype=np.float64), nn.ReLU(),
                         nn.Sequential(nn.Linear(3, 1, dtype=np.float64, rng=1)))


@pytest.mark.parametrize("where, value, says", [
    ("3.0.weight", 1e39, r"layer 3 \(Sequential\): layer 0 \(Linear\): ONNX export: "
                         r"linear.weight holds 1e\+39 at \[0, 1\], which is beyond float32's "
                         r"range"),
    ("0.bias", -4e38, r"layer 0 \(Linear\): .*linear.bias holds -4e\+38 at \[1\]"),
    ("1.running_var", 1e300, r"layer 1 \(BatchNorm1d\): .*bn.var holds 1e\+300 at \[1\]"),
    ("1.running_mean", np.nan, r"bn.mean holds nan at \[1\], which is not a finite number"),
    ("1.weight", -np.inf, r"bn.scale holds -inf at \[1\]"),
])
def test_values_beyond_float32_are_refused_naming_the_tensor(where, value, says,
                                                             tmp_path: Path) -> None:
    model = _net()
    state = model.state_dict()
    state[where].reshape(-1)[1] = value  # a view: [1] of a vector, [0, 1] of a matrix
    model.load_state_dict(state)
    with pytest.raises(ConfigError, match=says):
        export_onnx(model, tmp_path / "m.onnx")
    assert not (tmp_path / "m.onnx").exists()


def test_a_scale_that_rounds_to_zero_is_refused() -> None:
    graph = Graph()
    with pytest.raises(ConfigError, match=r"scaler.scale holds 1e-50 at \[1\] \(column 'b'\), "
                                          r"which is too small for float32"):
        graph.const(np.array([1.0, 1e-50]), "scaler.scale", nonzero=True, labels=["a", "b"])


def test_a_model_file_whose_preprocessing_is_beyond_float32_names_the_column(
        tmp_path: Path) -> None:
    pd = pytest.importorskip("pandas")
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"a": rng.normal(size=60) * 1e37 + 5e38, "b": rng.normal(size=60),
                          "y": rng.normal(size=60)})
    frame.to_csv(tmp_path / "t.csv", index=False)
    subprocess.run([sys.executable, "-m", "chainrule", "train", "--data", str(tmp_path / "t.csv"),
                    "--target", "y", "--out", str(tmp_path / "run"), "--epochs", "2",
                    "--no-plots", "-q"], check=True, capture_output=True, text=True)
    with pytest.raises(ConfigError, match=r"holds 5\.\d+e\+38 at \[0\] \(column 'a'\), which "
                                          r"is beyond float32's range"):
        export_model_file(tmp_path / "run" / "model.safetensors", tmp_path / "m.onnx")
