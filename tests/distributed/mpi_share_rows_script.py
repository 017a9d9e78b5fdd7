"""Run under mpiexec by test_share_quoting_mpi.py and test_same_file_mpi.py: each rank reads
its share of every file named (``read_share``) and writes, per file, its rows (cells as text),
column types and each row's spreadsheet row number, or the error it stopped with, to
OUT/rank<r>.json.

usage: mpi_share_rows_script.py OUT [--chdir-per-rank DIR] FILE...

``--chdir-per-rank DIR``: rank r works in DIR/rank<r>, so one relative path names a different
file on each rank (as node-local copies do).
"""

import json
import os
import sys
from pathlib import Path

from chainrule.data.shares import read_share
from chainrule.data.tabular import record_number
from chainrule.distributed import MPICommunicator, run
from chainrule.errors import ChainruleError


def described(frame: object) -> dict:
    """What a test compares: cells as text (None where missing), types, row numbers."""
    rows = [[None if v != v else str(v) for v in r] for r in frame.itertuples(index=False)]
    return {"rows": rows, "dtypes": [str(t) for t in frame.dtypes],
            "records": [record_number(frame, i) for i in range(len(frame))]}


def main() -> None:
    out, files = Path(sys.argv[1]).resolve(), sys.argv[2:]
    comm = MPICommunicator()
    if files[:1] == ["--chdir-per-rank"]:
        os.chdir(Path(files[1]) / f"rank{comm.rank}")
        files = files[2:]
    results = {}
    for name in files:
        try:  # errors here are agreed by every rank (read_share's collectives stay in step)
            results[name] = described(read_share(name, comm))
        except ChainruleError as err:
            results[name] = {"error": str(err)}
    (out / f"rank{comm.rank}.json").write_text(json.dumps(results))


if __name__ == "__main__":
    run(main)
