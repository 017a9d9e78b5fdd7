"""Machine facts, the environment of a peer's process, the float32 matmul peak, and a quick
calibration timing for load detection."""

from __future__ import annotations

import hashlib
import os
import platform
import resource
import time
from pathlib import Path
from typing import Any

import numpy as np

# Some machines pin OpenBLAS to older kernels (OPENBLAS_CORETYPE=Haswell gives AVX2 on a CPU
# with AVX-512, about half the float32 matmul peak); a user's machine has no such setting.
# The benchmark removes these from the processes it starts, and only from those.
PINNED_BLAS = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")


def user_cache_dir(app: str = "chainrule") -> str:
    """The user's cache folder for ``app`` (XDG_CACHE_HOME, else ~/.cache)."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, app)


def peer_env(base: dict[str, str], pythonpath: str | None = None) -> dict[str, str]:
    """The environment for a peer's process: ``base`` without the BLAS pins, numba's cache in
    the user's cache folder (unless set), JAX on the CPU, and ``pythonpath`` first on the path.

    >>> env = peer_env({"OPENBLAS_CORETYPE": "Haswell", "OPENBLAS_L2_SIZE": "1", "A": "b"})
    >>> sorted(k for k in env if k.startswith("OPENBLAS")), env["A"], env["JAX_PLATFORMS"]
    ([], 'b', 'cpu')
    """
    env = {k: v for k, v in base.items() if k not in PINNED_BLAS}
    tree = pythonpath or os.path.join(os.path.dirname(os.path.dirname(__file__)), "src")
    env.setdefault("NUMBA_CACHE_DIR", os.path.join(user_cache_dir(), "numba",
                                                   _compiled_sources(Path(tree) / "chainrule")))
    env.setdefault("JAX_PLATFORMS", "cpu")
    if pythonpath:
        env["PYTHONPATH"] = os.pathsep.join(
            p for p in (pythonpath, base.get("PYTHONPATH")) if p)
    return env


def _compiled_sources(package: Path) -> str:
    """A digest of the files of ``package`` that mention numba: the name of the numba cache
    folder of the processes that import it.  numba checks a cached kernel against its own file
    only, so one folder shared by several checkouts (``--before``), or kept across an edit to a
    helper that a kernel inlines, could hand a process stale machine code.  (chainrule names
    its default folder the same way; this copy reads any checkout, old ones included, without
    importing it.)"""
    digest = hashlib.sha256()
    for path in sorted(package.rglob("*.py")):
        text = path.read_bytes()
        if b"numba" in text:
            digest.update(path.relative_to(package).as_posix().encode() + b"\0" + text)
    return digest.hexdigest()[:16]


def blas_env() -> dict[str, str | None]:
    """The BLAS pins as this process sees them (None: unset)."""
    return {k: os.environ.get(k) for k in PINNED_BLAS}


def current_rss_mb() -> float:
    with open("/proc/self/statm") as f:
        pages = int(f.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def peak_rss_mb() -> float:
    """This process's peak resident set (``VmHWM``; ``ru_maxrss`` off Linux)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024   # KiB on Linux


def library_info(peer: str) -> dict[str, str]:
    """Version and location of the library a peer measures (chainrule: which checkout)."""
    mod = {"jax-epoch": "jax", "numpy": "numpy"}.get(peer, peer)
    try:
        m = __import__(mod)
    except ImportError:
        return {"version": "not installed"}
    return {"version": getattr(m, "__version__", "?"),
            "path": os.path.dirname(getattr(m, "__file__", "") or "")}


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


# The widest vector instructions a CPU offers, from /proc/cpuinfo's flags, widest first.
SIMD_LEVELS = (("avx512f", "AVX-512"), ("avx2", "AVX2"), ("avx", "AVX"), ("sse4_2", "SSE4.2"),
               ("sve", "SVE"), ("asimd", "NEON"))


def simd_level(flags: str | None = None) -> str:
    """The CPU's widest SIMD level ('AVX-512', 'AVX2', ...; 'unknown' off Linux), from
    ``flags`` (a cpuinfo flags line) or this machine's /proc/cpuinfo.

    >>> simd_level("fpu sse4_2 avx avx2 fma"), simd_level("fpu avx512f avx2")
    ('AVX2', 'AVX-512')
    """
    if flags is None:
        flags = ""
        try:
            with open("/proc/cpuinfo") as f:
                for line in f:
                    if line.startswith(("flags", "Features")):
                        flags = line.split(":", 1)[1]
                        break
        except OSError:
            pass
    have = set(flags.split())
    return next((name for flag, name in SIMD_LEVELS if flag in have), "unknown")


def cpu_line(machine_info: dict[str, Any], blas: str | None = None) -> str:
    """One line naming the CPU, its SIMD level, core count and NumPy's BLAS kernel: printed
    with every table, since hosts differ.

    >>> cpu_line({"cpu": "AMD EPYC", "simd": "AVX2", "cores": 2}, "openblas 0.3 (Zen kernels)")
    'CPU AMD EPYC (AVX2), 2 cores; NumPy BLAS openblas 0.3 (Zen kernels)'
    """
    text = (f"CPU {machine_info.get('cpu', '?')} ({machine_info.get('simd', '?')}), "
            f"{machine_info.get('cores', '?')} cores")
    return text + (f"; NumPy BLAS {blas}" if blas else "")


def loadavg() -> tuple[float, float, float]:
    try:
        return os.getloadavg()
    except OSError:
        return (float("nan"),) * 3


def blas_info() -> str:
    """The BLAS NumPy uses and the kernel it picked (threadpoolctl), e.g. 'openblas 0.3.31
    (SkylakeX kernels, 2 threads)'; numpy's build config when threadpoolctl is missing."""
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        threadpool_info = None
    if threadpool_info is not None:
        libs = [i for i in threadpool_info() if i.get("user_api") == "blas"]
        # Other libraries (PyTorch) may bring their own BLAS: NumPy's lives under numpy.
        libs.sort(key=lambda i: "numpy" not in i.get("filepath", ""))
        if libs:
            i = libs[0]
            return (f"{i.get('internal_api')} {i.get('version')} "
                    f"({i.get('architecture')} kernels, {i.get('num_threads')} threads)")
    try:
        cfg = np.show_config(mode="dicts")
        blas = cfg["Build Dependencies"]["blas"]
        return f"{blas.get('name')} {blas.get('version')} (kernel unknown: no threadpoolctl)"
    except Exception:
        return "unknown"


def versions() -> dict[str, str]:
    """Installed versions, read from package metadata (importing torch or JAX here would
    start their thread pools in the runner's process)."""
    from importlib import metadata

    out = {"python": platform.python_version()}
    for dist in ("numpy", "chainrule", "torch", "jax", "scikit-learn", "threadpoolctl"):
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            out[dist] = "not installed"
    return out


def engine_revision(root: str) -> str:
    """The last commit that touched chainrule's engine, nn or optim in the checkout at
    ``root``, plus '+dirty' when those files have uncommitted changes."""
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
        "simd": simd_level(),
        "cores": os.cpu_count(),
        "platform": platform.platform(),
        "versions": versions(),
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
