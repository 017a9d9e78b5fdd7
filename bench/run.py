"""chainrule against PyTorch eager, JAX, scikit-learn and hand-written NumPy: the benchmark.

    python bench/run.py                      # W0-W8, every installed peer (20-30 minutes)
    python bench/run.py --quick              # a smoke run, under a minute
    python bench/run.py --workloads W0,W2 --peers chainrule,torch,jax
    python bench/run.py --before ../old/src  # also chainrule from another checkout's src/
    python bench/run.py --write              # ... and regenerate BENCHMARKS.md

Method.  The runner saves each workload's data and initial weights once; then every
measurement is a fresh process (``bench/worker.py``) for one peer, started in turn, so no
library's thread pool or allocator is left running beside another's.  A peer's processes get
the runner's environment without ``OPENBLAS_CORETYPE`` and ``OPENBLAS_L2_SIZE`` (a user's
machine has no such pins), with numba's cache in the user's cache folder; the float32 matmul
peak is measured in a process set up the same way.  In round 0 each peer also trains the full
run once (the sanity figures: loss and accuracy of its final weights by one shared evaluator,
and the peak resident memory).  Each process warms up with one untimed round (JAX compiles
there), waits until a calibration task runs near its best, times one round, and redoes it
when the calibration afterwards shows the machine was loaded.  The order of the peers rotates
every round.  Reported: the median over rounds of the time per step, and the median over
rounds of each pairwise ratio (runs made seconds apart).  "vs X" = t_X / t_peer: how many
times faster than X.
"""

from __future__ import annotations

import argparse
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
    sys.path[0] = ROOT   # import bench.* as a package (bench/profile.py must not shadow stdlib)

import numpy as np  # noqa: E402

from bench import machine, peers, report, workloads  # noqa: E402

BEFORE = "chainrule-before"
DEFAULT_PEERS = "chainrule,chainrule-compiled,chainrule-fit,torch,jax,jax-epoch,numpy"
REFERENCES = ("torch", "torch-cl", "jax", "jax-epoch", "numpy", "sklearn", BEFORE)
DEVICES = ("cpu", "cuda", "array_api_strict")


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


class Launcher:
    """Starts worker processes with a peer's environment and reads their one-line result."""

    def __init__(self, timeout: float, before_src: str | None) -> None:
        self.timeout = timeout
        self.paths = {BEFORE: before_src, "chainrule": os.path.join(ROOT, "src")}

    def __call__(self, key: str, spec: dict[str, Any]) -> dict[str, Any]:
        env = machine.peer_env(dict(os.environ), self.paths.get(key))
        cmd = [sys.executable, os.path.join(HERE, "worker.py"), json.dumps(spec)]
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=ROOT,
                                  timeout=self.timeout)
        except subprocess.TimeoutExpired:
            return {"error": f"no result within {self.timeout:.0f} s"}
        for line in reversed(proc.stdout.splitlines()):
            if line.startswith("RESULT "):
                return json.loads(line[len("RESULT "):])
        tail = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        return {"error": f"exit {proc.returncode}: {tail}"}


def save_data(wl: workloads.Workload, folder: str) -> tuple[float, float]:
    """Write the data and initial weights every peer reads; return the untrained figures."""
    X, y = workloads.make_data(wl)
    w0 = workloads.init_weights(wl)
    np.save(os.path.join(folder, "X.npy"), X)
    np.save(os.path.join(folder, "y.npy"), y)
    np.savez(os.path.join(folder, "weights.npz"),
             **{f"a{i}": a for i, a in enumerate(a for pair in w0 for a in pair)})
    return workloads.evaluate(wl, w0, X, y)


def run_workload(wl: workloads.Workload, keys: list[str], args, launch: Launcher,
                 cal_best: list[float], folder: str) -> dict[str, Any]:
    init_loss, init_acc = save_data(wl, folder)
    res: dict[str, Any] = {
        "name": wl.name, "title": wl.title, "arch": wl.arch(), "note": wl.note,
        "batch": wl.batch, "full_steps": wl.full_steps, "round_steps": wl.round_steps,
        "samples_per_step": wl.round_samples * wl.round_epochs / wl.round_steps,
        "flops_per_step": wl.flops_per_sample() * wl.round_samples * wl.round_epochs
        / wl.round_steps,
        "init_loss": init_loss, "init_acc": init_acc, "peers": {}, "skipped": {},
    }
    log(f"{wl.name} {wl.title}: full run {wl.full_steps} steps, rounds of {wl.round_steps} "
        f"steps; untrained loss {init_loss:.4f} acc {init_acc:.3f}")
    active = list(keys)
    for r in range(args.rounds):
        order = active[r % len(active):] + active[: r % len(active)] if active else []
        line = []
        for key in order:
            spec = {"peer": "chainrule" if key == BEFORE else key, "device": args.device,
                    "workload": wl.name,
                    "quick": args.quick, "scale": args.scale, "steps": args.steps,
                    "data": folder, "full": r == 0, "calibration_best": cal_best,
                    "max_redo": args.max_redo, "max_wait": args.max_wait}
            out = launch(key, spec)
            if "skipped" in out or "error" in out:
                why = out.get("skipped") or out["error"]
                res["skipped"][key] = why
                active.remove(key)
                res["peers"].pop(key, None)
                log(f"  {key}: skipped: {why}")
                continue
            for c in out.pop("calibration_seen"):
                cal_best[:] = [min(b, x) for b, x in zip(cal_best, c)]
            d = res["peers"].setdefault(key, {"rounds": []})
            if r == 0:
                d.update({k: out[k] for k in ("library", "blas", "full_seconds", "loss", "acc",
                                              "peak_rss_mb", "rss_before_mb")})
                log(f"  {key:16s} full run {out['full_seconds']:8.3f} s  loss "
                    f"{out['loss']:.4f}  acc {out['acc']:.3f}  peak RSS "
                    f"{out['peak_rss_mb']:.0f} MiB")
            d["rounds"].append({"round": r, **{k: out[k] for k in (
                "step_seconds", "calibration", "loadavg", "loaded", "redone",
                "warmup_seconds", "process_seconds")}})
            line.append(f"{key} {out['step_seconds'] * 1e6:.1f}us"
                        + ("*" if out["loaded"] else ""))
        log(f"  round {r} (load {machine.loadavg()[0]:.2f}): " + "  ".join(line))
    summarize(res)
    return res


def summarize(res: dict[str, Any]) -> None:
    """Medians of the per-step time and of the per-round ratios, pair by pair.

    >>> res = {"samples_per_step": 1, "flops_per_step": 1e9, "peers": {
    ...     "chainrule": {"rounds": [{"round": 0, "step_seconds": 1.0},
    ...                              {"round": 1, "step_seconds": 2.0}]},
    ...     "torch": {"rounds": [{"round": 0, "step_seconds": 3.0},
    ...                          {"round": 1, "step_seconds": 4.0}]}}}
    >>> summarize(res)
    >>> res["peers"]["chainrule"]["vs_torch"], res["peers"]["chainrule"]["step_seconds"]
    (2.5, 1.5)
    """
    peers_ = res["peers"]
    for name, d in peers_.items():
        times = {x["round"]: x["step_seconds"] for x in d["rounds"]}
        t = statistics.median(times.values())
        d["step_seconds"] = t
        d["spread"] = max(times.values()) / min(times.values())
        d["samples_per_s"] = res["samples_per_step"] / t
        d["gflops"] = res["flops_per_step"] / t / 1e9
        for ref in REFERENCES:
            if ref in peers_ and ref != name:
                ref_times = {x["round"]: x["step_seconds"] for x in peers_[ref]["rounds"]}
                pairs = [ref_times[r] / times[r] for r in times if r in ref_times]
                if pairs:
                    d[f"vs_{ref}"] = statistics.median(pairs)


def parse(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description="chainrule training benchmark")
    ap.add_argument("--quick", action="store_true", help="tiny runs: a smoke test")
    ap.add_argument("--workloads", default=",".join(workloads.WORKLOADS))
    ap.add_argument("--peers", default=DEFAULT_PEERS,
                    help=f"comma-separated, from {', '.join(peers.NAMES)} (default "
                    f"{DEFAULT_PEERS})")
    ap.add_argument("--before", metavar="SRC",
                    help=f"also time chainrule imported from SRC (another checkout's src/) as "
                    f"the peer {BEFORE!r}: the before/after table of a change")
    ap.add_argument("--device", default="cpu", choices=DEVICES,
                    help="where chainrule and PyTorch train (default cpu); cuda and "
                    "array_api_strict skip the peers that run on the CPU only, and the run "
                    "stops at once where a peer cannot reach the device")
    ap.add_argument("--rounds", type=int, default=None, help="timed rounds (default 5; quick 2)")
    ap.add_argument("--scale", type=float, default=1.0, help="multiply the steps per round")
    ap.add_argument("--steps", type=int, default=None, help="steps per round (overrides)")
    ap.add_argument("--max-redo", type=int, default=None,
                    help="redo a round that ran while loaded at most N times (default 3; quick 0)")
    ap.add_argument("--max-wait", type=float, default=None,
                    help="seconds to wait for a quiet machine before a round (default 10; "
                    "quick 0.5)")
    ap.add_argument("--timeout", type=float, default=600.0, help="seconds per worker process")
    ap.add_argument("--json", metavar="PATH", help="also save the raw results as JSON")
    ap.add_argument("--from-json", metavar="PATH",
                    help="no run: print (and --write) the results saved by an earlier --json")
    ap.add_argument("--write", nargs="?", const=os.path.join(ROOT, "BENCHMARKS.md"),
                    metavar="PATH", help="write the results to BENCHMARKS.md (or PATH)")
    args = ap.parse_args(argv)
    if args.rounds is None:
        args.rounds = 2 if args.quick else 5
    if args.max_redo is None:
        args.max_redo = 0 if args.quick else 3
    if args.max_wait is None:
        args.max_wait = 0.5 if args.quick else 10.0
    args.workload_names = [w.strip().upper() for w in args.workloads.split(",") if w.strip()]
    unknown = [n for n in args.workload_names if n not in workloads.WORKLOADS]
    if unknown:
        ap.error(f"unknown workload(s) {unknown}; choose from {list(workloads.WORKLOADS)}")
    args.peer_keys = [p.strip() for p in args.peers.split(",") if p.strip()]
    bad = [p for p in args.peer_keys if p not in peers.NAMES]
    if bad:
        ap.error(f"unknown peer(s) {bad}; choose from {list(peers.NAMES)}")
    if args.before:
        args.before = os.path.abspath(args.before)
        if not os.path.isdir(os.path.join(args.before, "chainrule")):
            ap.error(f"--before {args.before}: no chainrule package there; give the src/ "
                     "folder of a chainrule checkout")
        args.peer_keys.insert(1 if "chainrule" in args.peer_keys else 0, BEFORE)
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    if args.from_json:
        with open(args.from_json) as f:
            results = json.load(f)
    else:
        results = measure(args, argv)
    print(report.text_report(results))
    if args.json and not args.from_json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1, default=float)
    if args.write:
        report.write_markdown(results, args.write)
        log(f"wrote {args.write}")
    return 0


def check_device(args: argparse.Namespace, launch: Launcher) -> None:
    """Stop with the reasons when a peer that can train on ``args.device`` cannot reach it
    here (no GPU, no CuPy, a CPU-only PyTorch): each peer asked in a process set up like its
    own, since the runner imports none of the libraries.  Peers that run on the CPU only are
    skipped later, each with its reason."""
    if args.device == "cpu":
        return
    refused = []
    for key in args.peer_keys:
        name = "chainrule" if key == BEFORE else key
        if args.device not in peers.PEERS[name].devices:
            continue
        out = launch(key, {"check_device": True, "peer": name, "device": args.device})
        why = out.get("missing") or out.get("error")
        if why:
            refused.append(f"  {key}: {why}")
    if refused:
        raise SystemExit(f"--device {args.device}: cannot train there on this machine:\n"
                         + "\n".join(refused) + "\nrun on a machine with the device, or with "
                         "--device cpu")


def measure(args: argparse.Namespace, argv: list[str] | None) -> dict[str, Any]:
    t_start = time.perf_counter()
    launch = Launcher(args.timeout, args.before)
    results: dict[str, Any] = {
        "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        "command": " ".join(["python bench/run.py", *(argv if argv is not None else sys.argv[1:])]),
        "quick": args.quick, "rounds": args.rounds, "peer_keys": args.peer_keys,
        "loadavg_start": machine.loadavg(), "machine": machine.describe(ROOT),
        "runner_blas_env": machine.blas_env(),
    }
    if args.before:
        results["before"] = {"src": args.before,
                             "engine_revision": machine.engine_revision(
                                 os.path.dirname(args.before))}
    check_device(args, launch)
    results["device"] = args.device
    peak_n = 1024 if args.quick else 2048
    probe = launch("probe", {"probe": True, "n": peak_n})
    if "error" in probe:
        raise SystemExit(f"the matmul-peak probe failed: {probe['error']}")
    results["blas"], results["peer_blas_env"] = probe["blas"], probe["env"]
    peaks = [probe["peak_gflops"]]
    cal_best = probe["calibration_best"]
    log(f"NumPy BLAS in a peer's process: {probe['blas']}; pins {probe['env']}; float32 "
        f"matmul peak ({peak_n}^3) {peaks[0]:.1f} GFLOP/s; load {machine.loadavg()[0]:.2f}")
    results["workloads"] = []
    with tempfile.TemporaryDirectory(prefix="chainrule-bench-") as tmp:
        for name in args.workload_names:
            wl = workloads.get(name, quick=args.quick, scale=args.scale, steps=args.steps)
            folder = os.path.join(tmp, name)
            os.makedirs(folder)
            results["workloads"].append(
                run_workload(wl, args.peer_keys, args, launch, cal_best, folder))
    if not args.quick:   # the peak again, in case the machine was busy at the start
        probe = launch("probe", {"probe": True, "n": peak_n})
        peaks.append(probe.get("peak_gflops", 0.0))
    results["peak_gflops"] = max(peaks)
    results["peak_samples"] = peaks
    results["loadavg_end"] = machine.loadavg()
    results["elapsed_s"] = time.perf_counter() - t_start
    return results


if __name__ == "__main__":
    sys.exit(main())
