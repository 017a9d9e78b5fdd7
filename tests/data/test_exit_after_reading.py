"""A process that read CSV files exits 0.  pyarrow's CSV reader left its worker threads
running, and the interpreter aborted at exit now and then (status 134, "terminate called
without an active exception", after complete output: 1 run in 100 on a loaded machine).
Reading starts no thread now (the thread count after reading, less the count before, is 0),
so nothing can be torn down mid-flight; a few fresh processes check the exit status too.  That
no-thread test is the evidence: a loop of processes could only catch a rare abort by luck."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("pandas")

PROCESSES = 5  # each is a fresh interpreter (about 1 s, several on a loaded machine)

SCRIPT = r"""
import os, sys
def threads():  # native threads, less jemalloc's own background thread (a C thread, joined)
    names = [open(f"/proc/self/task/{t}/comm").read().strip()
             for t in os.listdir("/proc/self/task")]
    return sum(n != "jemalloc_bg_thd" for n in names)
import numpy, pandas
# a BLAS or OpenMP build may start its pool at its first product, not at import: start it
# here, so that only threads the reading itself starts are counted
numpy.ones((256, 256)) @ numpy.ones((256, 256))
from chainrule.data.csvio import load_csv
from chainrule.data.tabular import read_frame
from chainrule.workflow import TrainConfig, read_table
before = threads()
for _ in range(3):
    load_csv(sys.argv[1], "y")
    read_frame(sys.argv[2])
    read_table(TrainConfig(data=sys.argv[2], target="y", test_split=0.2))
print(threads() - before)
"""


def _files(tmp_path: Path) -> tuple[str, str]:
    numbers = tmp_path / "numbers.csv"
    numbers.write_text("a,b,y\n" + "".join(f"{i * 0.5},{i % 7},{i % 2}\n"
                                           for i in range(30_000)))
    mixed = tmp_path / "mixed.csv"
    mixed.write_text("a,colour,note,y\n" + "".join(
        f'{i},{["red", "blue"][i % 2]},"two\nlines {i % 3}",{"yes" if i % 3 else "no"}\n'
        for i in range(20_000)))
    return str(numbers), str(mixed)


@pytest.mark.skipif(not os.path.isdir("/proc/self/task"), reason="needs Linux /proc")
def test_reading_starts_no_thread(tmp_path: Path) -> None:
    proc = subprocess.run([sys.executable, "-c", SCRIPT, *_files(tmp_path)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "0", "reading a CSV file left threads running"


def test_processes_that_read_csv_files_exit_0(tmp_path: Path) -> None:
    numbers, mixed = _files(tmp_path)
    code = ("import sys; from chainrule.data.tabular import read_frame; "
            "print(len(read_frame(sys.argv[1])) + len(read_frame(sys.argv[2])))")
    statuses = [subprocess.run([sys.executable, "-c", code, numbers, mixed],
                               capture_output=True, timeout=120).returncode
                for _ in range(PROCESSES)]
    assert statuses == [0] * PROCESSES
