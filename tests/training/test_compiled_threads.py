"""cr.compile in threads: two steps capturing at once leave the process's warning filters as
they were and each trains as eager training does; the fused kernels are built once while other
threads wait for them.  Barriers force the interleavings."""

from __future__ import annotations

import sys
import threading
import types
import warnings

import numpy as np
import pytest

import chainrule as cr
from chainrule import nn
from chainrule.training import fused

# Compiled plans are NumPy's and numba's: they run on the CPU only.
pytestmark = pytest.mark.cpu_only

F64 = np.float64
TIMEOUT = 20  # seconds a barrier waits before the test fails instead of hanging


def _problem(seed):
    rng = np.random.default_rng(seed)
    model = nn.Sequential(nn.Linear(3, 5, dtype=F64, rng=seed), nn.Tanh(),
                          nn.Linear(5, 2, dtype=F64, rng=seed + 1))
    return model, rng.normal(size=(12, 3)), rng.normal(size=(12, 2))


def _train(seed, pause=None, after_first=None, steps=4):
    """Losses and final weights of ``steps`` compiled steps (eager steps where ``pause`` is
    None).  ``pause()`` runs inside the first loss this thread computes, which is in the
    capture's recorded pass; ``after_first()`` after the first step."""
    model, X, Y = _problem(seed)
    opt = cr.optim.Adam(model.parameters(), lr=0.01)
    mse = nn.MSELoss()
    calls = []

    def loss_fn(out, y):
        if pause is not None and not calls:
            calls.append(1)
            pause()
        return mse(out, y)

    fast = cr.compile(model=model, loss_fn=loss_fn, optimizer=opt)
    losses = []
    for i in range(steps):
        losses.append(float(fast(X, Y) if pause is not None else fast._eager(X, Y)))
        if i == 0 and after_first is not None:
            after_first()
    if pause is not None:
        assert fast.compiled, fast.reason
    return losses, [p.data.copy() for p in model.parameters()]


def _run_threads(targets):
    results, errors = {}, []

    def run(name, fn):
        try:
            results[name] = fn()
        except BaseException as e:  # re-raised in the test's thread below
            errors.append(e)

    threads = [threading.Thread(target=run, args=item, name=item[0]) for item in targets]
    for t in threads:
        t.start()
    for t in threads:
        t.join(TIMEOUT * 3)
    if errors:
        raise errors[0]
    return results


def test_two_threads_capturing_at_once_leave_the_warning_filters_alone():
    # A enters its capture; B enters its capture inside A's; A leaves first, then B.  A
    # process-wide catch_warnings() restores in the wrong order here and leaves "ignore"
    # installed for good (Python 3.11's warnings module is not thread-safe).
    a_inside, b_inside, a_done = (threading.Barrier(2, timeout=TIMEOUT) for _ in range(3))

    def pause_a():
        a_inside.wait()  # lets B start its first step
        b_inside.wait()

    def pause_b():
        b_inside.wait()
        a_done.wait()  # holds B inside its capture until A has finished its first step

    def thread_a():
        return _train(0, pause_a, after_first=a_done.wait)

    def thread_b():
        a_inside.wait()
        return _train(1, pause_b)

    before = list(warnings.filters)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no warning may come from either capture
        filters = list(warnings.filters)
        results = _run_threads([("A", thread_a), ("B", thread_b)])
        assert warnings.filters == filters
    assert warnings.filters == before
    for name, seed in (("A", 0), ("B", 1)):
        eager = _train(seed)
        np.testing.assert_allclose(results[name][0], eager[0], rtol=1e-12)
        for a, b in zip(results[name][1], eager[1], strict=True):
            np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-15)


class _LockThatSignals:
    """The kernels' lock, which lets the thread named B say it has reached it."""

    def __init__(self, reached):
        self.lock = threading.Lock()
        self.reached = reached
        self.seen_by_b = False

    def __enter__(self):
        if threading.current_thread().name == "B":
            self.seen_by_b = True
            self.reached.wait()
        self.lock.acquire()

    def __exit__(self, *exc):
        self.lock.release()


def test_a_thread_asking_for_the_kernels_while_another_builds_them_waits(monkeypatch,
                                                                          tmp_path):
    # Without the lock the second thread got None (the NumPy formulas) while the first built.
    building, b_asked = (threading.Barrier(2, timeout=TIMEOUT) for _ in range(2))
    built = []
    kernels = types.SimpleNamespace(name="the kernels")

    def build(numba):
        built.append(1)
        building.wait()  # A is inside the build: B asks now
        b_asked.wait()  # B has reached the lock, or (without one) has its answer
        return kernels

    lock = _LockThatSignals(b_asked)
    monkeypatch.setitem(sys.modules, "numba", types.ModuleType("numba"))
    monkeypatch.delenv("CHAINRULE_NO_NUMBA", raising=False)
    monkeypatch.setenv("NUMBA_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(fused, "_tried", False)
    monkeypatch.setattr(fused, "_kernels", None)
    monkeypatch.setattr(fused, "_build", build)
    monkeypatch.setattr(fused, "_lock", lock, raising=False)

    def thread_b():
        building.wait()
        got = fused.kernels()
        if not lock.seen_by_b:
            b_asked.wait()
        return got

    results = _run_threads([("A", fused.kernels), ("B", thread_b)])
    assert results == {"A": kernels, "B": kernels}
    assert built == [1]
