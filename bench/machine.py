"""Machine facts, the float32 matmul peak, and a quick calibration timing for load detection."""

from __future__ import annotations

import os
import platform
import time
from typing import Any

import numpy as np


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def loadavg() -> tuple[float, float, float]:
    try:
        return os.getloadavg()
    except OSError:
        return (float("nan"),) * 3


def blas_info() -> str:
    """The BLAS NumPy uses: from threadpoolctl when available, else numpy's build config."""
    try:
        from threadpoolctl import threadpool_info

        libs = [i for i in threadpool_info() if i.get("user_api") == "blas"]
        if libs:
            i = libs[0]
            return (f"{i.get('internal_api')} {i.get('version')} "
                    f"({i.get('architecture')}, {i.get('num_threads')} threads)")
    except Exception:
        pass
    try:
        cfg = np.show_config(mode="dicts")
        blas = cfg["Build Dependencies"]["blas"]
        return f"{blas.get('name')} {blas.get('version')}"
    except Exception:
        return "unknown"


def versions() -> dict[str, str]:
    out = {"python": platform.python_version(), "numpy": np.__version__}
    for mod in ("chainrule", "torch", "sklearn"):
        try:
            out[mod] = __import__(mod).__version__
        except ImportError:
            out[mod] = "not installed"
    return out


def engine_revision(root: str) -> str:
    """The last commit that touched chainrule's engine, nn or optim, plus '+dirty' when those
    files have uncommitted changes: the engine state a run measured."""
    import subprocess

    paths = ["src/chainrule/engine", "src/chainrule/nn", "src/chainrule/optim"]
    try:
        rev = subprocess.run(["git", "log", "-1", "--format=%h", "--", *paths], cwd=root,
                             capture_output=True, text=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--", *paths], cwd=root,
                               capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return (rev or "unknown") + ("+dirty" if dirty else "")


def describe(root: str | None = None) -> dict[str, Any]:
    return {
        "engine_revision": engine_revision(root) if root else "unknown",
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "platform": platform.platform(),
        "versions": versions(),
        "blas": blas_info(),
    }


def matmul_peak(n: int = 2048, repeats: int = 5) -> float:
    """Best float32 GFLOP/s of an n x n @ n x n NumPy matmul (2 n^3 FLOPs)."""
    rng = np.random.default_rng(0)
    a = rng.standard_normal((n, n), dtype=np.float32)
    b = rng.standard_normal((n, n), dtype=np.float32)
    c = np.empty((n, n), np.float32)
    np.matmul(a, b, out=c)  # warm up the thread pool
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        np.matmul(a, b, out=c)
        best = min(best, time.perf_counter() - t0)
    return 2.0 * n**3 / best / 1e9


_CAL = np.random.default_rng(1).standard_normal((512, 512), dtype=np.float32)


def calibrate() -> tuple[float, float]:
    """A ~4 ms fixed task: (seconds of two 512^3 float32 matmuls on the BLAS threads, seconds of
    a pure-Python loop).  Either part running slower than its best means another process holds
    a core (two-thread BLAS calls then wait for a descheduled thread: 3-20x slower here)."""
    t0 = time.perf_counter()
    _CAL @ _CAL
    _CAL @ _CAL
    t1 = time.perf_counter()
    s = 0
    for i in range(30_000):
        s += i
    return t1 - t0, time.perf_counter() - t1
