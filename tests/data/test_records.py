"""Where records end: the quoting rule of CSV parsers (a quote opens a value only at its
start; ``12"`` is text), checked against a byte-by-byte walk and Python's ``csv`` module, and
what it fixes in reading: files with plain quotes are read, not refused or cut in two."""

from __future__ import annotations

import csv
import io
import itertools
from pathlib import Path

import numpy as np
import pytest

from chainrule.data import pieces
from chainrule.data.records import QuoteScan, states_after

pd = pytest.importorskip("pandas")

from chainrule.data.csvio import load_csv  # noqa: E402
from chainrule.data.diagnosis import exact_records  # noqa: E402
from chainrule.data.tabular import read_frame, record_number  # noqa: E402
from chainrule.errors import DataError  # noqa: E402


def _walk(data: bytes, delimiter: bytes = b",") -> tuple[list[int], bool]:
    """The offsets of the bytes that end a record, and whether the data ends inside quotes,
    by the CSV parser's states one byte at a time: at a value's start, in an unquoted value,
    in a quoted one, just after a quote inside a quoted one."""
    start, unquoted, quoted, after_quote = range(4)
    state, ends = start, []
    for i, b in enumerate(data):
        c = bytes([b])
        if state == quoted:
            state = after_quote if c == b'"' else quoted
        elif state == after_quote and c == b'"':
            state = quoted  # "" inside quotes: one quote
        elif c == b"\n" or (c == b"\r" and data[i + 1:i + 2] != b"\n"):
            ends.append(i)
            state = start
        elif c in (b"\r", delimiter):
            state = start
        elif state == start and c == b'"':
            state = quoted
        else:
            state = unquoted  # a quote here is a plain character
    return ends, state == quoted


def _random_bytes(rng: np.random.Generator, n: int) -> bytes:
    return bytes(rng.choice(list(b'ab,\n\r""" '), size=n).tolist())


def test_record_ends_follow_the_parser_byte_by_byte_across_any_blocks() -> None:
    rng = np.random.default_rng(5)
    for _ in range(3000):
        data = _random_bytes(rng, int(rng.integers(0, 40)))
        want, inside = _walk(data)
        cuts = sorted({0, len(data), *rng.integers(0, len(data) + 1, size=3).tolist()})
        scan, got = QuoteScan(b","), []
        for a, b in itertools.pairwise(cuts):
            following = data[b] if b < len(data) else None
            got += [a + int(x) for x in scan.record_ends(data[a:b], following)]
        assert (got, scan.state.inside) == (want, inside), data


def test_the_walk_and_the_reading_agree_with_the_csv_module(tmp_path: Path) -> None:
    """The byte walk above is the rule the parsers follow: cut at its record ends, each
    piece is one record to Python's csv module; and read_frame reads the rows it reads
    (pandas' C engine alone shifts the values of a record that begins with a delimiter
    after a blank line made of a lone carriage return)."""
    rng = np.random.default_rng(9)
    path, tried = tmp_path / "t.csv", 0
    for _ in range(1500):
        data = b"x,y\n" + _random_bytes(rng, int(rng.integers(0, 40))) + b"\n"
        ends, inside = _walk(data)
        if inside:
            continue
        rows = list(csv.reader(io.StringIO(data.decode(), newline="")))
        starts = [0] + [e + 1 for e in ends]
        parts = [list(csv.reader(io.StringIO(data[a:b].decode(), newline="")))
                 for a, b in itertools.pairwise(starts)]
        assert [r for p in parts for r in p] == rows and all(len(p) <= 1 for p in parts)
        present = [r for r in rows[1:] if r]
        if present and all(len(r) == 2 for r in present):
            tried += 1
            path.write_bytes(data)
            assert read_frame(str(path), raw=True).values.tolist() == present, data
    assert tried > 50


def test_a_cut_anywhere_begins_in_one_of_the_states_its_byte_before_allows() -> None:
    rng = np.random.default_rng(3)
    for _ in range(3000):
        data = _random_bytes(rng, int(rng.integers(2, 40)))
        cut = int(rng.integers(1, len(data)))
        scan = QuoteScan(b",")
        scan.structural(data[:cut])
        assert scan.state in states_after(data[cut - 1], b",")


def _ranges(path: Path, size: int) -> list[pieces.RecordRange]:
    """Every rank's record range, the ranks simulated in one process."""
    data = path.read_bytes()
    header_end = _walk(data)[0][0] + 1
    scans = [pieces.share_scan(str(path), header_end, r, size, ",") for r in range(size)]
    return [pieces.record_range(str(path), header_end, r, size, scans) for r in range(size)]


@pytest.mark.parametrize("seed", range(30))
def test_rank_ranges_begin_at_the_parsers_record_starts(tmp_path: Path, seed: int) -> None:
    rng = np.random.default_rng(seed)
    cells = ['12"', '"a,\nb"', '"x""\n"', "k", '"p\r\nq"', '5"x']
    rows = ["a,b,c"] + [",".join(rng.choice(cells, size=3)) for _ in range(40)]
    path = tmp_path / "t.csv"
    path.write_text("\n".join(rows) + "\n", newline="")
    data = path.read_bytes()
    starts = {e + 1 for e in _walk(data)[0]}
    for size in (2, 3, 7):
        ranges = _ranges(path, size)
        assert all(r.balanced for r in ranges)
        assert all(a.stop == b.start for a, b in itertools.pairwise(ranges))
        assert all(r.start in starts for r in ranges)
        assert [pieces.records_in(str(path), r.start, r.stop) for r in ranges] == \
            [sum(r.start < s <= r.stop for s in starts) for r in ranges]


def _written(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "t.csv"
    path.write_bytes(text.encode())
    return path


def test_an_odd_number_of_plain_quotes_is_read_not_refused(tmp_path: Path) -> None:
    # one inch mark: an odd count of quotes, every quote closed
    path = _written(tmp_path, 'a,size,note,y\n1,12",x,yes\n2,m,"b\nc",no\n3,m,x,no\n')
    frame = read_frame(str(path))
    assert frame["size"].tolist() == ['12"', "m", "m"]
    assert frame["note"].tolist() == ["x", "b\nc", "x"]


def test_a_quote_never_closed_after_a_plain_quote_is_still_refused(tmp_path: Path) -> None:
    path = _written(tmp_path, 'a,size,y\n1,12",yes\n2,m,"no\n3,m,no\n')
    with pytest.raises(DataError, match="never closed"):
        read_frame(str(path))


def test_a_plain_quote_in_the_header_does_not_swallow_the_first_rows(tmp_path: Path) -> None:
    path = _written(tmp_path, 'a,size 12",y\n1,2,yes\n3,"4\n5",no\n')
    frame = read_frame(str(path))
    assert list(frame.columns) == ["a", 'size 12"', "y"]
    assert frame["a"].tolist() == [1, 3] and frame["size 12\""].tolist() == ["2", "4\n5"]


def test_quoted_line_breaks_are_read_beyond_the_first_megabyte(tmp_path: Path) -> None:
    """pandas' pyarrow engine reads a file in blocks of 1 MB found by line feeds and refused
    a longer file with quoted line breaks ("out of sync with chunker")."""
    rows = [f'{i},{12 + i % 3}",' + ('"two\nlines"' if i % 4 == 0 else "one")
            for i in range(120_000)]
    path = _written(tmp_path, "a,size,note\n" + "\n".join(rows) + "\n")
    assert path.stat().st_size > 1 << 20
    got = read_frame(str(path))
    assert len(got) == 120_000 and got["a"].tolist() == list(range(120_000))
    assert got["note"].iloc[0] == "two\nlines" and got["size"].iloc[1] == '13"'


@pytest.mark.parametrize("eol", ["\n", "\r\n", "\r"])
def test_row_numbers_count_blank_lines_with_any_line_end(tmp_path: Path, eol: str) -> None:
    path = tmp_path / "t.csv"
    path.write_bytes(eol.join(["a,y", "1,0", "", "", "2,1", "x,1", ""]).encode())
    with pytest.raises(DataError, match="'x' at row 6, column 'a'"):
        load_csv(str(path), "y")


def test_row_numbers_of_files_the_csv_module_reads_strictly_otherwise(tmp_path: Path) -> None:
    """Text after a closing quote (the parsers read "ab"x as abx) and a value longer than
    the csv module's default limit: the row is still named, with no csv.Error."""
    big = "x" * 200_000
    path = _written(tmp_path, f'a,note,y\n1,"ab"x,0\n\n2,"{big}",1\nz,ok,1\n')
    with pytest.raises(DataError, match="'z' at row 5, column 'a'"):
        load_csv(str(path), "y", features=["a"])
    frame = read_frame(str(path))
    assert [record_number(frame, i) for i in range(len(frame))] == [2, 4, 5]


def test_reading_long_values_leaves_the_csv_modules_limit_alone(tmp_path: Path) -> None:
    """The csv module's field size limit is one setting for the whole process: reading a
    value of 200,000 characters raises it only while a record is read, so the user's own
    limit holds after the read and between the records handed on (it was left at 2**31-1)."""
    big = "x" * 200_000
    path = _written(tmp_path, f'a,note,y\n1,"ab"x,0\n\n2,"{big}",1\nz,ok,1\n')
    mine = csv.field_size_limit(4321)
    try:
        with pytest.raises(DataError, match="'z' at row 5, column 'a'"):
            load_csv(str(path), "y", features=["a"])
        assert csv.field_size_limit() == 4321
        frame = read_frame(str(path))
        assert [record_number(frame, i) for i in range(len(frame))] == [2, 4, 5]
        assert csv.field_size_limit() == 4321
        plain = tmp_path / "plain.csv"
        plain.write_text(f'a,note\n1,"{big}"\n2,{big}\n')
        cells = []
        for _, row in exact_records(str(plain), ","):
            assert csv.field_size_limit() == 4321  # the caller's code runs with its own
            cells.append(row)
        assert cells == [["a", "note"], ["1", big], ["2", big]]
    finally:
        csv.field_size_limit(mine)


@pytest.mark.parametrize("block", [3, 7, 1 << 20])
def test_the_count_of_values_finds_every_short_record(tmp_path: Path, block: int,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """The vectorised count (which decides whether the exact pass runs) against the csv
    module's records, over random files and blocks that cut records anywhere."""
    monkeypatch.setattr(pieces, "_BLOCK", block)
    rng = np.random.default_rng(11)
    path = tmp_path / "t.csv"
    for _ in range(400):
        data = b"x,y,z\n" + _random_bytes(rng, int(rng.integers(0, 40)))
        if _walk(data)[1]:
            continue
        path.write_bytes(data)
        rows = list(csv.reader(io.StringIO(data.decode(), newline="")))[1:]
        short = any(0 < len(r) < 3 for r in rows)  # blank lines are [] to the csv module
        assert pieces.has_short_record(str(path), (6, len(data)), ",", 3) == short, data
