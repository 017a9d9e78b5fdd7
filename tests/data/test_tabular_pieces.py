"""The pieces of a file that MPI ranks read: contiguous byte ranges of whole records (quoted
line breaks, missing cells, text columns, blank lines) that together give the frame one read
of the whole file gives; a quote never closed and a NUL byte show in the scan."""

from __future__ import annotations

import io
import itertools
from pathlib import Path

import numpy as np
import pytest

pd = pytest.importorskip("pandas")

from chainrule.data import pieces  # noqa: E402
from chainrule.data.tabular import read_frame  # noqa: E402
from chainrule.errors import DataError  # noqa: E402


def _table(n: int = 120) -> str:
    rng = np.random.default_rng(5)
    lines = ["x,colour,note,y"]
    for i in range(n):
        x = "NA" if i % 17 == 3 else repr(float(rng.normal()))
        colour = ["red", "blue", ""][i % 3]
        note = f'"line one\nline two, {i}"' if i % 7 == 0 else f"plain {i}"
        lines.append(f"{x},{colour},{note},{i % 2}")
        if i == 50:
            lines.append("")  # a blank line
    return "\n".join(lines) + "\n"


def test_a_bad_row_late_in_the_file_is_named(tmp_path: Path) -> None:
    rows = [f"{i},{i}" for i in range(80)]
    rows[70] = "1,2,3"
    path = tmp_path / "t.csv"
    path.write_text("a,b\n" + "\n".join(rows) + "\n")
    with pytest.raises(DataError, match="row 72 has 3 values but the header has 2"):
        read_frame(str(path))


def _record_starts(data: bytes) -> set[int]:
    """Every offset where a record starts, by a byte-by-byte walk (quotes toggle)."""
    starts, inside = set(), False
    for i, b in enumerate(data):
        if b == ord('"'):
            inside = not inside
        elif b == ord("\n") and not inside:
            starts.add(i + 1)
    return starts


@pytest.mark.parametrize("size", [1, 2, 3, 5, 40])
def test_rank_ranges_cover_the_records_and_split_only_between_them(tmp_path: Path,
                                                                   size: int) -> None:
    path = tmp_path / "t.csv"
    path.write_text(_table(90))
    data = path.read_bytes()
    header_end = data.index(b"\n") + 1
    total = len(data)
    scans = [pieces.share_scan(str(path), header_end, r, size, ",") for r in range(size)]
    found = [pieces.record_range(str(path), header_end, r, size, scans) for r in range(size)]
    assert all(f.balanced for f in found)
    ranges = [(f.start, f.stop) for f in found]
    assert ranges[0][0] == header_end and ranges[-1][1] == total
    assert all(a[1] == b[0] for a, b in itertools.pairwise(ranges))  # contiguous, no overlap
    starts = _record_starts(data) | {total}
    assert all(start in starts for start, _ in ranges)
    # each range's count of record ends, by the same walk
    assert [pieces.records_in(str(path), a, b) for a, b in ranges] == \
        [sum(1 for s in _record_starts(data) if a < s <= b) for a, b in ranges]
    # every range parses as whole rows: together they give the file's rows, in order
    options = {"keep_default_na": False, "na_values": ["", "NA"]}
    parts = [pd.read_csv(io.BytesIO(data[:header_end] + data[a:b]), **options)
             for a, b in ranges if data[a:b].strip()]
    whole = pd.read_csv(path, **options)
    pd.testing.assert_frame_equal(pd.concat(parts, ignore_index=True), whole)


def test_an_unclosed_quote_shows_in_the_balance(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_bytes(b'a,b\n1,"x\n2,y\n')
    alone = [pieces.share_scan(str(path), 4, 0, 1, ",")]
    found = pieces.record_range(str(path), 4, 0, 1, alone)
    assert not found.balanced and found.nul is None
    path.write_bytes(b'a,b\n1,x\n2,\x00y\n')
    alone = [pieces.share_scan(str(path), 4, 0, 1, ",")]
    assert pieces.record_range(str(path), 4, 0, 1, alone).nul == 10
