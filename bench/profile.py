"""Where chainrule's time goes: cProfile of chainrule training one workload.

    python bench/profile.py W0              # top 25 functions by tottime
    python bench/profile.py W4 --steps 300 --top 40 --sort cumulative
    python bench/profile.py W0 --dump w0.prof   # for snakeviz / pstats
    python bench/profile.py W3 --by-file        # own time summed per source file / builtin

Trains with the same code the benchmark times (bench/peers.py, the public API only) after one
untimed warm-up run, and prints pstats.  Like the benchmark's peers it runs without
``OPENBLAS_CORETYPE``/``OPENBLAS_L2_SIZE`` (it restarts itself without them when they are
set).  NumPy work done through operators (``a @ b``, ``a * b``) counts as the own time of the
function that wrote the operator; named calls (``np.matmul``, ``.sum``) are listed apart.  The
per-call numbers include cProfile's own overhead
(it inflates cheap Python calls the most), so read the ranking and the call counts, not the
absolute times; ``ncalls / steps`` is the per-step count of each function.
"""

from __future__ import annotations

import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
if sys.path and os.path.abspath(sys.path[0]) == HERE:
    # This file is called profile.py: keep bench/ off sys.path so that `import cProfile`
    # (which imports the stdlib `profile`) does not find this file instead.
    sys.path[0] = os.path.dirname(HERE)

import argparse  # noqa: E402
import cProfile  # noqa: E402
import io  # noqa: E402
import pstats  # noqa: E402

from bench import machine, peers, workloads  # noqa: E402

DEFAULT_STEPS = {"W0": 2000, "W1": 570, "W2": 100, "W3": 10, "W4": 200, "W5": 30, "W6": 30,
                 "W7": 160, "W8": 64}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="cProfile of chainrule on one workload")
    ap.add_argument("workload", nargs="?", default="W0", choices=list(workloads.WORKLOADS))
    ap.add_argument("--steps", type=int, default=None, help="training steps to profile")
    ap.add_argument("--top", type=int, default=25)
    ap.add_argument("--sort", default="tottime", help="pstats sort key (tottime, cumulative)")
    ap.add_argument("--peer", default="chainrule", choices=list(peers.NAMES))
    ap.add_argument("--dump", metavar="PATH", help="also write the raw profile")
    ap.add_argument("--by-file", action="store_true",
                    help="sum own time per source file (NumPy builtins by name) first")
    args = ap.parse_args(argv)
    if any(k in os.environ for k in machine.PINNED_BLAS) and argv is None:
        os.execve(sys.executable, [sys.executable, *sys.argv],
                  machine.peer_env(dict(os.environ)))

    steps = args.steps or DEFAULT_STEPS[args.workload]
    wl = workloads.get(args.workload, steps=steps)
    X, y = workloads.make_data(wl)
    w0 = workloads.init_weights(wl)
    peer = peers.get(args.peer)
    why = peer.available(wl)
    if why:
        print(f"cannot profile {args.peer}: {why}")
        return 1
    peer.prepare(wl, X, y)
    batches = workloads.batch_indices(wl, wl.round_samples, wl.round_epochs, seed=1)
    peer.train(wl, w0, wl.round_samples, wl.round_epochs, batches)          # warm-up
    plain, _ = peer.train(wl, w0, wl.round_samples, wl.round_epochs, batches)
    prof = cProfile.Profile()
    prof.enable()
    profiled, _ = peer.train(wl, w0, wl.round_samples, wl.round_epochs, batches)
    prof.disable()
    n = wl.round_steps
    print(f"{args.peer} {wl.name} ({wl.title}): {n} steps; without the profiler "
          f"{plain / n * 1e6:.1f} us/step, under cProfile {profiled / n * 1e6:.1f} us/step")
    buf = io.StringIO()
    stats = pstats.Stats(prof, stream=buf)
    if args.by_file:
        print(by_file(stats, n))
    stats.sort_stats(args.sort).print_stats(args.top)
    print(buf.getvalue())
    if args.dump:
        stats.dump_stats(args.dump)
    return 0


def by_file(stats: pstats.Stats, steps: int, top: int = 15) -> str:
    """Own time summed per source file (builtins such as numpy's matmul by their name), as
    microseconds per step and shares of the total: where a step's time goes."""
    groups: dict[str, float] = {}
    for (path, _, func), (_, _, tottime, _, _) in stats.stats.items():   # type: ignore[attr-defined]
        if path == "~":
            key = func.strip("<>").replace("built-in method ", "").replace("method ", "")
        else:
            parts = path.replace(os.sep, "/").split("/")
            key = "/".join(parts[parts.index("chainrule"):]) if "chainrule" in parts else (
                "/".join(parts[-2:]))
        groups[key] = groups.get(key, 0.0) + tottime
    total = sum(groups.values()) or 1.0
    lines = [f"{'own time per step (under cProfile)':50s} {'us/step':>9s} {'share':>6s}"]
    for key, t in sorted(groups.items(), key=lambda kv: -kv[1])[:top]:
        lines.append(f"{key[:50]:50s} {t / steps * 1e6:9.1f} {100 * t / total:5.1f}%")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
