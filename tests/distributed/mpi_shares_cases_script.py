"""Run under mpiexec by test_shares_cases_mpi.py: prepares each job of a list as
``chainrule train --data`` does, each rank reading only its share of the file, and writes what
every rank ended with (or the error it stopped with) to OUT/rank<r>.json.

usage: mpi_shares_cases_script.py JOBS.json OUT

JOBS.json: a list of {"name", "data", "target", "options"} (options: TrainConfig fields).
"""

import json
import sys
from pathlib import Path

from chainrule.distributed import MPICommunicator, run
from chainrule.errors import ChainruleError
from chainrule.workflow import TrainConfig, read_table


def main() -> None:
    jobs, out = json.loads(Path(sys.argv[1]).read_text()), Path(sys.argv[2])
    comm = MPICommunicator()
    results = {}
    for job in jobs:
        cfg = TrainConfig(data=job["data"], target=job["target"], distributed=True,
                          **job["options"])
        try:  # errors here are agreed by every rank (read_table's collectives stay in step)
            prep = read_table(cfg, comm)
        except ChainruleError as err:
            results[job["name"]] = {"error": str(err)}
            continue
        results[job["name"]] = {
            "encoder": prep.encoder.to_dict(), "features": prep.feature_names,
            "classes": prep.class_names, "task": prep.task, "n_rows": prep.n_rows,
            "offset": prep.offset, "X": prep.X.tolist(), "y": prep.y.tolist(),
            "split_rows": [s.tolist() for s in prep.split_rows], "notes": prep.notes}
    (out / f"rank{comm.rank}.json").write_text(json.dumps(results))


if __name__ == "__main__":
    run(main)
