"""A Pipeline as one object: laid out in the model file's one ``preprocessing`` entry and
read back, saved and loaded, the earlier layout read, damage refused, and every step that
runs on features has an ONNX converter."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from chainrule import nn
from chainrule.data import StandardScaler
from chainrule.errors import ModelFileError
from chainrule.pipeline import STEPS, Head, Pipeline, TableStep, files, layout
from chainrule.predictor import Predictor
from chainrule.tools.saving import save
from chainrule.training import tasks

pd = pytest.importorskip("pandas")
FIXTURES = Path(__file__).resolve().parent / "fixtures"


def _table_pipeline(unknown: str = "zeros") -> tuple[Pipeline, object]:
    from chainrule.data.columns import infer_columns

    rng = np.random.default_rng(0)
    rows = pd.DataFrame({"x": rng.normal(size=30), "c": rng.choice(["a", "b", "c"], 30)})
    table = TableStep(infer_columns(rows), unknown).fit(rows)
    X = table.transform(rows)
    net = nn.Sequential(nn.Linear(X.shape[1], 3, rng=0), nn.Tanh(), nn.Linear(3, 3, rng=1))
    head = Head(tasks.get("multiclass"), ["p", "q", "r"], "y")
    return Pipeline([table, StandardScaler().fit(X)], net, head), rows


def test_the_layout_keeps_every_field_earlier_files_have() -> None:
    pipe, _ = _table_pipeline("error")
    d = pipe.to_dict()
    assert list(d) == list(layout.FIELDS)
    assert d["steps"] == ["columns", "scaler"] and d["unknown"] == "error"
    assert d["task"] == "classification" and d["output"] == "multiclass"
    assert d["feature_names"] == pipe.table.feature_names and d["target_scaler"] is None


def test_a_pipeline_saves_and_loads_as_one_object(tmp_path: Path) -> None:
    pipe, rows = _table_pipeline()
    files.save(pipe, tmp_path / "m.safetensors", training={"note": "kept"})
    again, meta = files.load_with_metadata_of(tmp_path / "m.safetensors")
    assert meta["training"] == {"note": "kept"} and again.to_dict() == pipe.to_dict()
    np.testing.assert_array_equal(again.predict_proba(rows), pipe.predict_proba(rows))
    assert Predictor.load(tmp_path / "m.safetensors").predict(rows).tolist() == \
        pipe.predict(rows).tolist()


def test_a_dict_of_the_earlier_layout_reads_the_same() -> None:
    """Files written before the pipeline: no 'steps' list, the unknown policy beside the
    columns rather than in them."""
    pipe, rows = _table_pipeline("error")
    d = pipe.to_dict()
    earlier = {k: v for k, v in d.items() if k != "steps"}
    earlier["columns"] = {k: v for k, v in d["columns"].items() if k != "unknown"}
    again = Pipeline.from_dict(earlier, pipe.network)
    assert again.table.unknown_policy == "error" and again.to_dict() == d
    np.testing.assert_array_equal(again.outputs(rows), pipe.outputs(rows))


@pytest.mark.parametrize(("change", "message"), [
    (lambda d: d.update(steps=["columns", "columns"]), "steps must list different steps"),
    (lambda d: d.update(steps=["minmax"]), "steps must list"),
    (lambda d: d.update(scaler=[1, 2]), "scaler must be an object"),
    (lambda d: d.update(target_scaler={"mean": 1.0, "scale": -1.0}), "positive finite scale"),
    (lambda d: d.update(class_names=["p", "q"]), "3 output\\(s\\) but its metadata names 2"),
    (lambda d: d.update(unknown="drop"), "unknown must be"),
])
def test_damage_is_refused_naming_the_file(change, message) -> None:
    pipe, _ = _table_pipeline()
    d = pipe.to_dict()
    change(d)
    with pytest.raises(ModelFileError, match=message):
        Pipeline.from_dict(d, pipe.network, "m.safetensors")


def test_every_feature_step_has_an_onnx_converter() -> None:
    from chainrule.onnx import CONVERTERS

    # the target step is the head's: the head's converter undoes it
    assert set(CONVERTERS) == set(STEPS) - {"target_scaler"}


def test_a_model_saved_without_preprocessing_is_a_pipeline_with_no_steps(tmp_path) -> None:
    net = nn.Sequential(nn.Linear(2, 1, rng=0))
    save(net, tmp_path / "bare.safetensors")
    pred = Predictor.load(tmp_path / "bare.safetensors")
    assert pred.steps == [] and pred.kind == "regression" and pred.encoder is None
    X = np.ones((3, 2))
    np.testing.assert_allclose(pred.predict(X), net(X).data[:, 0], rtol=1e-6)


def test_the_predictor_keeps_its_names_on_a_file_of_today() -> None:
    pred = Predictor.load(FIXTURES / "regression.safetensors")
    assert pred.model is pred.network and pred.kind == "regression"
    assert pred.encoder is pred.table and pred.scaler is pred.step("scaler")
    assert pred.unknown_policy == "zeros" and pred.target == "value"
    assert pred.preprocessing["target_scaler"] == pred.head.scaler.to_dict()
