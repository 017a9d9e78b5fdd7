"""Wide tables: a header longer than the sniffing sample, 20,000 columns, and the grouped
column copies and vectorised number labels, each against NumPy or the per-cell reading."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pd = pytest.importorskip("pandas")

from chainrule.data import load_csv  # noqa: E402
from chainrule.data.cells import canonical, number_matrix, numbers, strings  # noqa: E402
from chainrule.data.tabular import read_frame  # noqa: E402


def test_a_20000_column_file_reads_as_numpy_reads_it(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    values = rng.standard_normal((4, 20_000))
    names = [f"a_rather_long_column_name_{j}" for j in range(19_999)] + ["y"]
    path = tmp_path / "wide.csv"
    with open(path, "w") as f:
        f.write(",".join(names) + "\n")  # about 600 KB: far beyond the sniffing sample
        np.savetxt(f, values, fmt="%.17g", delimiter=",")
    expected = np.loadtxt(path, delimiter=",", skiprows=1)
    frame = read_frame(str(path))
    assert list(frame.columns) == names
    ds = load_csv(path, "y", task="regression")
    np.testing.assert_array_equal(ds.X, expected[:, :-1])
    np.testing.assert_array_equal(ds.y, expected[:, -1])
    assert ds.feature_names == names[:-1]


def test_a_long_header_with_a_quoted_line_break_is_one_header(tmp_path: Path) -> None:
    names = [f"c{j}" for j in range(9_000)]
    names[4_000] = '"two\nlines"'
    path = tmp_path / "q.csv"
    path.write_text(",".join(names) + "\n" + ",".join(str(j) for j in range(9_000)) + "\n")
    frame = read_frame(str(path))
    assert frame.columns[4_000] == "two\nlines" and frame.shape == (1, 9_000)
    assert frame.iloc[0, 8_999] == 8_999


def test_number_matrix_equals_reading_each_column(tmp_path: Path) -> None:
    frame = pd.DataFrame({"f": [1.5, np.nan, -2.0], "i": [1, 2, 3], "b": [True, False, True],
                          "s": ["4", None, "5e1"], "g": [0.25, 0.5, np.inf]})
    cols = ["g", "s", "i", "f", "b"]
    got = number_matrix(frame, cols)
    want = np.column_stack([numbers(frame, c) for c in cols])
    np.testing.assert_array_equal(got, want)


def test_number_strings_equal_the_per_cell_labels() -> None:
    v = np.array([3.0, -0.0, 1.5, np.nan, np.inf, -np.inf, 2.0**60, 1e-300, 7.0, -12.0,
                  0.1 + 0.2])
    assert list(strings(pd.Series(v))) == [None if np.isnan(x) else canonical(float(x))
                                           for x in v]
    big = pd.Series([2**62 + 1, -5, 0])
    assert list(strings(big)) == [str(2**62 + 1), "-5", "0"]  # exact, not via float64
