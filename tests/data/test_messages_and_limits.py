"""What reading a table says when it cannot go on, and the limits it keeps: standardising
columns near +-1e308 (exact against fractions, or a message naming the column), messages of
bounded length for tables of 30,000 columns, wrong-typed paths, and UTF-16/UTF-32 files
(Excel's "Unicode text") read as their UTF-8 twins."""

from __future__ import annotations

import math
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from chainrule.data import StandardScaler
from chainrule.data.combine import agreed_mean_std
from chainrule.errors import DataError

pd = pytest.importorskip("pandas")

from ranks import ThreadRanks  # noqa: E402

from chainrule.data.csvio import load_csv, write_csv  # noqa: E402
from chainrule.data.kinds import infer_columns  # noqa: E402
from chainrule.data.shares import read_share  # noqa: E402
from chainrule.data.tabular import read_frame  # noqa: E402

HUGE = np.array([[1.7e308, 1.0], [1.6e308, 2.0], [-1.7e308, 3.0], [1.5e308, 4.0],
                 [-9e307, 5.0]])


def _exact_mean_std(column: np.ndarray) -> tuple[float, float]:
    """Mean and population standard deviation by exact rational arithmetic."""
    values = [Fraction(float(v)) for v in column]
    mean = sum(values) / len(values)
    var = sum((v - mean) ** 2 for v in values) / len(values)
    unit = max(abs(v) for v in values) or Fraction(1)  # var near 1e616 is beyond float64
    return float(mean), math.sqrt(float(var / unit / unit)) * float(unit)


def test_columns_near_1e308_are_standardised_without_overflow() -> None:
    scaler = StandardScaler().fit(HUGE)
    for j in range(HUGE.shape[1]):
        mean, std = _exact_mean_std(HUGE[:, j])
        assert scaler.mean_[j] == pytest.approx(mean, rel=1e-13)
        assert scaler.scale_[j] == pytest.approx(std, rel=1e-13)
    Z = scaler.transform(HUGE)
    assert np.all(np.isfinite(Z))
    want = [(Fraction(float(x)) - Fraction(float(scaler.mean_[0]))) /
            Fraction(float(scaler.scale_[0])) for x in HUGE[:, 0]]
    np.testing.assert_allclose(Z[:, 0], [float(w) for w in want], rtol=1e-12)


@pytest.mark.parametrize("ranks", [1, 2, 3])
def test_agreed_statistics_of_columns_near_1e308_are_finite(ranks: int) -> None:
    cuts = np.array_split(np.arange(len(HUGE)), ranks)
    got = ThreadRanks(ranks).run(lambda comm, r: agreed_mean_std(HUGE[cuts[r]], comm))
    for mean, std, n in got:
        assert n == len(HUGE)
        for j in range(HUGE.shape[1]):
            exact = _exact_mean_std(HUGE[:, j])
            assert (mean[j], std[j]) == pytest.approx(exact, rel=1e-13)


def test_a_value_standardised_beyond_the_float_range_names_its_column() -> None:
    scaler = StandardScaler().fit(np.array([[0.0, 1.0], [1.0, 1.0 + 1e-15]]))
    with pytest.raises(DataError, match=r"standardising column 1 gives a value beyond the "
                                        r"float range \(row 0: 1e\+308"):
        scaler.transform(np.array([[0.5, 1e308]]))


def test_thirty_thousand_constant_columns_make_a_short_message() -> None:
    frame = pd.DataFrame(np.ones((3, 30_000)), columns=[f"c{j}" for j in range(30_000)])
    with pytest.raises(DataError) as info:
        infer_columns(frame)
    message = str(info.value)
    assert len(message) < 2000
    assert message.startswith("no feature columns are left: c0: constant: one value only; ")
    assert "; and 29,980 more (constant: 30,000); pass --features" in message


def test_messages_about_wide_files_list_a_few_columns(tmp_path: Path) -> None:
    path = tmp_path / "wide.csv"
    path.write_text(",".join(f"c{j}" for j in range(30_000)) + "\n" +
                    ",".join("1" for _ in range(30_000)) + "\n")
    for call in (lambda: load_csv(str(path), "target"),
                 lambda: load_csv(str(path), "c0", features=[f"x{j}" for j in range(5000)])):
        with pytest.raises(DataError) as info:
            call()
        assert len(str(info.value)) < 1500 and "in all)" in str(info.value)


@pytest.mark.parametrize("path", [5, None, 3.5, b"t.csv", ["t.csv"], "t\x00.csv"])
def test_a_path_of_the_wrong_type_is_named(path: object) -> None:
    with pytest.raises(DataError, match=r"expected the path of a CSV file|NUL character"):
        load_csv(path, "y")
    with pytest.raises(DataError, match=r"expected the path of a CSV file|NUL character"):
        read_frame(path)
    with pytest.raises(DataError, match=r"expected the path of the CSV file to write|NUL"):
        write_csv(path, ["a"], [[1.0]])


@pytest.mark.parametrize("path", [5, b"t.csv", ["t.csv"]])
def test_the_wrong_type_is_named_with_what_would_do(path: object) -> None:
    """The one check of file names (chainrule.io.check_file_name) names the type; the
    reader adds that a DataFrame would do too."""
    kind = type(path).__name__
    with pytest.raises(DataError, match=rf"cannot read .*got {kind}; expected the path of a "
                                        r"CSV file \(a str or pathlib.Path\) or a pandas"):
        read_frame(path)
    with pytest.raises(DataError, match=rf"cannot write to .*got {kind}; expected the path"):
        write_csv(path, ["a"], [[1.0]])


def test_an_empty_file_name_is_named(tmp_path: Path) -> None:
    for call in (lambda: load_csv("", "y"), lambda: read_frame(""),
                 lambda: write_csv("", ["a"], [[1.0]])):
        with pytest.raises(DataError, match="the file name is empty"):
            call()


TEXT = 'a\tb\tnote\ty\n1\t2.5\t"two\nlines"\tyes\n2\t3.5\tplain\tno\n3\t4.5\t\tno\n'


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le", "utf-16-be", "utf-32",
                                      "utf-8-sig"])
def test_unicode_text_files_read_as_their_utf8_twins(tmp_path: Path, encoding: str) -> None:
    twin = tmp_path / "utf8.csv"
    twin.write_text(TEXT, encoding="utf-8", newline="")
    path = tmp_path / "t.csv"
    bom = "" if encoding in ("utf-16", "utf-32", "utf-8-sig") else "\ufeff"
    path.write_bytes((bom + TEXT).encode(encoding))
    pd.testing.assert_frame_equal(read_frame(str(path)), read_frame(str(twin)))
    got = ThreadRanks(2).run(lambda comm, r: read_share(str(path), comm))
    assert pd.concat(got).values.tolist() == read_frame(str(twin)).values.tolist()


def test_a_bad_cell_of_a_utf16_file_is_named_by_its_row(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_bytes(("\ufeff" + "a\ty\n1\t0\n\n2\t1\nx\t1\n").encode("utf-16-le"))
    with pytest.raises(DataError, match=r"t\.csv: non-numeric value 'x' at row 5, column 'a'"):
        load_csv(str(path), "y")


def test_utf16_without_a_byte_order_mark_names_the_encoding(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_bytes(TEXT.encode("utf-16-le"))
    with pytest.raises(DataError, match="looks like UTF-16 LE text without a byte-order mark"):
        read_frame(str(path))
