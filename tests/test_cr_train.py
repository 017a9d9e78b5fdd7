"""cr.train (chainrule/tables.py): the command line's training job from Python, on a real
table with text and date columns (vega_datasets' Seattle weather, 1,461 days), returning a
pipeline that predicts, scores, saves and exports."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import chainrule as cr

vega = pytest.importorskip("vega_datasets")
pd = pytest.importorskip("pandas")
WEATHER = Path(vega.__file__).parent / "_data" / "seattle-weather.csv"


@pytest.fixture(scope="module")
def weather_model(tmp_path_factory):
    out = tmp_path_factory.mktemp("weather")
    return cr.train(str(WEATHER), target="weather", epochs=40, out=str(out), plots=False,
                    test_split=0.2, seed=0), out


def test_a_text_target_with_a_date_column_trains_and_beats_the_majority(weather_model):
    model, _ = weather_model
    frame = pd.read_csv(WEATHER)
    assert set(model.results) == {"train", "validation", "test"}
    predicted = model.predict(frame)
    assert set(predicted) <= set(frame["weather"])
    proba = model.predict_proba(frame)
    assert proba.shape == (len(frame), 5) and np.allclose(proba.sum(axis=1), 1.0)
    majority = frame["weather"].value_counts(normalize=True).iloc[0]
    assert model.results["test"]["accuracy"] > majority + 0.1


def test_the_pipeline_saves_and_exports_what_it_predicts(weather_model, tmp_path):
    model, _ = weather_model
    frame = pd.read_csv(WEATHER).head(50)
    model.save(tmp_path / "again.safetensors")
    again = cr.workflow.Predictor.load(tmp_path / "again.safetensors")
    np.testing.assert_array_equal(again.predict(frame), model.predict(frame))
    score = again.score(frame, frame["weather"].to_numpy())
    assert 0.0 <= score["accuracy"] <= 1.0


def test_the_onnx_file_holds_the_whole_pipeline(weather_model, tmp_path):
    pytest.importorskip("onnx")
    ort = pytest.importorskip("onnxruntime")
    model, _ = weather_model
    with pytest.raises(cr.ConfigError, match="date column"):  # ONNX cannot parse dates
        model.export_onnx(tmp_path / "weather.onnx")
    no_dates = cr.train(str(WEATHER), target="weather", drop=["date"], epochs=5,
                        out=str(tmp_path / "run"), plots=False, seed=0)
    no_dates.export_onnx(tmp_path / "weather.onnx")
    session = ort.InferenceSession(str(tmp_path / "weather.onnx"))
    assert session.get_inputs() and (tmp_path / "weather.onnx").stat().st_size > 0


def test_a_dataframe_with_a_text_feature_trains_a_regression(tmp_path):
    frame = pd.read_csv(WEATHER)
    model = cr.train(frame, target="temp_max", epochs=40, out=str(tmp_path), plots=False,
                     seed=0)
    assert model.results["validation"]["r2"] > 0.7
    assert model.predict(frame.head(3)).shape == (3,)


def test_bad_calls_name_the_problem(tmp_path):
    with pytest.raises(cr.ConfigError, match="unknown option 'epoch'; the options are"):
        cr.train(str(WEATHER), target="weather", epoch=3)
    with pytest.raises(cr.ConfigError, match=r"CSV path or a pandas DataFrame.*chainrule.fit"):
        cr.train(np.zeros((4, 2)), target="y")
