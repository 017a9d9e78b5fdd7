"""Run under mpiexec by test_tabular_mpi.py: each rank fits the table preprocessing on its
share of the rows, combined across ranks, and writes what it ended with to OUT/rank<r>.json."""

import json
import sys
from pathlib import Path

import numpy as np

from chainrule.data.columns import TableEncoder, infer_columns
from chainrule.data.combine import agreed_mean_std
from chainrule.data.tabular import read_frame
from chainrule.distributed import MPICommunicator, run, shard_range


def main() -> None:
    data, out = sys.argv[1], Path(sys.argv[2])
    comm = MPICommunicator()
    frame = read_frame(data)
    plans = infer_columns(frame, "y")
    share = frame.iloc[slice(*shard_range(len(frame), comm.rank, comm.size))]
    encoder = TableEncoder(plans).fit(share, comm=comm)
    mean, std, n = agreed_mean_std(encoder.transform(share), comm)
    (out / f"rank{comm.rank}.json").write_text(json.dumps(
        {"encoder": encoder.to_dict(), "mean": mean.tolist(), "std": std.tolist(), "n": n,
         "rows": len(share)}))


if __name__ == "__main__":
    np.seterr(all="raise")
    run(main)
