"""Run under mpiexec by test_shares_mpi.py: each rank prepares the table as
``chainrule train --data`` does (reading only its share of the file) and writes what it ended
with, and every call it made to pandas' CSV parser, to OUT/rank<r>.json.

usage: mpi_share_script.py DATA OUT [TARGET]
"""

import io
import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from chainrule.distributed import MPICommunicator, run
from chainrule.workflow import TrainConfig, read_table

parsed: list[dict] = []
_read_csv = pd.read_csv


def spy(source, *args, **kwargs):
    """pandas.read_csv, noting what it was given: a path (the whole file) or bytes."""
    if isinstance(source, io.BytesIO):
        parsed.append({"bytes": len(source.getbuffer())})
    else:
        parsed.append({"path": str(source)})
    return _read_csv(source, *args, **kwargs)


def main() -> None:
    data, out = sys.argv[1], Path(sys.argv[2])
    target = sys.argv[3] if len(sys.argv) > 3 else "y"
    pd.read_csv = spy
    comm = MPICommunicator()
    prep = read_table(TrainConfig(data=data, target=target, test_split=0.2, distributed=True),
                      comm)
    (out / f"rank{comm.rank}.json").write_text(json.dumps({
        "encoder": prep.encoder.to_dict(), "features": prep.feature_names,
        "classes": prep.class_names, "task": prep.task, "n_rows": prep.n_rows,
        "offset": prep.offset, "X": prep.X.tolist(), "y": prep.y.tolist(),
        "split": [s.tolist() for s in prep.split],
        "split_rows": [s.tolist() for s in prep.split_rows], "notes": prep.notes,
        "parsed": parsed}))


if __name__ == "__main__":
    np.seterr(all="raise")
    run(main)
