"""The step kernel's machine code is cached on disk and loaded by the next process, not compiled
again: a closure holding another compiled function made numba miss its cache in every new
process, so each program's first compiled step took seconds."""

import os
import subprocess
import sys

import pytest

from chainrule.training import kernel

pytestmark = [pytest.mark.cpu_only, pytest.mark.slow,
              pytest.mark.skipif(kernel.kernels() is None, reason="needs numba")]

STEP = """
import numpy as np, chainrule as cr
from chainrule.training import kernel_loops
model = cr.nn.Sequential(cr.nn.Linear(3, 5, rng=0), cr.nn.Tanh(), cr.nn.Linear(5, 4, rng=1))
opt = cr.optim.Adam(model.parameters(), lr=0.01)
fast = cr.compile(model=model, loss_fn=cr.nn.CrossEntropyLoss(), optimizer=opt)
X = np.random.default_rng(0).normal(size=(16, 3)).astype(np.float32)
y = np.arange(16) % 4
for _ in range(3):
    fast(cr.Tensor(X), y)
assert fast.flat is not None, "the step kernel did not run"
stats = kernel_loops.train_step.stats
print(len(stats.cache_hits), len(stats.cache_misses))
"""


def test_a_second_process_loads_the_kernel_from_the_cache(tmp_path):
    env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp_path)}
    env.pop("CHAINRULE_NO_NUMBA", None)

    def run():
        out = subprocess.run([sys.executable, "-c", STEP], env=env, capture_output=True,
                             text=True, check=True)
        return tuple(int(v) for v in out.stdout.split())

    assert run() == (0, 1)  # compiled once, into the empty cache folder
    assert run() == (1, 0)  # then loaded, not compiled
