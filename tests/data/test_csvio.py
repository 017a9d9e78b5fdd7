"""CSV loading: numbers, string labels, and errors that name the row and column."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from chainrule.data import DataError, load_csv, write_csv


def _write(tmp_path: Path, text: str | bytes, name: str = "d.csv") -> Path:
    p = tmp_path / name
    if isinstance(text, bytes):
        p.write_bytes(text)
    else:
        p.write_text(text, encoding="utf-8")
    return p


def test_string_labels_are_encoded_and_remembered(tmp_path: Path) -> None:
    p = _write(tmp_path, "a,b,species\n1,2.5,setosa\n3,-4e-1,virginica\n5,6,setosa\n\n")
    ds = load_csv(p, "species")
    np.testing.assert_array_equal(ds.X, [[1, 2.5], [3, -0.4], [5, 6]])
    assert ds.y.tolist() == [0, 1, 0] and ds.class_names == ["setosa", "virginica"]
    assert ds.feature_names == ["a", "b"] and ds.task == "classification"
    # the target may sit in any column; known class names fix the codes
    p2 = _write(tmp_path, "species,b,a\nvirginica,1,2\n", "e.csv")
    ds2 = load_csv(p2, "species", features=["a", "b"], class_names=ds.class_names)
    assert ds2.y.tolist() == [1] and ds2.X.tolist() == [[2.0, 1.0]]


def test_numeric_targets_auto_detect(tmp_path: Path) -> None:
    p = _write(tmp_path, "x,y\n" + "".join(f"{i},{i * 0.37}\n" for i in range(30)))
    ds = load_csv(p, "y")
    assert ds.task == "regression" and ds.y.dtype == np.float64 and ds.class_names is None
    p = _write(tmp_path, "x,y\n1,0\n2,1.0\n3,1\n", "c.csv")
    ds = load_csv(p, "y")
    assert ds.task == "classification" and ds.class_names == ["0", "1"]
    assert ds.y.tolist() == [0, 1, 1]
    assert load_csv(p, "y", task="regression").y.tolist() == [0.0, 1.0, 1.0]


def test_features_only(tmp_path: Path) -> None:
    p = _write(tmp_path, "a,b\n1,2\n")
    ds = load_csv(p)
    assert ds.y is None and ds.task is None and ds.X.shape == (1, 2)


@pytest.mark.parametrize(("text", "message"), [
    ("a,b,t\n1,2,x\n3,,y\n", "missing value at row 3, column 'b'"),
    ("a,b,t\n1,NA,x\n", "missing value at row 2, column 'b'"),
    ("a,b,t\n1,2,x\n3,abc,y\n", "non-numeric value 'abc' at row 3, column 'b'"),
    ("a,b,t\n1,2,x\n3,4\n", "row 3 has 2 values but the header has 3"),
    ("a,b,t\n1,2,\n", "missing target value at row 2"),
    ("a,b,t\n1,inf,x\n", "infinite value at row 2, column 'b'"),
    ("", "empty"),
    ("a,b,t\n", "no data rows"),
    ("a,a,t\n1,2,3\n", "duplicate column names in the header: 'a'"),
    ("a,b,c\n1,2,3\n", "no column named 't'; the columns are a, b, c"),
    ("t\n1\n", "no feature columns"),
])
def test_errors_name_row_and_column(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(DataError, match=message):
        load_csv(_write(tmp_path, text), "t")


def test_regression_with_string_target_and_binary_file(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"regression needs a numeric target.*row 3"):
        load_csv(_write(tmp_path, "a,t\n1,2\n2,x\n"), "t", task="regression")
    with pytest.raises(DataError, match=r"not a UTF-8 text file|not a text CSV"):
        load_csv(_write(tmp_path, b"\x89PNG\r\n\x1a\n\x00\x00\xff\xfe", "b.csv"), "t")
    with pytest.raises(DataError, match="unknown task"):
        load_csv(_write(tmp_path, "a,t\n1,2\n"), "t", task="ranking")


def test_write_csv_round_trip(tmp_path: Path) -> None:
    p = tmp_path / "out.csv"
    write_csv(p, ["a", "label"], [[0.1 + 0.2, "x"], [np.float64(1 / 3), "y"]])
    ds = load_csv(p, "label")
    assert ds.X[:, 0].tolist() == [0.1 + 0.2, 1 / 3]  # full precision survives


@pytest.mark.parametrize(("text", "options", "message"), [
    ("a,t\n-nan,1\n2,0\n", {}, "missing value at row 2, column 'a'"),
    ("a,t\n1_000,1\n2,0\n", {}, "non-numeric value '1_000' at row 2, column 'a'"),
    ("a,t\n1,x\n2,z\n", {"class_names": ["x", "y"]},
     "label 'z' at row 3, column 't' was not seen in training; known labels: x, y"),
    ("a,t\n1,x\n", {"class_names": "xy"}, "class_names must be a list of strings"),
    ("a,t\n1,x\n", {"class_names": [1, 2]}, "class_names must be a list of strings"),
    ("ab,t\n1,x\n", {"features": "ab"}, "features must be a list of strings"),
    ("a,t\n1,x\n", {"delimiter": ";;"}, "delimiter must be one character"),
    ("a,t\n1,x\n", {"delimiter": '"'}, "delimiter must be one character"),
])
def test_more_bad_files_and_options(tmp_path: Path, text: str, options: dict,
                                    message: str) -> None:
    with pytest.raises(DataError, match=message):
        load_csv(_write(tmp_path, text), "t", **options)


def test_target_must_be_a_column_name(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="target must be a column name"):
        load_csv(_write(tmp_path, "a,t\n1,2\n"), 1)  # type: ignore[arg-type]
