"""Data-parallel scaling over MPI: time per step and Allreduce share for 1, 2 and 4 ranks.

    python bench/mpi_scaling.py                 # W2- and W3-sized networks, 1/2/4 ranks
    python bench/mpi_scaling.py --ranks 1,2 --steps 10

Strong scaling: the global batch stays fixed (128 for W2, 256 for W3) and is split across
ranks, so compute per rank shrinks as 1/N while the Allreduce moves the whole gradient every
step.  Each rank runs with one BLAS thread; on this 2-core machine 4 ranks are oversubscribed
(two processes per core), which the table says.  The cost model in docs/distributed.md is
fitted to these numbers and printed beside them.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time

import numpy as np

WORKLOADS = {"W2": ([784, 128, 10], 128), "W3": ([784, 1024, 1024, 10], 256)}


def worker(name: str, steps: int) -> None:
    import chainrule as cr
    from chainrule import nn
    from chainrule.distributed import DistributedOptimizer, shard_range, world

    comm = world()
    rank, size = comm.Get_rank(), comm.Get_size()
    sizes, global_batch = WORKLOADS[name]
    layers: list[nn.Module] = []
    for i in range(len(sizes) - 1):
        layers.append(nn.Linear(sizes[i], sizes[i + 1], rng=i))
        if i < len(sizes) - 2:
            layers.append(nn.ReLU())
    model = nn.Sequential(*layers)
    opt = DistributedOptimizer(cr.optim.SGD(model.parameters(), lr=0.01))
    rng = np.random.default_rng(rank)
    lo, hi = shard_range(global_batch, rank, size)
    X = rng.normal(size=(hi - lo, sizes[0])).astype(np.float32)
    y = rng.integers(0, sizes[-1], size=hi - lo)
    loss_fn = nn.CrossEntropyLoss()

    def step() -> None:
        opt.zero_grad()
        loss_fn(model(cr.Tensor(X)), y).backward()
        opt.step(hi - lo)

    for _ in range(3):  # warm up
        step()
    comm.Barrier()
    opt.allreduce_seconds = 0.0
    start = time.perf_counter()
    for _ in range(steps):
        step()
    elapsed = time.perf_counter() - start
    per_rank = comm.gather((elapsed / steps, opt.allreduce_seconds / steps), root=0)
    if rank == 0:
        step_s = max(t for t, _ in per_rank)
        allreduce_s = float(np.mean([a for _, a in per_rank]))
        n_params = sum(p.data.size for p in model.parameters())
        print(json.dumps({"workload": name, "ranks": size, "step_s": step_s,
                          "allreduce_s": allreduce_s, "bytes": 4 * (n_params + 2)}))


def launch(name: str, ranks: int, steps: int) -> dict:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1",
           "MKL_NUM_THREADS": "1"}
    cmd = ["mpiexec", "-n", str(ranks), sys.executable, __file__, "--worker", name,
           "--steps", str(steps)]
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)
    if out.returncode != 0:
        raise SystemExit(f"mpiexec failed:\n{out.stderr}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--ranks", default="1,2,4")
    parser.add_argument("--workloads", default="W2,W3")
    args = parser.parse_args()
    if args.worker:
        worker(args.worker, args.steps)
        return
    try:
        import mpi4py  # noqa: F401
    except ImportError:
        print("mpi4py is not installed: pip install 'chainrule[mpi]'; skipping")
        return
    if shutil.which("mpiexec") is None:
        print("mpiexec not found (pip install mpich); skipping")
        return
    cores = os.cpu_count() or 1
    print(f"{'net':4} {'ranks':>5} {'step ms':>8} {'epoch s*':>8} {'allreduce ms':>12} "
          f"{'share':>6} {'speedup':>7}  note")
    for name in args.workloads.split(","):
        rows = [launch(name, int(n), args.steps) for n in args.ranks.split(",")]
        base = rows[0]["step_s"]
        samples = 60_000 if name == "W2" else 20_000
        batch = WORKLOADS[name][1]
        for r in rows:
            note = "oversubscribed" if r["ranks"] > cores else ""
            epoch = r["step_s"] * samples / batch
            print(f"{name:4} {r['ranks']:>5} {r['step_s'] * 1e3:8.2f} {epoch:8.1f} "
                  f"{r['allreduce_s'] * 1e3:12.3f} {r['allreduce_s'] / r['step_s']:6.1%} "
                  f"{base / r['step_s']:7.2f}  {note}")
        two = next((r for r in rows if r["ranks"] == 2), None)
        if two is not None and two["allreduce_s"] > 0:
            # Fit the link: allreduce = 2 * bytes * (N-1)/N / bandwidth (latency folded in).
            bw = 2 * two["bytes"] * 0.5 / two["allreduce_s"]
            print(f"     fitted on-machine Allreduce bandwidth {bw / 1e9:.2f} GB/s "
                  f"(gradient {two['bytes'] / 1e6:.2f} MB)")
            for r in rows:
                if r["ranks"] > 2:
                    pred = 2 * r["bytes"] * (r["ranks"] - 1) / r["ranks"] / bw
                    print(f"     model predicts Allreduce {pred * 1e3:.3f} ms at {r['ranks']} "
                          f"ranks; measured {r['allreduce_s'] * 1e3:.3f} ms")
    print("* epoch s: step time x steps per epoch (W2: 60,000 samples, W3: 20,000)")


if __name__ == "__main__":
    main()
