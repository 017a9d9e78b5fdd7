"""Reading a numeric CSV file under MPI: each rank parses only its share of the records, so
each rank's time and memory shrink with the number of ranks.

    flock /tmp/bench.lock python bench/csv_shares.py               # 200 MB, 1 and 2 ranks
    flock /tmp/bench.lock python bench/csv_shares.py --mb 50 --ranks 1 2 4 --runs 3
    python bench/csv_shares.py --quick                              # a 2 MB smoke run

Method.  The numeric file of ``bench/csv_read.py`` (random normals at full precision, 50
columns, the last named ``y``).  For each rank count, ``--runs`` fresh ``mpiexec -n N`` jobs
run this file with ``--worker``: every rank imports what it needs, resets its peak resident
set, reads the file as ``chainrule train --data path --target y --distributed`` does before
training (``chainrule.workflow.read_table`` with an MPI communicator: its share of the records,
the column typing and encoder agreed across ranks, its rows encoded) and reports its wall time,
its peak resident set minus the starting one, and its rows.  The table shows, per rank count,
the medians over runs of the slowest rank's time and the largest rank's memory, against the
parsed float64 array of the whole file.  Each rank is pinned to one BLAS thread; with more
ranks than cores the ranks share cores, so time stops shrinking there.  The processes run
without ``OPENBLAS_CORETYPE``/``OPENBLAS_L2_SIZE`` (see ``bench/machine.py``).
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Any

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
if sys.path and os.path.abspath(sys.path[0]) == HERE:
    sys.path[0] = ROOT  # import bench.* as a package

from bench.csv_read import COLUMNS, _reset_peak, _rss_mb, write_numeric  # noqa: E402
from bench.machine import peak_rss_mb, peer_env  # noqa: E402


def worker(path: str) -> dict[str, Any]:
    import pandas  # noqa: F401  (imported before the measurement, as a CLI run has it)
    import pyarrow.csv  # noqa: F401

    from chainrule.distributed import MPICommunicator
    from chainrule.workflow import TrainConfig, read_table

    comm = MPICommunicator()
    gc.collect()
    _reset_peak()
    before = _rss_mb()
    start = time.perf_counter()
    prep = read_table(TrainConfig(data=path, target="y", task="regression", val_split=0.2,
                                  distributed=True), comm)
    seconds = time.perf_counter() - start
    mine = {"rank": comm.rank, "seconds": seconds, "memory_mb": peak_rss_mb() - before,
            "rows": len(prep.y), "n_rows": prep.n_rows}
    return {"ranks": comm.gather(mine)}


def _job(ranks: int, path: str, timeout: float) -> list[dict[str, Any]]:
    env = peer_env(dict(os.environ), os.path.join(ROOT, "src"))
    env.update(OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")
    mpiexec = shutil.which("mpiexec") or os.path.join(os.path.dirname(sys.executable),
                                                      "mpiexec")
    proc = subprocess.run([mpiexec, "-n", str(ranks), sys.executable, os.path.abspath(__file__),
                           "--worker", path], capture_output=True, text=True, env=env,
                          timeout=timeout)
    if proc.returncode != 0:
        raise RuntimeError(f"{ranks} rank(s) failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[0])["ranks"]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--mb", type=float, default=200.0, help="size of the numeric file (MB)")
    p.add_argument("--ranks", type=int, nargs="+", default=[1, 2], help="rank counts")
    p.add_argument("--runs", type=int, default=3, help="jobs per rank count (medians)")
    p.add_argument("--quick", action="store_true", help="a 2 MB file, one run: a smoke run")
    p.add_argument("--worker", metavar="PATH", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.worker:
        from mpi4py import MPI

        out = worker(args.worker)
        if MPI.COMM_WORLD.Get_rank() == 0:
            print(json.dumps(out))
        return 0
    megabytes, runs = (2.0, 1) if args.quick else (args.mb, args.runs)
    with tempfile.TemporaryDirectory(prefix="chainrule-csv-") as tmp:
        path = os.path.join(tmp, "numeric.csv")
        rows = write_numeric(path, megabytes)
        array_mb = rows * COLUMNS * 8 / 2**20
        print(f"numeric file: {os.path.getsize(path) / 1e6:.1f} MB, {rows:,} rows x {COLUMNS} "
              f"columns; parsed float64 array {array_mb:.1f} MiB; medians of {runs} job(s)")
        print(f"{'ranks':>5} {'slowest s':>10} {'largest MiB':>12} {'vs array':>9} "
              f"{'rows per rank':>20}")
        for n in args.ranks:
            jobs = [_job(n, path, 120 + 20 * megabytes) for _ in range(runs)]
            assert all(sum(r["rows"] for r in job) == job[0]["n_rows"] for job in jobs)
            seconds = statistics.median(max(r["seconds"] for r in job) for job in jobs)
            memory = statistics.median(max(r["memory_mb"] for r in job) for job in jobs)
            shares = "/".join(f"{r['rows']:,}" for r in jobs[0])
            print(f"{n:>5} {seconds:>10.2f} {memory:>12.1f} {memory / array_mb:>8.2f}x "
                  f"{shares:>20}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
