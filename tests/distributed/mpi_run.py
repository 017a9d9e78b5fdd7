"""Running a test script under real mpiexec with a time limit: a job still running after
LIMIT seconds is killed with every rank and the test fails, because that is a hang."""

from __future__ import annotations

import importlib.util
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).parent
HAS_MPI = importlib.util.find_spec("mpi4py") is not None and shutil.which("mpiexec")
needs_mpi = pytest.mark.skipif(not HAS_MPI, reason="mpi4py/mpiexec not installed")
LIMIT = 90  # seconds: far above a healthy run (a few seconds), far below "forever"


def script(name: str) -> str:
    """The path of a script beside this file."""
    return str(HERE / name)


def run_bounded(n: int, *argv: str, **env: str) -> subprocess.CompletedProcess:
    """``mpiexec -n n python *argv`` (a script and its arguments, or ``-m chainrule ...``);
    ``env`` adds environment variables."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", **env}
    proc = subprocess.Popen(["mpiexec", "-n", str(n), sys.executable, *argv],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                            start_new_session=True)
    try:
        out, err = proc.communicate(timeout=LIMIT)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        pytest.fail(f"the MPI job was still running after {LIMIT} s: it hangs")
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def chainrule(ranks: int | None, *args: str, **env: str) -> subprocess.CompletedProcess:
    """``python -m chainrule *args`` as one process (``ranks`` None, bounded as well) or
    under mpiexec on ``ranks`` ranks with ``--distributed``; ``env`` adds variables."""
    if ranks is None:
        proc_env = {**os.environ, **env}
        return subprocess.run([sys.executable, "-m", "chainrule", *args], capture_output=True,
                              text=True, timeout=LIMIT, env=proc_env)
    return run_bounded(ranks, "-m", "chainrule", *args, "--distributed", **env)
