"""Quotes that open nothing (``12"`` for inches), quoted line breaks, doubled quotes, lone
carriage returns: under real mpiexec every rank reads only its share of the file, and the
shares together are what one process reads of the whole file (the same rows, column types
and spreadsheet row numbers, or the same error).

Counting quotes (an odd count before a line feed means it is inside quotes) found the record
starts before: an inch mark turned the count over, a cut landed inside a quoted address,
and the ranks read 124 rows where one process reads 123."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("pandas")

from chainrule.data.tabular import read_frame, record_number
from chainrule.errors import ChainruleError

sys.path.insert(0, str(Path(__file__).parent))
from mpi_run import needs_mpi, run_bounded, script

SRC = str(Path(__file__).parents[2] / "src")


def _addresses(seed: int = 2, n: int = 123) -> str:
    """Two inch marks and, in the last column, quoted two-line addresses whose second line
    holds three delimiters (a cut inside one parses as two records of four values each)."""
    rng = np.random.default_rng(seed)
    marks = sorted(rng.choice(n, size=2, replace=False).tolist())
    rows = ["width,size,colour,address"]
    for i in range(n):
        size = f'{12 + i % 5}"' if i in marks else str(rng.choice(["S", "M", "L"]))
        address = '"1 Main St\nSpringfield, IL, 62701, USA"' if rng.random() < .3 else "Berlin"
        rows.append(f"{rng.normal(30, 5):.1f},{size},{rng.choice(['red', 'blue'])},{address}")
    return "\n".join(rows) + "\n"


def _dense(cells: list[str], n: int = 90, eol: str = "\n") -> str:
    """A number, then the cells in turn (so that every cut lands in or near one), then y."""
    rows = ["a,c,y"] + [f"{i},{cells[i % len(cells)]},{'yes' if i % 3 else 'no'}"
                        for i in range(n)]
    return eol.join(rows) + eol


def _fuzz(seed: int) -> str:
    """Random cells: plain quotes inside unquoted values, quoted values holding delimiters,
    line feeds, carriage returns and doubled quotes, text after a closing quote, blank lines;
    LF, CR LF or lone CR line ends."""
    rng = np.random.default_rng(seed)

    def cell() -> str:
        r = rng.random()
        if r < .15:
            return str(rng.choice(['12"', '5"x', 'a""', 'x"y"', '3"""']))
        if r < .35:
            text = "".join(rng.choice(list('ab1,\n\r"'), size=int(rng.integers(0, 7))))
            return '"' + text.replace('"', '""') + '"' + ("x" if rng.random() < .1 else "")
        return str(rng.choice(["x", "yy", "12", "3.5", ""]))

    width = int(rng.integers(1, 5))
    rows = [",".join(f"c{j}" for j in range(width))]
    for _ in range(int(rng.integers(3, 60))):
        rows.append(",".join(cell() for _ in range(width)))
        if rng.random() < .05:
            rows.append("")
    eol = str(rng.choice(["\n", "\r\n", "\r"]))
    return eol.join(rows) + (eol if rng.random() < .8 else "")


FILES = {
    "inch_marks_and_two_line_addresses": _addresses(),
    "inch_marks_and_two_line_addresses_crlf": _addresses(8).replace("\n", "\r\n"),
    "one_inch_mark": _addresses(3).replace('13"', "M").replace('15"', "M").replace(
        '12"', "M").replace('14"', "M").replace('16"', "M").replace(",M,", ',12",', 1),
    "doubled_quotes": _dense(['""""', '"a""\nb"', 'x""', '"""x"""', '"p\n""q""\n"']),
    "quoted_delimiter_and_line_break": _dense(['",\n,"', '"x\n1,2,3"', "k", '12"']),
    "lone_cr": _dense(['"a\rb"', '7"', "k", '"\r\n"'], eol="\r"),
    "text_after_closing_quote": _dense(['"ab"x', '"a""b"y"', "k", '"\n"z']),
    "inch_mark_at_every_row": _dense(['12"', '"x\ny"']),
    **{f"random_{seed}": _fuzz(seed) for seed in range(40)},
}


def _whole(path: Path) -> dict:
    """What one process reads (as the MPI script describes each rank's share)."""
    try:
        frame = read_frame(str(path))
    except ChainruleError as err:
        return {"error": str(err)}
    return {"rows": [[None if v != v else str(v) for v in r]
                     for r in frame.itertuples(index=False)],
            "dtypes": [str(t) for t in frame.dtypes],
            "records": [record_number(frame, i) for i in range(len(frame))]}


@pytest.fixture(scope="module", params=[2, 3])
def shares(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
           ) -> tuple[Path, list[dict]]:
    """Every file read by one mpiexec job on 2 and on 3 ranks: (folder, each rank's
    results by file)."""
    ranks = request.param
    folder = tmp_path_factory.mktemp(f"quoting{ranks}")
    for name, text in FILES.items():
        (folder / f"{name}.csv").write_bytes(text.encode())
    proc = run_bounded(ranks, script("mpi_share_rows_script.py"), str(folder),
                       *[str(folder / f"{name}.csv") for name in FILES], PYTHONPATH=SRC)
    assert proc.returncode == 0, proc.stderr
    return folder, [json.loads((folder / f"rank{r}.json").read_text()) for r in range(ranks)]


@needs_mpi
@pytest.mark.parametrize("name", list(FILES))
def test_the_shares_are_what_one_process_reads(shares: tuple, name: str) -> None:
    folder, got = shares
    path = folder / f"{name}.csv"
    whole = _whole(path)
    mine = [g[str(path)] for g in got]
    if "error" in whole:
        assert all(m == whole for m in mine), (whole, mine)
        return
    assert all("error" not in m for m in mine), mine
    assert [row for m in mine for row in m["rows"]] == whole["rows"]
    assert [n for m in mine for n in m["records"]] == whole["records"]
    assert all(m["dtypes"] == whole["dtypes"] for m in mine)

