"""Column typing, one-hot encoding, imputation and the target column of a table
(chainrule.data.columns), each compared with pandas/NumPy by hand or scikit-learn."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

pd = pytest.importorskip("pandas")

from chainrule.data.columns import (  # noqa: E402
    TableEncoder,
    infer_columns,
    prepare_target,
    unknown_warning,
)
from chainrule.data.tabular import read_frame  # noqa: E402
from chainrule.errors import ConfigError, DataError  # noqa: E402

N = 40


def _csv(tmp_path: Path, frame_text: str, name: str = "t.csv") -> object:
    path = tmp_path / name
    path.write_text(frame_text)
    return read_frame(str(path))


def _write(tmp_path: Path, columns: dict[str, list[object]], name: str = "t.csv") -> object:
    names = list(columns)
    rows = zip(*columns.values())
    text = ",".join(names) + "\n" + "".join(",".join("" if v is None else str(v) for v in r)
                                            + "\n" for r in rows)
    return _csv(tmp_path, text, name)


def _kinds(plans: list) -> dict[str, str]:
    return {p.name: p.kind for p in plans}


def _reasons(plans: list) -> dict[str, str]:
    return {p.name: p.reason for p in plans}


@pytest.fixture
def mixed(tmp_path: Path) -> object:
    rng = np.random.default_rng(0)
    days = pd.date_range("2021-01-01", periods=N, freq="7D")
    return _write(tmp_path, {
        "id": list(range(1000, 1000 + N)),  # integers, all distinct
        "code": [f"S{i:04d}" for i in range(N)],  # strings, all distinct
        "weight": [round(float(v), 3) for v in rng.normal(50, 5, N)],  # floats, distinct
        "island": ["Torgersen", "Biscoe", "Dream", "Biscoe"] * (N // 4),
        "grade": [1, 2, 3, 1, 2] * (N // 5),  # few whole numbers
        "flag": ["yes", "no"] * (N // 2),
        "seen": ["true", "false", "false", "true"] * (N // 4),
        "date": [d.strftime("%Y-%m-%d") for d in days],
        "comment": [f"the bird number {i} looked healthy and was measured twice" for i in
                    range(N)],
        "y": ["a", "b"] * (N // 2),
    })


# -- typing ----------------------------------------------------------------------------------
def test_every_column_kind_is_typed(mixed: object) -> None:
    plans = infer_columns(mixed, "y")
    assert [p.name for p in plans] == [c for c in mixed.columns if c != "y"]  # order kept
    assert _kinds(plans) == {"id": "dropped", "code": "dropped", "weight": "numeric",
                             "island": "categorical", "grade": "numeric", "flag": "boolean",
                             "seen": "boolean", "date": "datetime", "comment": "dropped"}
    why = _reasons(plans)
    assert why["id"].startswith("identifier-like") and "--features" in why["id"]
    assert why["code"].startswith("identifier-like")
    assert why["comment"].startswith("free text")


def test_float_columns_are_never_dropped_as_identifiers(tmp_path: Path) -> None:
    frame = _write(tmp_path, {"x": [i + 0.5 for i in range(N)],  # all distinct, counts up
                              "y": [0, 1] * (N // 2)})
    assert _kinds(infer_columns(frame, "y")) == {"x": "numeric"}


def test_integers_with_few_values_are_categorical_only_when_asked(mixed: object) -> None:
    assert _kinds(infer_columns(mixed, "y"))["grade"] == "numeric"
    plans = infer_columns(mixed, "y", categorical=["grade"])
    assert _kinds(plans)["grade"] == "categorical"
    enc = TableEncoder(plans).fit(mixed)
    names = enc.feature_names
    assert [n for n in names if n.startswith("grade")] == ["grade=1", "grade=2", "grade=3"]
    X = enc.transform(mixed)
    block = X[:, [names.index(f"grade={g}") for g in (1, 2, 3)]]
    expected = pd.get_dummies(mixed["grade"]).to_numpy(dtype=float)  # by pandas
    np.testing.assert_array_equal(block, expected)


def test_booleans_become_one_and_zero(mixed: object) -> None:
    plans = infer_columns(mixed, "y")
    enc = TableEncoder(plans).fit(mixed)
    X = enc.transform(mixed)
    names = enc.feature_names
    np.testing.assert_array_equal(X[:, names.index("flag")],
                                  (mixed["flag"] == "yes").to_numpy(dtype=float))
    np.testing.assert_array_equal(X[:, names.index("seen")],
                                  (mixed["seen"].astype(str).str.lower() == "true")
                                  .to_numpy(dtype=float))
    frame = pd.DataFrame({"b": [True, False, True], "y": [1, 0, 1]})  # a bool dtype
    assert _kinds(infer_columns(frame, "y")) == {"b": "boolean"}


def test_dates_are_expanded_to_year_month_day_weekday(mixed: object) -> None:
    enc = TableEncoder(infer_columns(mixed, "y")).fit(mixed)
    names = enc.feature_names
    parts = ["date.year", "date.month", "date.day", "date.weekday"]
    assert all(p in names for p in parts)
    X = enc.transform(mixed)
    d = pd.to_datetime(mixed["date"], format="%Y-%m-%d")
    expected = np.column_stack([d.dt.year, d.dt.month, d.dt.day, d.dt.day_of_week])
    np.testing.assert_array_equal(X[:, [names.index(p) for p in parts]], expected)
    row = next(r for r in enc.describe() if r["column"] == "date")
    assert row["kind"] == "datetime" and "year, month, day, weekday" in row["used_as"]


def test_features_drop_and_categorical_override_the_typing(mixed: object) -> None:
    plans = infer_columns(mixed, "y", features=["id", "comment", "weight"])
    assert _kinds(plans) == {"id": "numeric", "comment": "categorical", "weight": "numeric"}
    plans = infer_columns(mixed, "y", drop=["weight", "island"])
    assert _kinds(plans)["weight"] == "dropped" and _reasons(plans)["weight"] == "--drop"
    assert _kinds(plans)["island"] == "dropped"
    with pytest.raises(DataError, match=r"--drop: no column named 'nope'.*the columns are"):
        infer_columns(mixed, "y", drop=["nope"])
    with pytest.raises(DataError, match=r"--categorical: no column named 'zz'"):
        infer_columns(mixed, "y", categorical=["zz"])
    with pytest.raises(DataError, match=r"the target 'y' is also listed as a feature"):
        infer_columns(mixed, "y", features=["weight", "y"])
    with pytest.raises(DataError, match="no feature columns are left"):
        infer_columns(mixed, "y", features=["id"], drop=["id"])


def test_the_table_of_what_was_used(mixed: object) -> None:
    frame = mixed.copy()
    frame.loc[3, "weight"] = np.nan
    enc = TableEncoder(infer_columns(frame, "y")).fit(frame)
    rows = {r["column"]: r for r in enc.describe()}
    assert list(rows) == [c for c in mixed.columns if c != "y"]
    assert rows["island"]["used_as"] == "one-hot, 3 categories"
    assert rows["weight"]["used_as"] == "1 number + missing indicator (median fill)"
    assert rows["id"]["used_as"] == "dropped" and "identifier-like" in rows["id"]["reason"]
    assert rows["comment"]["kind"] == "dropped"


# -- one-hot ------------------------------------------------------------------------------------
def test_one_hot_vocabulary_comes_from_the_training_split_only(tmp_path: Path) -> None:
    sklearn_pre = pytest.importorskip("sklearn.preprocessing")
    colours = ["red", "blue", "green", "red", "blue"] * 6 + ["violet"] * 2  # violet: test only
    frame = _write(tmp_path, {"c": colours, "x": np.arange(32) % 7, "y": [0, 1] * 16})
    train, test = frame.iloc[:30], frame.iloc[30:]
    enc = TableEncoder(infer_columns(train, "y")).fit(train)
    assert [n for n in enc.feature_names if n.startswith("c=")] == ["c=blue", "c=green",
                                                                    "c=red"]
    ohe = sklearn_pre.OneHotEncoder(handle_unknown="ignore", sparse_output=False)
    ohe.fit(train[["c"]].astype(str))
    cols = [i for i, n in enumerate(enc.feature_names) if n.startswith("c=")]
    for part in (train, test):
        np.testing.assert_array_equal(enc.transform(part)[:, cols],
                                      ohe.transform(part[["c"]].astype(str)))
    assert enc.unknown == {"c": ["violet"]}


def test_an_unseen_category_is_all_zeros_with_one_warning_naming_it(tmp_path: Path) -> None:
    train = _write(tmp_path, {"c": ["a", "b"] * 10, "d": ["u", "v", "w", "u"] * 5,
                              "y": [0, 1] * 10})
    enc = TableEncoder(infer_columns(train, "y")).fit(train)
    new = _write(tmp_path, {"c": ["a", "zebra", "okapi", "zebra"], "d": ["u", "u", "q", "v"],
                            "y": [0, 1, 0, 1]}, "new.csv")
    X = enc.transform(new)
    c_cols = [i for i, n in enumerate(enc.feature_names) if n.startswith("c=")]
    np.testing.assert_array_equal(X[:, c_cols], [[1, 0], [0, 0], [0, 0], [0, 0]])
    assert enc.unknown == {"c": ["zebra", "okapi"], "d": ["q"]}  # each value once, in order
    text = unknown_warning(enc.unknown)
    assert "\n" not in text  # one line
    assert "column 'c': 'zebra', 'okapi'" in text and "column 'd': 'q'" in text
    with pytest.raises(DataError, match=r"column 'c' holds the values 'zebra', 'okapi' not "
                                        r"seen in training \(first at row 3\)"):
        enc.transform(new, unknown="error")
    assert unknown_warning({}) == ""


# -- missing values ----------------------------------------------------------------------------
def test_missing_numbers_get_the_training_median_and_an_indicator(tmp_path: Path) -> None:
    impute = pytest.importorskip("sklearn.impute")
    rng = np.random.default_rng(3)
    x = rng.normal(size=N).round(3).astype(object)
    x[[2, 5, 11]] = "NA"
    z = rng.normal(size=N).round(3)  # nothing missing: no indicator
    frame = _write(tmp_path, {"x": list(x), "z": list(z), "y": [0, 1] * (N // 2)})
    train, test = frame.iloc[:30], frame.iloc[30:]
    enc = TableEncoder(infer_columns(train, "y")).fit(train)
    assert enc.feature_names == ["x", "x (missing)", "z"]
    si = impute.SimpleImputer(strategy="median", add_indicator=True)
    expected_train = si.fit_transform(train[["x", "z"]].to_numpy(dtype=float))
    np.testing.assert_allclose(enc.transform(train)[:, [0, 2, 1]], expected_train)
    by_hand = float(np.nanmedian(train["x"].to_numpy(dtype=float)))  # the training median
    new = pd.DataFrame({"x": [np.nan, 1.0], "z": [np.nan, 2.0]})
    np.testing.assert_allclose(enc.transform(new), [[by_hand, 1.0, np.median(train["z"])],
                                                    [1.0, 0.0, 2.0]])
    assert len(enc.transform(test)) == len(test)


def test_a_missing_category_is_its_own_category(tmp_path: Path) -> None:
    frame = _csv(tmp_path, "c,y\n" + "".join(f"{c},{i % 2}\n" for i, c in
                                             enumerate(["a", "", "b", "NA", "a"] * 6)))
    enc = TableEncoder(infer_columns(frame, "y")).fit(frame)
    assert enc.feature_names == ["c=a", "c=b", "c (missing)"]
    X = enc.transform(frame)
    raw = ["a", "", "b", "NA", "a"] * 6
    expected = np.array([[v == "a", v == "b", v in ("", "NA")] for v in raw], dtype=float)
    np.testing.assert_array_equal(X, expected)


def test_rows_with_a_missing_target_are_dropped_and_counted(tmp_path: Path) -> None:
    frame = _csv(tmp_path, "x,y\n1,a\n2,\n3,b\n4,NA\n5,a\n6,?\n")
    t = prepare_target(frame, "y")
    assert t.dropped == 3
    np.testing.assert_array_equal(t.keep, [True, False, True, False, True, False])
    assert t.class_names == ["a", "b"] and t.y.tolist() == [0, 1, 0]
    reg = prepare_target(_csv(tmp_path, "x,y\n1,0.5\n2,\n3,2.25\n", "r.csv"), "y")
    assert reg.task == "regression" and reg.dropped == 1 and reg.y.tolist() == [0.5, 2.25]


# -- the model file ----------------------------------------------------------------------------
def test_save_and_load_round_trip_equals_the_fitted_encoder(mixed: object) -> None:
    frame = mixed.copy()
    frame.loc[[1, 7], "weight"] = np.nan
    frame.loc[4, "island"] = np.nan
    plans = infer_columns(frame, "y", categorical=["grade"])
    enc = TableEncoder(plans).fit(frame)
    stored = json.loads(json.dumps(enc.to_dict()))  # as the model file holds it
    back = TableEncoder.from_dict(stored)
    assert back.to_dict() == enc.to_dict()
    assert back.feature_names == enc.feature_names
    assert back.describe() == enc.describe()
    new = frame.iloc[::-1].copy()
    new.loc[new.index[0], "island"] = "Atlantis"
    np.testing.assert_array_equal(back.transform(new), enc.transform(new))
    assert back.unknown == enc.unknown == {"island": ["Atlantis"]}


def test_the_unseen_category_policy_is_kept_and_saved_by_the_encoder() -> None:
    """transform without ``unknown`` follows the policy the encoder was made with; an
    argument overrides it for one call; to_dict saves it and from_dict reads it back, a
    description written without one reading as "zeros"."""
    train = pd.DataFrame({"x": [1.0, 2.0, 3.0], "c": ["a", "b", "a"]})
    new = pd.DataFrame({"x": [1.0], "c": ["zebra"]})
    plans = infer_columns(train)
    lenient = TableEncoder(plans).fit(train)
    assert lenient.unknown_policy == "zeros" and lenient.to_dict()["unknown"] == "zeros"
    assert lenient.transform(new).tolist() == [[1.0, 0.0, 0.0]]
    assert lenient.unknown == {"c": ["zebra"]}
    with pytest.raises(DataError, match="'zebra' not seen in training"):
        lenient.transform(new, unknown="error")

    strict = TableEncoder(plans, unknown="error").fit(train)
    with pytest.raises(DataError, match="'zebra' not seen in training"):
        strict.transform(new)
    assert strict.transform(new, "zeros").tolist() == [[1.0, 0.0, 0.0]]
    back = TableEncoder.from_dict(json.loads(json.dumps(strict.to_dict())))
    assert back.unknown_policy == "error" and back.to_dict() == strict.to_dict()

    older = {k: v for k, v in strict.to_dict().items() if k != "unknown"}
    assert TableEncoder.from_dict(older).unknown_policy == "zeros"
    with pytest.raises(DataError, match="unknown must be 'zeros' or 'error'"):
        TableEncoder.from_dict({**older, "unknown": "drop"})
    with pytest.raises(ConfigError, match="unknown must be 'zeros' or 'error', got 'drop'"):
        TableEncoder(plans, unknown="drop")
    with pytest.raises(DataError, match="unknown must be 'zeros' or 'error', got 'drop'"):
        lenient.transform(new, unknown="drop")


@pytest.mark.parametrize("damage, message", [
    ({"columns": "x"}, "expected an object with a 'columns' list"),
    ({"columns": [{"name": "a", "kind": "weird"}]}, "needs a name and a kind"),
    ({"columns": [{"name": "a", "kind": "numeric", "median": [float("nan")]}]},
     "median must be a list of finite numbers"),
    ({"columns": [{"name": "a", "kind": "datetime", "median": [1.0]}]}, "needs 4 median"),
    ({"columns": [{"name": "a", "kind": "categorical", "categories": ["x", "x"]}]},
     "distinct strings"),
])
def test_a_damaged_encoder_is_refused(damage: dict, message: str) -> None:
    with pytest.raises(DataError, match=message):
        TableEncoder.from_dict(damage)


def test_encoding_columns_a_few_at_a_time_gives_the_same_matrix(
        monkeypatch: pytest.MonkeyPatch) -> None:
    from chainrule.data import columns

    rng = np.random.default_rng(3)
    n = 40
    table = pd.DataFrame({
        "a": rng.normal(size=n), "flag": rng.random(n) < 0.5,
        "colour": rng.choice(["red", "blue"], n).astype(object),
        "b": np.where(rng.random(n) < 0.2, np.nan, rng.normal(size=n)),
        "when": pd.to_datetime("2020-01-01") + pd.to_timedelta(rng.integers(0, 900, n), "D"),
        "c": rng.integers(0, 5, n)})
    table.loc[3, "colour"] = None
    enc = TableEncoder(infer_columns(table)).fit(table)
    whole = enc.transform(table)
    monkeypatch.setattr(columns, "_GROUP_BYTES", 1)  # one column at a time
    np.testing.assert_array_equal(enc.transform(table), whole)
    by_hand = np.where(np.isnan(table["b"]), np.nanmedian(table["b"]), table["b"])
    np.testing.assert_array_equal(whole[:, enc.feature_names.index("b")], by_hand)
