"""Where a W5/W6 training step spends its time, per operation, in chainrule and in PyTorch.

    python bench/cnn_profile.py                 # W5 and W6, both libraries, 100 steps each
    python bench/cnn_profile.py W6 --steps 200

Both train the benchmark's network on the benchmark's data through bench/peers.py (the code
that bench/run.py times), after one untimed warm-up round.  chainrule is measured with
cProfile: the cumulative time of each layer primitive's forward and backward function (so
the NumPy calls they make count for them); what no primitive claims (the engine's graph
walk, the loss, the optimizer, the batch copy) is "rest".  PyTorch is measured with
torch.profiler: the self CPU time of its aten operators, grouped the same way (its
convolution backward is ``convolution_backward``; ``mkldnn`` names oneDNN's kernels).  The
last line gives each library's minor page faults per step in the plain timed round: fresh
large arrays that glibc has returned to the system come back as new pages, which cost
LeNet-5 several milliseconds a step when it made them every step.  Like
the benchmark, it runs without ``OPENBLAS_CORETYPE``/``OPENBLAS_L2_SIZE``.  Run it under
``flock`` with the shared benchmark lock: the shares are only meaningful on a quiet machine.
"""

from __future__ import annotations

import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
if sys.path and os.path.abspath(sys.path[0]) == HERE:
    # import bench.* as a package, and keep bench/profile.py from shadowing the stdlib's
    # `profile` (which cProfile imports)
    sys.path[0] = os.path.dirname(HERE)

import argparse  # noqa: E402
import cProfile  # noqa: E402
import pstats  # noqa: E402
import resource  # noqa: E402
import time  # noqa: E402

from bench import machine, peers, workloads  # noqa: E402

FAULTS: dict[str, float] = {}  # minor page faults per step of the plain round, per library
GROUPS = ["conv fwd", "conv bwd", "pool fwd", "pool bwd", "bn fwd", "bn bwd", "linear fwd",
          "linear bwd", "relu fwd+bwd", "rest"]

# chainrule: (file suffix, function) -> group, by cumulative time
CHAINRULE = {
    ("nn/conv.py", "conv2d"): "conv fwd", ("nn/conv.py", "_conv2d_backward"): "conv bwd",
    ("nn/max_pooling.py", "max_pool2d"): "pool fwd",
    ("nn/max_pooling.py", "relu_max_pool2d"): "pool fwd",
    ("nn/max_pooling.py", "_max_pool2d_backward"): "pool bwd",
    ("nn/normalize.py", "batch_norm"): "bn fwd",
    ("nn/normalize.py", "_normalise_backward"): "bn bwd",
    ("engine/ops/linalg.py", "linear"): "linear fwd",
    ("engine/ops/linalg.py", "_linear_backward"): "linear bwd",
    ("engine/ops/elementwise.py", "relu"): "relu fwd+bwd",
    ("engine/ops/elementwise.py", "_relu_backward"): "relu fwd+bwd",
}


def torch_group(name: str) -> str:
    """The group of one aten operator (self time), by its name."""
    n = name.lower()
    if "convolution_backward" in n:
        return "conv bwd"
    if "conv" in n:
        return "conv fwd"
    if "max_pool" in n:
        return "pool bwd" if "backward" in n else "pool fwd"
    if "batch_norm" in n:
        return "bn bwd" if "backward" in n else "bn fwd"
    if "threshold_backward" in n or n in ("aten::relu", "aten::clamp_min"):
        return "relu fwd+bwd"
    if n in ("aten::addmm", "aten::linear"):
        return "linear fwd"
    if n in ("aten::mm", "aten::sum") or "addmm" in n:
        return "linear bwd"
    return "rest"


def _setup(peer_name: str, name: str, steps: int):
    wl = workloads.get(name, steps=steps)
    X, y = workloads.make_data(wl)
    peer = peers.get(peer_name)
    peer.prepare(wl, X, y)
    batches = workloads.batch_indices(wl, wl.round_samples, wl.round_epochs, seed=1)
    w0 = workloads.init_weights(wl)
    peer.train(wl, w0, wl.round_samples, wl.round_epochs, batches)     # warm-up
    faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    seconds, _ = peer.train(wl, w0, wl.round_samples, wl.round_epochs, batches)
    faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - faults
    FAULTS[peer_name] = faults / wl.round_steps
    return wl, peer, batches, w0, seconds / wl.round_steps


def profile_chainrule(name: str, steps: int) -> tuple[float, dict[str, float]]:
    wl, peer, batches, w0, plain = _setup("chainrule", name, steps)
    prof = cProfile.Profile()
    prof.enable()
    total, _ = peer.train(wl, w0, wl.round_samples, wl.round_epochs, batches)
    prof.disable()
    shares = dict.fromkeys(GROUPS, 0.0)
    for (path, _, func), (_, _, _, cum, _) in pstats.Stats(prof).stats.items():  # type: ignore[attr-defined]
        for (suffix, fname), group in CHAINRULE.items():
            if func == fname and path.replace(os.sep, "/").endswith(suffix):
                shares[group] += cum
    shares["rest"] = max(total - sum(shares.values()), 0.0)
    return plain, {k: v / total for k, v in shares.items()}


def profile_torch(name: str, steps: int) -> tuple[float, dict[str, float]]:
    from torch.profiler import ProfilerActivity, profile

    wl, peer, batches, w0, plain = _setup("torch", name, steps)
    t0 = time.perf_counter()
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        peer.train(wl, w0, wl.round_samples, wl.round_epochs, batches)
    total_us = (time.perf_counter() - t0) * 1e6
    shares = dict.fromkeys(GROUPS, 0.0)
    for ev in prof.key_averages():
        shares[torch_group(ev.key)] += ev.self_cpu_time_total
    # Python-side time (the module calls, the optimizer loop) is in no operator: count it as rest
    shares["rest"] += max(total_us - sum(shares.values()), 0.0)
    total = sum(shares.values()) or 1.0
    return plain, {k: v / total for k, v in shares.items()}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="per-operation time shares, chainrule and PyTorch")
    ap.add_argument("workloads", nargs="*", default=["W5", "W6"])
    ap.add_argument("--steps", type=int, default=100)
    args = ap.parse_args(argv)
    if any(k in os.environ for k in machine.PINNED_BLAS) and argv is None:
        os.execve(sys.executable, [sys.executable, *sys.argv],
                  machine.peer_env(dict(os.environ)))
    for name in args.workloads:
        rows = [("chainrule", *profile_chainrule(name, args.steps))]
        if peers.get("torch").available(workloads.get(name)) is None:
            rows.append(("torch", *profile_torch(name, args.steps)))
        print(f"{name}, {args.steps} steps: share of the step (us/step without the profiler)")
        print(f"{'':14s}" + "".join(f"{lib:>22s}" for lib, _, _ in rows))
        for group in GROUPS:
            cells = "".join(f"{100 * s[group]:9.1f}% {us * 1e6 * s[group]:9.0f} us"
                            for _, us, s in rows)
            print(f"{group:14s}{cells}")
        print(f"{'step':14s}" + "".join(f"{'':11s}{us * 1e6:8.0f} us" for _, us, _ in rows))
        print(f"{'page faults':14s}" + "".join(f"{'':11s}{FAULTS[lib]:8.0f}   "
                                                for lib, _, _ in rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
