"""``cr.fit(compile=True)`` called once for many epochs, as a user calls it: us per step.

    python bench/fit_once.py W1 10        # W1's network and weights, 10 epochs, 4 runs
    python bench/fit_once.py W0 2000

The runner's ``chainrule-fit`` peer calls ``Trainer.fit`` once per epoch to train on the very
batches every library gets, so each epoch also pays a call's checks and set-up; here one call
trains every epoch, shuffling its own batches (the same sizes and counts), so whole epochs run
in one kernel call where nothing needs Python between them.  The first run (numba loading
its cache, the plan's capture) is left out: the median of the other three is printed.  Run it
under the shared benchmark lock, without ``OPENBLAS_CORETYPE``/``OPENBLAS_L2_SIZE``.
"""

from __future__ import annotations

import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
if sys.path and os.path.abspath(sys.path[0]) == HERE:
    sys.path[0] = os.path.dirname(HERE)   # import bench.* as a package

from bench import peers, workloads  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    name, epochs = args[0], int(args[1]) if len(args) > 1 else 10
    wl = workloads.get(name)
    peer = peers.get("chainrule")
    peer.prepare(wl, *workloads.make_data(wl))
    import chainrule as cr

    X, y = peer.X[:wl.n_samples], peer.y[:wl.n_samples]
    full = wl.batch >= len(X)
    steps = epochs * (1 if full else -(-len(X) // wl.batch))
    times = []
    for _ in range(4):
        model, loss_fn, opt = peer.build(wl, workloads.init_weights(wl))
        trainer = cr.training.Trainer(model, loss=loss_fn, optimizer=opt, shuffle=True,
                                      compile=True, verbose=0,
                                      batch_size=None if full else wl.batch)
        t0 = time.perf_counter()
        trainer.fit(X, y, epochs)
        times.append((time.perf_counter() - t0) / steps * 1e6)
    print(f"{name}: one fit call of {epochs} epochs ({steps} steps): "
          f"{sorted(times[1:])[1]:.1f} us a step (runs: {', '.join(f'{t:.1f}' for t in times)})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
