"""One peer, one workload, one round, in this fresh process: ``bench/run.py`` starts it.

    python bench/worker.py '{"peer": "chainrule", "workload": "W0", "data": DIR, ...}'

Reads the data and initial weights the runner saved in ``DIR``, optionally trains the full run
once (the sanity figures, and the peak resident memory of a full run), warms up with one
untimed round, waits for a quiet machine, times one round (redone while the machine was
loaded) and prints one line ``RESULT {json}``.  ``{"probe": true}`` instead measures the
float32 matmul peak and the calibration task in a process set up like a peer's;
``{"check_device": true, "peer": P, "device": D}`` says why peer P cannot train on device D in
such a process (``{"missing": null}`` when it can).
"""

from __future__ import annotations

import json
import os
import sys
import time
from typing import Any

HERE = os.path.dirname(os.path.abspath(__file__))
if sys.path and os.path.abspath(sys.path[0]) == HERE:
    sys.path[0] = os.path.dirname(HERE)   # import bench.* as a package (profile.py, stdlib)

import numpy as np  # noqa: E402

from bench import machine, peers, workloads  # noqa: E402

LOADED = 1.5      # a calibration this many times slower than its best: the machine is busy
SETTLE = 0.5      # seconds for a thread pool to stop spinning before another pool runs
NUMPY_POOL = ("chainrule", "numpy", "sklearn")   # peers whose threads are NumPy's BLAS pool


def load_data(spec: dict[str, Any], wl: workloads.Workload):
    d = spec["data"]
    n = max(wl.n_samples if spec.get("full") else 0, wl.round_samples)
    X = np.load(os.path.join(d, "X.npy"), mmap_mode="r")
    y = np.load(os.path.join(d, "y.npy"), mmap_mode="r")
    X, y = np.array(X[:n]), np.array(y[:n])
    with np.load(os.path.join(d, "weights.npz")) as f:
        flat = [f[f"a{i}"] for i in range(len(f.files))]
    for a in flat:
        a.flags.writeable = False
    return X, y, workloads.regroup(wl, flat)


class Quiet:
    """The calibration task against the best seen by any process of this run."""

    def __init__(self, best: list[float] | None, max_wait: float) -> None:
        self.best = list(best) if best else None
        self.max_wait = max_wait
        self.seen: list[list[float]] = []

    def ratio(self) -> float:
        c = list(machine.calibrate())
        self.seen.append(c)
        if self.best is None:
            self.best = c
            return 1.0
        self.best = [min(b, x) for b, x in zip(self.best, c)]
        return max(x / b for x, b in zip(c, self.best))

    def wait(self) -> float:
        deadline = time.perf_counter() + self.max_wait
        while True:
            r = self.ratio()
            if r <= LOADED or time.perf_counter() > deadline:
                return r
            time.sleep(0.2)


def probe(spec: dict[str, Any]) -> dict[str, Any]:
    q = Quiet(None, 0.0)
    for _ in range(10):
        q.ratio()
    return {"peak_gflops": machine.matmul_peak(spec.get("n", 2048)), "blas": machine.blas_info(),
            "calibration_best": q.best, "env": machine.blas_env()}


def run(spec: dict[str, Any]) -> dict[str, Any]:
    t_start = time.perf_counter()
    wl = workloads.get(spec["workload"], quick=spec.get("quick", False),
                       scale=spec.get("scale", 1.0), steps=spec.get("steps"),
                       batch=spec.get("batch"), width=spec.get("width"))
    peer = peers.get(spec["peer"], spec.get("device", "cpu"))
    why = peers.why_not(peer, wl)
    if why:
        return {"skipped": why}
    X, y, w0 = load_data(spec, wl)
    peer.prepare(wl, X, y)
    out: dict[str, Any] = {"library": machine.library_info(spec["peer"]),
                           "blas": machine.blas_info()}
    if spec.get("full"):
        out["rss_before_mb"] = machine.current_rss_mb()
        batches = workloads.batch_indices(wl, wl.n_samples, wl.epochs, seed=0)
        secs, w = peer.train(wl, w0, wl.n_samples, wl.epochs, batches)
        out["peak_rss_mb"] = machine.peak_rss_mb()
        out["full_seconds"] = secs
        out["loss"], out["acc"] = workloads.evaluate(wl, w, X, y)
        del batches, w
    batches = workloads.batch_indices(wl, wl.round_samples, wl.round_epochs, seed=1)
    t0 = time.perf_counter()
    peer.train(wl, w0, wl.round_samples, wl.round_epochs, batches)      # warm-up (and compile)
    out["warmup_seconds"] = time.perf_counter() - t0
    quiet = Quiet(spec.get("calibration_best"), spec.get("max_wait", 10.0))
    out["redone"] = 0
    own_pool = spec["peer"] not in NUMPY_POOL
    for attempt in range(spec.get("max_redo", 3) + 1):
        c0 = quiet.wait()
        if own_pool:
            time.sleep(SETTLE)   # the calibration's BLAS threads would spin beside this pool
        load = machine.loadavg()[0]
        secs, _ = peer.train(wl, w0, wl.round_samples, wl.round_epochs, batches)
        if own_pool:
            # This peer's threads (PyTorch's OpenMP pool) spin for a while after the round:
            # checked at once, the calibration ran beside them and every round read as loaded.
            time.sleep(SETTLE)
        c1 = quiet.ratio()
        if max(c0, c1) <= LOADED or attempt == spec.get("max_redo", 3):
            break
        out["redone"] += 1
    out.update(step_seconds=secs / wl.round_steps, calibration=max(c0, c1), loadavg=load,
               loaded=max(c0, c1) > LOADED, calibration_seen=quiet.seen,
               process_seconds=time.perf_counter() - t_start)
    return out


def main(argv: list[str] | None = None) -> int:
    spec = json.loads((argv if argv is not None else sys.argv[1:])[0])
    if spec.get("check_device"):
        result = {"missing": peers.get(spec["peer"], spec["device"]).missing_device()}
    else:
        result = probe(spec) if spec.get("probe") else run(spec)
    print("RESULT " + json.dumps(result, default=float), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
