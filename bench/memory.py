"""Peak resident memory of one W3 training run, for one peer, in this (fresh) process.

    python bench/memory.py chainrule [--quick]
    python bench/memory.py torch [--quick]

Prints one JSON line: the peak resident set (``VmHWM``), the resident set just before
training started (imports, data and model built), and their difference.  ``bench/run.py`` runs
this in a fresh subprocess per peer so one library's allocations never count against another.
"""

from __future__ import annotations

import json
import os
import resource
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
if sys.path and os.path.abspath(sys.path[0]) == HERE:
    sys.path[0] = os.path.dirname(HERE)   # import bench.* as a package, not shadow the stdlib


def current_rss_mb() -> float:
    with open("/proc/self/statm") as f:
        pages = int(f.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def peak_rss_mb() -> float:
    """This process's peak resident set.  /proc's VmHWM belongs to the address space, which
    execve replaces; ``ru_maxrss`` survives execve, so a child of a big parent would report
    the parent's peak.  ``ru_maxrss`` is the fallback off Linux."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024   # KiB on Linux


def main(argv: list[str] | None = None) -> int:
    import argparse

    from bench import peers, workloads

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("peer", choices=["chainrule", "torch", "numpy", "sklearn"])
    ap.add_argument("--workload", default="W3")
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args(argv)

    wl = workloads.get(args.workload, quick=args.quick)
    X, y = workloads.make_data(wl)
    w0 = workloads.init_weights(wl)
    peer = peers.PEERS[args.peer]
    why = peer.available()
    if why:
        print(json.dumps({"peer": args.peer, "skipped": why}))
        return 0
    peer.prepare(wl, X, y)
    batches = workloads.batch_indices(wl, wl.n_samples, wl.epochs)
    before = current_rss_mb()
    seconds, w = peer.train(wl, w0, wl.n_samples, wl.epochs, batches)
    peak = peak_rss_mb()
    loss, acc = workloads.evaluate(wl, w, X, y)
    print(json.dumps({"peer": args.peer, "workload": wl.name, "peak_rss_mb": round(peak, 1),
                      "before_train_rss_mb": round(before, 1),
                      "train_increment_mb": round(peak - before, 1),
                      "seconds": round(seconds, 3), "loss": loss, "acc": acc}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
