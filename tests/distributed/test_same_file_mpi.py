"""One path, different files: under real mpiexec each rank works in its own folder, so the
relative path ``data.csv`` names a different copy on each rank (as files local to each node
do).  Copies that differ in size, column order or content are refused on every rank, with a
DataError that names the ranks and what differs, before any rank reads its share; the job
neither hangs nor trains on a mix of the files ("201 rows")."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

pytest.importorskip("pandas")

sys.path.insert(0, str(Path(__file__).parent))
from mpi_run import needs_mpi, run_bounded, script

SRC = str(Path(__file__).parents[2] / "src")
ROWS = [f"{i},{i % 7 * 0.5},{'yes' if i % 3 else 'no'}" for i in range(100)]
TEXT = "a,b,y\n" + "\n".join(ROWS) + "\n"


def _swapped(text: str) -> str:
    """Columns a and b swapped: the same size, another header order."""
    lines = [line.split(",") for line in text.splitlines()]
    return "\n".join(",".join([b, a, y]) for a, b, y in lines) + "\n"


def _read_everywhere(tmp_path: Path, copies: list[str]) -> list[dict]:
    for rank, text in enumerate(copies):
        (tmp_path / f"rank{rank}").mkdir()
        (tmp_path / f"rank{rank}" / "data.csv").write_text(text)
    proc = run_bounded(len(copies), script("mpi_share_rows_script.py"), str(tmp_path),
                       "--chdir-per-rank", str(tmp_path), "data.csv", PYTHONPATH=SRC)
    assert proc.returncode == 0, proc.stderr
    return [json.loads((tmp_path / f"rank{r}.json").read_text())["data.csv"]
            for r in range(len(copies))]


@needs_mpi
@pytest.mark.parametrize(("copies", "expected"), [
    ([TEXT, TEXT, TEXT[:len(TEXT) // 2 + 9] + "\n"], "(its sizes differ): ranks 0, 1: "),
    ([TEXT, _swapped(TEXT)], "(its columns differ): rank 0: 1,"),
    ([TEXT, TEXT.replace("99,", "98,")], "(its contents (same size and columns) differ)"),
    ([TEXT, TEXT + "\n".join(ROWS) + "\n", TEXT], "(its sizes differ): ranks 0, 2: "),
], ids=["shorter_copy", "other_column_order", "same_size_other_rows", "longer_copy"])
def test_a_path_that_is_another_file_on_some_rank_is_refused_on_every_rank(
        tmp_path: Path, copies: list[str], expected: str) -> None:
    got = _read_everywhere(tmp_path, copies)
    for mine in got:
        assert "error" in mine, mine
        assert "data.csv is not the same file on every rank" in mine["error"]
        assert expected in mine["error"], mine["error"]
        assert "copy the same file to every node" in mine["error"]
    assert len({m["error"] for m in got}) == 1  # one message, the same on every rank


@needs_mpi
def test_the_same_copy_everywhere_is_read_in_shares(tmp_path: Path) -> None:
    got = _read_everywhere(tmp_path, [TEXT, TEXT, TEXT])
    rows = [row for mine in got for row in mine["rows"]]
    assert len(rows) == 100 and all(len(mine["rows"]) > 20 for mine in got)
    assert [n for mine in got for n in mine["records"]] == list(range(2, 102))
