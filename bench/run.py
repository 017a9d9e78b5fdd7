"""chainrule vs PyTorch eager vs scikit-learn vs hand-written NumPy, in one process (issue 6).

    python bench/run.py                      # everything: W0-W4, memory, a few minutes
    python bench/run.py --quick              # a smoke run, seconds
    python bench/run.py --workloads W0,W2 --peers chainrule,torch
    python bench/run.py --write              # ... and write BENCHMARKS.md

Method: for each workload every peer first trains the full run once (the sanity figure: loss and
accuracy of its final weights, computed by one shared evaluator), then the peers are timed
round by round, interleaved, in an order that rotates each round, each round training
``round_steps`` steps from the same initial weights.  Between a NumPy-based peer and PyTorch the
harness sleeps 0.5 s (their BLAS/OpenMP threads keep spinning after a call).  A calibration
task runs before and after each round; if it is 1.5x slower than its best the machine is
loaded and the round is redone (up to --max-redo times).  Reported: medians over rounds of the
time per step, and medians over rounds of the per-round ratios (so every ratio compares runs
made seconds apart).  Ratios are "x faster than": t_peer_ref / t_peer.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from typing import Any

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
if sys.path and os.path.abspath(sys.path[0]) == HERE:
    sys.path[0] = ROOT   # import bench.* as a package (bench/profile.py must not shadow stdlib)

from bench import machine, report, workloads  # noqa: E402
from bench.peers import PEERS  # noqa: E402

SWITCH_SLEEP = 0.5
LOADED = 1.5


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


class Runner:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.last_family: str | None = None
        cal = [machine.calibrate() for _ in range(10)]
        self.cal_best = [min(c[0] for c in cal), min(c[1] for c in cal)]

    def pause_if_switching(self, family: str) -> None:
        if self.last_family is not None and family != self.last_family:
            time.sleep(SWITCH_SLEEP)
        self.last_family = family

    def train(self, peer, wl, w0, n, epochs, batches):
        self.pause_if_switching(peer.family)
        return peer.train(wl, w0, n, epochs, batches)

    def load_ratio(self) -> float:
        """How much slower than its best the calibration task runs now (1.0 = quiet)."""
        c = machine.calibrate()
        self.cal_best = [min(b, x) for b, x in zip(self.cal_best, c)]
        self.last_family = "numpy"
        return max(x / b for x, b in zip(c, self.cal_best))

    def wait_quiet(self, max_wait: float) -> float:
        """Poll the calibration until the machine is quiet (or ``max_wait`` s passed)."""
        deadline = time.perf_counter() + max_wait
        while True:
            r = self.load_ratio()
            if r <= LOADED or time.perf_counter() > deadline:
                return r
            time.sleep(0.2)

    def workload(self, wl: workloads.Workload, peers: list) -> dict[str, Any]:
        args = self.args
        X, y = workloads.make_data(wl)
        w0 = workloads.init_weights(wl)
        base_loss, base_acc = workloads.evaluate(wl, w0, X, y)
        for p in peers:
            p.prepare(wl, X, y)
        res: dict[str, Any] = {
            "name": wl.name, "title": wl.title, "arch": wl.arch(), "note": wl.note,
            "batch": wl.batch, "full_steps": wl.full_steps, "round_steps": wl.round_steps,
            "samples_per_step": wl.round_samples * wl.round_epochs / wl.round_steps,
            "flops_per_step": wl.flops_per_sample() * wl.round_samples * wl.round_epochs
            / wl.round_steps,
            "init_loss": base_loss, "init_acc": base_acc, "peers": {}, "loadavg": [],
            "redone": 0, "noisy_rounds": 0, "cal_ratio": [],
        }
        log(f"{wl.name} {wl.title}: full run {wl.full_steps} steps, rounds of "
            f"{wl.round_steps} steps; untrained loss {base_loss:.4f} acc {base_acc:.3f}")
        # 1. the full run, once per peer: sanity figures (and warm-up)
        full_batches = workloads.batch_indices(wl, wl.n_samples, wl.epochs, seed=0)
        for p in peers:
            secs, w = self.train(p, wl, w0, wl.n_samples, wl.epochs, full_batches)
            loss, acc = workloads.evaluate(wl, w, X, y)
            res["peers"][p.name] = {"label": p.label, "full_seconds": secs, "loss": loss,
                                    "acc": acc, "round_seconds": []}
            log(f"  {p.name:10s} full run {secs:8.3f} s  loss {loss:.4f}  acc {acc:.3f}")
        del full_batches
        # 2. timed rounds, interleaved, rotating order
        batches = workloads.batch_indices(wl, wl.round_samples, wl.round_epochs, seed=1)
        for r in range(args.rounds):
            order = peers[r % len(peers):] + peers[: r % len(peers)]
            for attempt in range(args.max_redo + 1):
                c0 = self.wait_quiet(args.max_wait)
                la = machine.loadavg()[0]
                times = {}
                for p in order:
                    secs, _ = self.train(p, wl, w0, wl.round_samples, wl.round_epochs, batches)
                    times[p.name] = secs / wl.round_steps
                c1 = self.load_ratio()
                if max(c0, c1) <= LOADED:
                    break
                if attempt == args.max_redo:
                    res["noisy_rounds"] += 1
                    break
                res["redone"] += 1
                log(f"  round {r}: machine loaded (calibration {max(c0, c1):.1f}x, load "
                    f"{la:.2f}); redoing")
            res["loadavg"].append(la)
            res["cal_ratio"].append(max(c0, c1))
            for name, t in times.items():
                res["peers"][name]["round_seconds"].append(t)
            log(f"  round {r}: " + "  ".join(f"{k} {v * 1e3:.3f}ms" for k, v in times.items()))
        summarize(res)
        return res


def summarize(res: dict[str, Any]) -> None:
    """Medians of the per-step time and of the per-round ratios."""
    peers = res["peers"]
    for name, d in peers.items():
        t = statistics.median(d["round_seconds"])
        d["step_seconds"] = t
        d["samples_per_s"] = res["samples_per_step"] / t
        d["gflops"] = res["flops_per_step"] / t / 1e9
        for ref in ("torch", "sklearn", "numpy"):
            if ref in peers and ref != name:
                d[f"vs_{ref}"] = statistics.median(
                    a / b for a, b in zip(peers[ref]["round_seconds"], d["round_seconds"]))


def run_memory(quick: bool, peers: list[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name in peers:
        cmd = [sys.executable, os.path.join(HERE, "memory.py"), name] + (["--quick"] * quick)
        proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
        lines = proc.stdout.strip().splitlines()
        if proc.returncode or not lines:
            out[name] = {"error": (proc.stderr.strip().splitlines() or ["failed"])[-1]}
        else:
            out[name] = json.loads(lines[-1])
        log(f"  memory {name}: {out[name]}")
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="chainrule training benchmark (issue 6)")
    ap.add_argument("--quick", action="store_true", help="tiny runs: a smoke test in seconds")
    ap.add_argument("--workloads", default="W0,W1,W2,W3,W4")
    ap.add_argument("--peers", default="chainrule,torch,sklearn,numpy")
    ap.add_argument("--rounds", type=int, default=None, help="timed rounds (default 5; quick 2)")
    ap.add_argument("--scale", type=float, default=1.0, help="multiply the steps per round")
    ap.add_argument("--steps", type=int, default=None, help="steps per round (overrides)")
    ap.add_argument("--max-redo", type=int, default=None,
                    help="redo a round that ran while loaded at most N times (default 3; quick 0)")
    ap.add_argument("--max-wait", type=float, default=None,
                    help="seconds to wait for a quiet machine before a round (default 10; "
                    "quick 0.5)")
    ap.add_argument("--memory", dest="memory", action="store_true", default=None,
                    help="measure W3 peak RSS (default on, off with --quick)")
    ap.add_argument("--no-memory", dest="memory", action="store_false")
    ap.add_argument("--json", metavar="PATH", help="also save the raw results as JSON")
    ap.add_argument("--from-json", metavar="PATH",
                    help="no run: print (and --write) the results saved by an earlier --json")
    ap.add_argument("--write", nargs="?", const=os.path.join(ROOT, "BENCHMARKS.md"),
                    metavar="PATH", help="write the results to BENCHMARKS.md (or PATH)")
    args = ap.parse_args(argv)
    if args.from_json:
        with open(args.from_json) as f:
            results = json.load(f)
        print(report.text_report(results))
        if args.write:
            report.write_markdown(results, args.write)
            log(f"wrote {args.write}")
        return 0
    if args.rounds is None:
        args.rounds = 2 if args.quick else 5
    if args.max_redo is None:
        args.max_redo = 0 if args.quick else 3
    if args.max_wait is None:
        args.max_wait = 0.5 if args.quick else 10.0
    if args.memory is None:
        args.memory = not args.quick

    names = [w.strip().upper() for w in args.workloads.split(",") if w.strip()]
    unknown = [n for n in names if n not in workloads.WORKLOADS]
    if unknown:
        ap.error(f"unknown workload(s) {unknown}; choose from {list(workloads.WORKLOADS)}")
    peers, skipped = [], {}
    for name in (p.strip() for p in args.peers.split(",") if p.strip()):
        if name not in PEERS:
            ap.error(f"unknown peer {name!r}; choose from {list(PEERS)}")
        why = PEERS[name].available()
        if why:
            skipped[name] = why
            log(f"note: skipping {name}: {why}")
        else:
            peers.append(PEERS[name])

    t_start = time.perf_counter()
    results: dict[str, Any] = {
        "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        "command": " ".join(["python bench/run.py", *(argv if argv is not None else sys.argv[1:])]),
        "quick": args.quick, "rounds": args.rounds, "skipped": skipped,
        "loadavg_start": machine.loadavg(),
    }
    if "torch" in [p.name for p in peers]:
        import torch

        torch.set_num_threads(2)
    results["machine"] = machine.describe(ROOT)
    peak_n = 1024 if args.quick else 2048
    peaks = [machine.matmul_peak(peak_n)]
    log(f"float32 matmul peak ({peak_n}^3): {peaks[0]:.1f} GFLOP/s; "
        f"load {results['loadavg_start'][0]:.2f}")
    runner = Runner(args)
    results["workloads"] = []
    for name in names:
        wl = workloads.get(name, quick=args.quick, scale=args.scale, steps=args.steps)
        results["workloads"].append(runner.workload(wl, peers))
        runner.last_family = "numpy"
        peaks.append(machine.matmul_peak(peak_n, repeats=3))
    results["peak_gflops"] = max(peaks)
    results["peak_samples"] = peaks
    mem_peers = [p for p in ("chainrule", "torch") if p in [q.name for q in peers]]
    if args.memory and mem_peers:
        log("W3 peak resident memory (fresh subprocess per peer):")
        results["memory"] = run_memory(args.quick, mem_peers)
    results["loadavg_end"] = machine.loadavg()
    results["elapsed_s"] = time.perf_counter() - t_start

    print(report.text_report(results))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1, default=float)
    if args.write:
        report.write_markdown(results, args.write)
        log(f"wrote {args.write}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
