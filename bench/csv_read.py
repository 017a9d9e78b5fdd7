"""Reading a numeric CSV file: chainrule's readers against ``np.loadtxt``, in time and memory.

    flock /tmp/bench.lock python bench/csv_read.py            # a 200 MB file, 3 runs each
    flock /tmp/bench.lock python bench/csv_read.py --mb 50 --runs 5 --json out.json
    python bench/csv_read.py --quick                           # a 2 MB smoke run (no timing)

Method.  The runner writes, in a temporary folder, a file of random normal floats at full
precision (``%.17g``, 50 columns, the last named ``y``) and a file with a 20,000-column header
and a few rows.  Each measurement is a fresh Python process (this file with ``--worker``) that
imports what its reader needs, resets its peak resident set (``/proc/self/clear_refs``), notes
its resident set, reads the file once, and reports the wall time and the peak resident set
minus the starting one (the memory the read cost).  The readers:

- ``loadtxt``: ``np.loadtxt(path, delimiter=',', skiprows=1)``, the yardstick;
- ``load_csv``: ``chainrule.data.load_csv(path, 'y', task='regression')``;
- ``train``: what ``chainrule train --data path --target y`` does before training
  (``chainrule.workflow.read_table``: read, type the columns, split, fit the encoding on the
  training rows and encode every row into the feature matrix).

Each reader runs ``--runs`` times, the readers taking turns; the table shows medians.  Time is
compared with loadtxt's median; memory with the size of the parsed float64 array (rows x
columns x 8 bytes).  The targets: at most 2x loadtxt's time, at most 3x the array's memory, and
the 20,000-column file read in under a second.  The sanity figures (every reader's features and
target equal loadtxt's columns bit for bit) are checked in every run.  The processes run
without ``OPENBLAS_CORETYPE``/``OPENBLAS_L2_SIZE`` (see ``bench/machine.py``).
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import hashlib
import json
import os
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

import numpy as np  # noqa: E402

from bench.machine import peak_rss_mb, peer_env  # noqa: E402

READERS = ("loadtxt", "load_csv", "train")
COLUMNS = 50
WIDE_COLUMNS = 20_000
TIME_TARGET, MEMORY_TARGET, WIDE_TARGET = 2.0, 3.0, 1.0


# -- the files ----------------------------------------------------------------------------------
def write_numeric(path: str, megabytes: float, columns: int = COLUMNS, seed: int = 0) -> int:
    """Write about ``megabytes`` MB of random normals at full precision; returns the rows."""
    rng = np.random.default_rng(seed)
    header = ",".join([f"x{j}" for j in range(columns - 1)] + ["y"])
    row_bytes = columns * 20.16  # what '%.17g' of a normal takes, with its delimiter
    rows = max(10, int(megabytes * 1e6 / row_bytes))
    with open(path, "w") as f:
        f.write(header + "\n")
        for start in range(0, rows, 20_000):
            block = rng.standard_normal((min(20_000, rows - start), columns))
            np.savetxt(f, block, fmt="%.17g", delimiter=",")
    return rows


def write_wide(path: str, columns: int = WIDE_COLUMNS, rows: int = 3, seed: int = 1) -> None:
    """A file with a ``columns``-column header and a few rows of numbers."""
    rng = np.random.default_rng(seed)
    with open(path, "w") as f:
        f.write(",".join([f"feature_{j}" for j in range(columns - 1)] + ["y"]) + "\n")
        np.savetxt(f, rng.standard_normal((rows, columns)), fmt="%.17g", delimiter=",")


# -- one measurement (the worker process) ---------------------------------------------------------
def _rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def _reset_peak() -> bool:
    """Reset VmHWM to the current resident set (Linux); False where that is not possible."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def _digest(a: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(a, dtype=np.float64).tobytes()).hexdigest()[:16]


def _prepare(reader: str) -> Any:
    """Import what ``reader`` needs (outside the measurement) and return the reading call."""
    if reader == "loadtxt":
        def read(path: str) -> tuple[np.ndarray, np.ndarray]:
            a = np.loadtxt(path, delimiter=",", skiprows=1)
            return a[:, :-1], a[:, -1]
        return read
    import pandas  # noqa: F401  (imported before the measurement, as a CLI run has it)

    from chainrule.data import load_csv, tabular
    from chainrule.workflow import TrainConfig, read_table

    tabular.require_pandas()
    with contextlib.suppress(ImportError):
        import pyarrow.csv  # noqa: F401
    if reader == "load_csv":
        def read(path: str) -> tuple[np.ndarray, np.ndarray]:
            ds = load_csv(path, "y", task="regression")
            return ds.X, ds.y
        return read

    def read_train(path: str) -> tuple[np.ndarray, np.ndarray]:
        table = read_table(TrainConfig(data=path, target="y", task="regression",
                                       val_split=0.2))
        return table.X, table.y
    return read_train


def worker(reader: str, path: str) -> dict[str, Any]:
    read = _prepare(reader)
    gc.collect()
    exact = _reset_peak()
    before = _rss_mb()
    start = time.perf_counter()
    X, y = read(path)
    seconds = time.perf_counter() - start
    peak = peak_rss_mb()
    return {"reader": reader, "seconds": seconds, "memory_mb": peak - before,
            "exact_peak": exact, "shape": [int(X.shape[0]), int(X.shape[1]) + 1],
            "digest_X": _digest(X), "digest_y": _digest(y)}


# -- the runner -----------------------------------------------------------------------------------
def _launch(reader: str, path: str, timeout: float) -> dict[str, Any]:
    env = peer_env(dict(os.environ), os.path.join(ROOT, "src"))
    proc = subprocess.run([sys.executable, os.path.abspath(__file__), "--worker", reader, path],
                          capture_output=True, text=True, env=env, timeout=timeout)
    if proc.returncode != 0:
        raise RuntimeError(f"{reader} failed on {path}:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def measure(path: str, readers: tuple[str, ...], runs: int, timeout: float
            ) -> dict[str, list[dict[str, Any]]]:
    """Every reader ``runs`` times on ``path``, taking turns (the order rotates)."""
    got: dict[str, list[dict[str, Any]]] = {r: [] for r in readers}
    for i in range(runs):
        order = readers[i % len(readers):] + readers[:i % len(readers)]
        for r in order:
            got[r].append(_launch(r, path, timeout))
    return got


def summarise(got: dict[str, list[dict[str, Any]]], array_mb: float) -> dict[str, Any]:
    ref = statistics.median(m["seconds"] for m in got["loadtxt"])
    first = got["loadtxt"][0]
    out: dict[str, Any] = {}
    for reader, runs in got.items():
        seconds = statistics.median(m["seconds"] for m in runs)
        memory = statistics.median(m["memory_mb"] for m in runs)
        out[reader] = {
            "seconds": seconds, "memory_mb": memory, "runs": len(runs),
            "time_ratio": seconds / ref, "memory_ratio": memory / array_mb,
            "same_array": all(m["digest_X"] == first["digest_X"] and
                              m["digest_y"] == first["digest_y"] and
                              m["shape"] == first["shape"] for m in runs),
            "shape": runs[0]["shape"]}
    return out


def table(results: dict[str, Any]) -> str:
    lines = [f"numeric file: {results['file_mb']:.1f} MB, {results['rows']:,} rows x "
             f"{results['columns']} columns; parsed float64 array {results['array_mb']:.1f} MiB; "
             f"medians of {results['runs']} run(s), each in a fresh process",
             f"{'reader':<10} {'seconds':>9} {'vs loadtxt':>11} {'peak MiB':>9} "
             f"{'vs array':>9} {'same array':>11}"]
    for reader, r in results["numeric"].items():
        lines.append(f"{reader:<10} {r['seconds']:>9.3f} {r['time_ratio']:>10.2f}x "
                     f"{r['memory_mb']:>9.1f} {r['memory_ratio']:>8.2f}x "
                     f"{'yes' if r['same_array'] else 'NO':>11}")
    lines.append(f"targets: time <= {TIME_TARGET:g}x loadtxt, memory <= {MEMORY_TARGET:g}x the "
                 "array")
    w = results["wide"]
    lines.append(f"{w['columns']:,}-column header, {w['rows']} rows: " + ", ".join(
        f"{reader} {r['seconds']:.3f} s" for reader, r in w["readers"].items())
                 + f" (target < {WIDE_TARGET:g} s)")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--mb", type=float, default=200.0, help="size of the numeric file (MB)")
    p.add_argument("--runs", type=int, default=3, help="runs per reader (medians reported)")
    p.add_argument("--quick", action="store_true", help="a 2 MB file, one run: a smoke run")
    p.add_argument("--json", help="also write the results to this file")
    p.add_argument("--worker", nargs=2, metavar=("READER", "PATH"), help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.worker:
        print(json.dumps(worker(*args.worker)))
        return 0
    megabytes, runs = (2.0, 1) if args.quick else (args.mb, args.runs)
    with tempfile.TemporaryDirectory(prefix="chainrule-csv-") as tmp:
        numeric, wide = os.path.join(tmp, "numeric.csv"), os.path.join(tmp, "wide.csv")
        rows = write_numeric(numeric, megabytes)
        write_wide(wide)
        array_mb = rows * COLUMNS * 8 / 2**20
        timeout = 120 + 20 * megabytes
        got = measure(numeric, READERS, runs, timeout)
        wide_got = measure(wide, READERS, runs, timeout)
        results = {"file_mb": os.path.getsize(numeric) / 1e6, "rows": rows, "columns": COLUMNS,
                   "array_mb": array_mb, "runs": runs,
                   "numeric": summarise(got, array_mb),
                   "wide": {"columns": WIDE_COLUMNS, "rows": 3,
                            "readers": summarise(wide_got, 3 * WIDE_COLUMNS * 8 / 2**20)}}
    print(table(results))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
