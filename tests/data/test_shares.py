"""A rank's share of a CSV file (chainrule.data.shares), with ranks simulated by threads
(tests/distributed runs real mpiexec): in rank order the shares are the rows of one read of the
whole file, with its column types, and every row keeps its record number."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pd = pytest.importorskip("pandas")

from ranks import ThreadRanks  # noqa: E402

from chainrule.data.shares import read_share  # noqa: E402
from chainrule.data.tabular import read_frame, record_number  # noqa: E402
from chainrule.errors import DataError  # noqa: E402


def _cells(s: pd.Series) -> list:
    return s.astype(object).where(s.notna(), None).tolist()


def _table(path: Path, n: int = 200, blank: bool = False) -> None:
    """Columns whose type a share of the rows alone gets wrong: whole numbers then decimals,
    numbers then one word, true/false with one gap late, quoted line breaks, blank lines."""
    rng = np.random.default_rng(0)
    lines = ["id,x,b,d,t,q,y"]
    for i in range(n):
        x = "NA" if i == 150 else f"{rng.normal():.3f}" if i > 120 else str(i % 5)
        b = "NA" if i == n - 3 else ("true" if i % 3 else "false")
        t = "word" if i == n - 10 else str(i)
        q = f'"multi\nline, {i % 4}"' if i % 17 == 0 else f"q{i % 4}"
        lines.append(f"{i},{x},{b},2020-01-{1 + i % 28:02d},{t},{q},{i % 2}")
        if blank and i % 45 == 44:
            lines.append("")
    path.write_text("\n".join(lines) + "\n")


@pytest.mark.parametrize("size", [2, 3, 5])
@pytest.mark.parametrize("blank", [False, True])
def test_shares_are_the_whole_files_rows_types_and_row_numbers(tmp_path: Path, size: int,
                                                              blank: bool) -> None:
    path = tmp_path / "t.csv"
    _table(path, blank=blank)
    whole = read_frame(str(path))
    shares = ThreadRanks(size).run(lambda comm, rank: read_share(str(path), comm))
    assert all(0 < len(s) < len(whole) for s in shares)
    joined = pd.concat(shares)
    assert list(joined.index) == list(range(len(whole)))
    for column in whole.columns:
        assert _cells(joined[column]) == _cells(whole[column]), column
        for s in shares:  # one type per column, the whole file's
            assert s[column].dtype == whole[column].dtype, (column, s[column].dtype)
    for s in shares:
        assert [record_number(s, p) for p in range(len(s))] == \
            [record_number(whole, int(i)) for i in s.index]
        kept = s[s["x"].notna()]  # still right after rows are filtered out
        assert [record_number(kept, p) for p in range(len(kept))] == \
            [record_number(whole, int(i)) for i in kept.index]


def test_more_ranks_than_records_leave_some_ranks_empty(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_text("a,b\n1,x\n2.5,y\n")
    whole = read_frame(str(path))
    shares = ThreadRanks(4).run(lambda comm, rank: read_share(str(path), comm))
    assert sum(len(s) for s in shares) == 2 and any(len(s) == 0 for s in shares)
    joined = pd.concat([s for s in shares if len(s)])
    assert _cells(joined["a"]) == [1.0, 2.5] and joined["a"].dtype == whole["a"].dtype


def test_a_dataframe_is_cut_into_contiguous_shares(tmp_path: Path) -> None:
    frame = pd.DataFrame({"a": range(10), "b": list("abcdefghij")})
    shares = ThreadRanks(3).run(lambda comm, rank: read_share(frame, comm))
    assert all(len(s) for s in shares)
    pd.testing.assert_frame_equal(pd.concat(shares), frame)
    assert record_number(shares[2], 0) == 2 + int(shares[2].index[0])


def test_dataframes_that_differ_between_the_ranks_are_refused_on_every_rank() -> None:
    frames = [pd.DataFrame({"a": range(10), "b": range(10)}),
              pd.DataFrame({"a": range(12), "b": range(12)}),
              pd.DataFrame({"b": range(10), "a": range(10)})]

    def share(comm: object, rank: int) -> str:
        try:
            read_share(frames[rank], comm)
        except DataError as err:
            return str(err)
        return "read"

    got = ThreadRanks(3).run(share)
    assert len(set(got)) == 1, got
    assert got[0].startswith("the DataFrame differs between the ranks: rank 0: 10 rows, "
                             "columns a, b; rank 1: 12 rows, columns a, b; rank 2: 10 rows, "
                             "columns b, a")


def _column_file(path: Path, cells: list[str]) -> None:
    path.write_text("a,m\n" + "".join(f"{i:03d},{c}\n" for i, c in enumerate(cells)))


@pytest.mark.parametrize(("first", "then"), [
    (["1", "0"], ["True", "False"]),  # the C engine reads the whole column as text
    (["3", "-7"], ["9223372036854775808", "18446744073709551616"]),  # beyond int64
    (["2.5", "1"], ["18446744073709551616"]),
    (["x", "y"], ["9223372036854775808"]),
])
@pytest.mark.parametrize("ranks", [2, 3])
def test_shares_type_a_column_as_the_whole_file_at_every_cut(
        tmp_path: Path, first: list[str], then: list[str], ranks: int) -> None:
    path = tmp_path / "t.csv"
    for k in range(3, 38):  # where the cells change kind, so that some cut falls there
        cells = [first[i % len(first)] if i < k else then[i % len(then)] for i in range(40)]
        _column_file(path, cells)
        whole = read_frame(str(path))
        shares = ThreadRanks(ranks).run(lambda comm, rank: read_share(str(path), comm))
        assert all(s["m"].dtype == whole["m"].dtype for s in shares if len(s)), k
        assert _cells(pd.concat(shares)["m"]) == _cells(whole["m"]), k
