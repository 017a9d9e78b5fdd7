"""How step time grows with the batch (W2, 784-128-10) and with the width (W3, 784-w-w-10).

    python bench/growth.py                          # both curves, chainrule and PyTorch eager
    python bench/growth.py --curve batch --rounds 3 --before OLD/src
    python bench/growth.py --curve width --widths 256,1024,4096 --peers chainrule,torch,jax

Each point is the benchmark's own measurement (``bench/worker.py``: a fresh process per peer,
one untimed warm-up round, a timed round redone while the machine is loaded), peers in turn
with the order rotating every round.  The round at each point is sized to about a second of
work, whatever the batch or width.  Prints one markdown table per curve: the median time per
step of each peer, the median over rounds of the ratio against PyTorch (above 1: chainrule is
faster), the rounds' spread (slowest / fastest) and how many rounds the calibration task found
the machine busy for (trust such a row less).  A step that grew linearly keeps its
microseconds per sample flat; the table shows that column too.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from typing import Any

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
if sys.path and os.path.abspath(sys.path[0]) == HERE:
    sys.path[0] = ROOT   # import bench.* as a package

from bench import machine, peers, run, workloads  # noqa: E402

CURVES = {
    # name: (workload, what varies, its default points)
    "batch": ("W2", "batch", (32, 64, 128, 256, 512, 1024, 2048)),
    "width": ("W3", "width", (256, 512, 1024, 2048, 4096)),
}
ROUND_FLOPS = 40e9   # about a second of a 2-core machine's float32 matmul at its usual pace


def steps_for(wl: workloads.Workload, least: int = 5, most: int = 200) -> int:
    """Steps per round so that a round is about ``ROUND_FLOPS`` of work.

    >>> steps_for(workloads.get("W2", batch=32)), steps_for(workloads.get("W3", width=4096))
    (200, 5)
    """
    per_step = wl.flops_per_sample() * wl.batch
    full = wl.n_samples // wl.batch      # every step a whole batch, within the data set
    return min(full, max(least, min(most, round(ROUND_FLOPS / per_step))))


def measure_point(curve: str, value: int, keys: list[str], args: argparse.Namespace,
                  launch: run.Launcher, cal_best: list[float], folder: str) -> dict[str, Any]:
    """Time every peer at one point of ``curve``; the result is ``run.summarize``'s."""
    name, knob, _ = CURVES[curve]
    probe = workloads.get(name, **{knob: value})
    steps = args.steps or steps_for(probe)
    wl = workloads.get(name, steps=steps, **{knob: value})
    run.save_data(wl, folder)
    res: dict[str, Any] = {"value": value, "arch": wl.arch(), "batch": wl.batch,
                           "steps": wl.round_steps,
                           "samples_per_step": wl.round_samples / wl.round_steps,
                           "flops_per_step": wl.flops_per_sample() * wl.round_samples
                           / wl.round_steps, "peers": {}, "skipped": {}}
    active = list(keys)
    for r in range(args.rounds):
        order = active[r % len(active):] + active[: r % len(active)] if active else []
        line = []
        for key in order:
            spec = {"peer": "chainrule" if key == run.BEFORE else key, "workload": name,
                    knob: value, "steps": steps, "data": folder, "full": False,
                    "calibration_best": cal_best, "max_redo": args.max_redo,
                    "max_wait": args.max_wait}
            out = launch(key, spec)
            if "skipped" in out or "error" in out:
                res["skipped"][key] = out.get("skipped") or out["error"]
                active.remove(key)
                res["peers"].pop(key, None)
                run.log(f"  {key}: skipped: {res['skipped'][key]}")
                continue
            for c in out["calibration_seen"]:
                cal_best[:] = [min(b, x) for b, x in zip(cal_best, c)]
            res["peers"].setdefault(key, {"rounds": []})["rounds"].append(
                {"round": r, "step_seconds": out["step_seconds"], "loaded": out["loaded"]})
            line.append(f"{key} {out['step_seconds'] * 1e6:,.0f}us"
                        + ("*" if out["loaded"] else ""))
        run.log(f"  {knob} {value} round {r}: " + "  ".join(line))
    run.summarize(res)
    return res


def table(curve: str, points: list[dict[str, Any]], keys: list[str]) -> str:
    """The markdown table of one curve.

    >>> pts = [{"value": 32, "arch": "784-128-10", "samples_per_step": 32, "peers": {
    ...     "chainrule": {"step_seconds": 1e-4, "spread": 1.1, "vs_torch": 1.7},
    ...     "torch": {"step_seconds": 1.7e-4, "spread": 1.2}}}]
    >>> print(table("batch", pts, ["chainrule", "torch"]).splitlines()[-1])
    | 32 | 100 | 170 | 3.12 | 5.31 | 1.70x | 1.10 / 1.20 | 0 of 0 |
    """
    knob = CURVES[curve][1]
    ours = [k for k in keys if k != "torch"]
    head = [knob, *[f"{k} us/step" for k in keys], *[f"{k} us/sample" for k in keys],
            *[f"{k} vs torch" for k in ours if "torch" in keys],
            f"spread ({' / '.join(keys)})", "rounds run while loaded"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for p in points:
        d = p["peers"]
        us = [f"{d[k]['step_seconds'] * 1e6:,.0f}" if k in d else "-" for k in keys]
        per = [f"{d[k]['step_seconds'] * 1e6 / p['samples_per_step']:.2f}" if k in d else "-"
               for k in keys]
        vs = [f"{d[k]['vs_torch']:.2f}x" if "vs_torch" in d.get(k, {}) else "-"
              for k in ours if "torch" in keys]
        spread = " / ".join(f"{d[k]['spread']:.2f}" if k in d else "-" for k in keys)
        rounds = [x for k in keys for x in d.get(k, {}).get("rounds", [])]
        loaded = f"{sum(bool(x.get('loaded')) for x in rounds)} of {len(rounds)}"
        lines.append("| " + " | ".join([str(p["value"]), *us, *per, *vs, spread, loaded])
                     + " |")
    return "\n".join(lines)


def parse(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description="step time against batch size and layer width")
    ap.add_argument("--curve", choices=[*CURVES, "both"], default="both")
    ap.add_argument("--batches", help="batch sizes of the W2 curve (default "
                    f"{','.join(map(str, CURVES['batch'][2]))})")
    ap.add_argument("--widths", help="hidden widths of the W3 curve (default "
                    f"{','.join(map(str, CURVES['width'][2]))})")
    ap.add_argument("--peers", default="chainrule,torch",
                    help=f"comma-separated, from {', '.join(peers.NAMES)}")
    ap.add_argument("--before", metavar="SRC", help="also chainrule from SRC (another "
                    "checkout's src/), as the peer 'chainrule-before'")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--steps", type=int, help="steps per round (default: about a second)")
    ap.add_argument("--max-redo", type=int, default=2)
    ap.add_argument("--max-wait", type=float, default=5.0)
    ap.add_argument("--timeout", type=float, default=600.0)
    args = ap.parse_args(argv)
    args.peer_keys = [p.strip() for p in args.peers.split(",") if p.strip()]
    bad = [p for p in args.peer_keys if p not in peers.NAMES]
    if bad:
        ap.error(f"unknown peer(s) {bad}; choose from {list(peers.NAMES)}")
    if args.before:
        args.before = os.path.abspath(args.before)
        args.peer_keys.insert(1, run.BEFORE)
    args.points = {
        "batch": [int(v) for v in args.batches.split(",")] if args.batches
        else list(CURVES["batch"][2]),
        "width": [int(v) for v in args.widths.split(",")] if args.widths
        else list(CURVES["width"][2]),
    }
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    launch = run.Launcher(args.timeout, args.before)
    probe = launch("probe", {"probe": True, "n": 1024})
    if "error" in probe:
        raise SystemExit(f"the calibration probe failed: {probe['error']}")
    cal_best = probe["calibration_best"]
    info = machine.describe(ROOT)
    out = [f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; chainrule engine at "
           f"{info['engine_revision']}; {machine.cpu_line(info, probe['blas'])}; float32 "
           f"matmul peak (1024^3) {probe['peak_gflops']:.0f} GFLOP/s; {args.rounds} rounds; "
           f"load {machine.loadavg()[0]:.2f}"]
    curves = list(CURVES) if args.curve == "both" else [args.curve]
    with tempfile.TemporaryDirectory(prefix="chainrule-growth-") as tmp:
        for curve in curves:
            name, knob, _ = CURVES[curve]
            run.log(f"{name}: step time against {knob}")
            points = []
            for value in args.points[curve]:
                folder = os.path.join(tmp, f"{curve}-{value}")
                os.makedirs(folder)
                points.append(measure_point(curve, value, args.peer_keys, args, launch,
                                            cal_best, folder))
            title = {"batch": "W2 784-128-10, SGD: step time against batch size",
                     "width": "W3 784-w-w-10, batch 256, SGD: step time against width"}[curve]
            out += ["", f"### {title}", "", table(curve, points, args.peer_keys)]
    out.append(f"\nload {machine.loadavg()[0]:.2f} at the end")
    print("\n".join(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
