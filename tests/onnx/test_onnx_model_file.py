"""A model trained by ``chainrule train`` exports with its preprocessing: onnxruntime on raw
values (NaN for missing numbers, strings for categories) gives chainrule's own predictions."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

pd = pytest.importorskip("pandas")
onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

from chainrule.errors import ConfigError  # noqa: E402
from chainrule.onnx import export_model_file, export_onnx, onnx_inputs  # noqa: E402
from chainrule.tools.saving import read_metadata  # noqa: E402

Predictor = pytest.importorskip("chainrule.workflow").Predictor  # the CLI-side predictor


def _table(n=160, seed=0, dates=False):
    rng = np.random.default_rng(seed)
    age = rng.normal(40, 10, n)
    age[rng.random(n) < 0.15] = np.nan
    colour = rng.choice(["red", "green", "blue"], n).astype(object)
    colour[rng.random(n) < 0.1] = None
    alone = rng.choice(["yes", "no"], n)
    score = np.nan_to_num(age, nan=40) / 10 + (colour == "red") + rng.normal(0, 0.5, n)
    frame = pd.DataFrame({"id": np.arange(n), "age": age, "fare": rng.exponential(30, n),
                          "colour": colour, "alone": alone,
                          "y": np.where(score > 4.3, "yes", "no")})
    if dates:
        frame["when"] = pd.date_range("2020-01-01", periods=n).astype(str)
    return frame


def _train(tmp_path, frame, *extra):
    csv = tmp_path / "t.csv"
    frame.to_csv(csv, index=False)
    out = tmp_path / "run"
    subprocess.run([sys.executable, "-m", "chainrule", "train", "--data", str(csv), "--target",
                    "y", "--out", str(out), "--epochs", "15", "--no-plots", "-q", *extra],
                   check=True, capture_output=True, text=True)
    return out / "model.safetensors"


def test_cli_trained_model_with_categories_and_missing_values(tmp_path):
    model_file = _train(tmp_path, _table())
    test = _table(40, seed=7)
    test.loc[3, "colour"] = "purple"  # unseen in training: all zeros, as chainrule does
    proto = export_model_file(model_file, tmp_path / "m.onnx")
    onnx.checker.check_model(onnx.load(str(tmp_path / "m.onnx")), full_check=True)
    assert [i.name for i in proto.graph.input] == ["features", "colour"]  # id was dropped
    assert [o.name for o in proto.graph.output] == ["probabilities", "label"]
    colour = np.array(test["colour"].astype(object).to_numpy()).reshape(-1, 1)
    colour[pd.isna(colour)] = ""
    colour[5, 0] = "NA"  # a missing-value marker is a missing category too
    test.loc[5, "colour"] = None
    feeds = {"features": np.column_stack([test.age, test.fare,
                                          test.alone.map({"yes": 1.0, "no": 0.0})]
                                         ).astype(np.float32),
             "colour": colour.astype(str)}
    session = ort.InferenceSession(proto.SerializeToString(),
                                   providers=["CPUExecutionProvider"])
    probs, labels = session.run(None, feeds)
    predictor = Predictor.load(model_file)
    np.testing.assert_allclose(probs, predictor.predict_proba(test), atol=2e-6)
    assert labels.tolist() == predictor.predict(test).tolist()
    assert onnx_inputs(read_metadata(model_file)) == [
        "features: float32 [N, 3] (age, fare, alone; NaN = missing)", "colour: string [N, 1]"]


def test_export_onnx_takes_a_model_file_path(tmp_path):
    model_file = _train(tmp_path, _table())
    proto = export_onnx(str(model_file), tmp_path / "m.onnx")
    assert proto.graph.output[0].name == "probabilities"


def test_a_model_with_date_columns_is_refused(tmp_path):
    model_file = _train(tmp_path, _table(dates=True))
    with pytest.raises(ConfigError, match="--drop when"):
        export_model_file(model_file, tmp_path / "m.onnx")
    assert not (tmp_path / "m.onnx").exists()
    assert onnx_inputs(read_metadata(model_file))[0].startswith("not exportable")
