"""Grad mode is per thread, as in PyTorch: one thread's ``no_grad`` (or ``record``) never
changes what another thread records.

Each test forces the interleaving that broke a process-wide switch with barriers, so it fails
every time on such an engine, not only when the scheduler happens to switch at a bad moment.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

import numpy as np
import pytest

import chainrule as cr
from chainrule import nn
from chainrule.engine import record
from chainrule.training import Callback

TIMEOUT = 30  # seconds a barrier waits before the test fails instead of hanging


def run_threads(*targets: Callable[[], None]) -> None:
    """Run each target in its own thread; re-raise the first failure here."""
    errors: list[BaseException] = []

    def wrap(fn: Callable[[], None]) -> Callable[[], None]:
        def inner() -> None:
            try:
                fn()
            except BaseException as err:  # reported below, in the test's thread
                errors.append(err)
        return inner

    threads = [threading.Thread(target=wrap(t)) for t in targets]
    for t in threads:
        t.start()
    for t in threads:
        t.join(TIMEOUT)
        assert not t.is_alive(), "a thread hung"
    if errors:
        raise errors[0]


def test_overlapping_no_grad_blocks_leave_recording_on() -> None:
    # A enters, B enters, A leaves, B leaves: with one shared flag B's exit restores the
    # "off" it saw on entry, and recording stays off for everyone afterwards.
    step = threading.Barrier(2, timeout=TIMEOUT)
    seen: dict[str, bool] = {}

    def a() -> None:
        with cr.no_grad():
            step.wait()  # 1: both inside
            step.wait()  # 2: A leaves first
        step.wait()  # 3: B leaves after A
        seen["a"] = cr.is_grad_enabled()

    def b() -> None:
        step.wait()
        with cr.no_grad():
            step.wait()
            step.wait()
        seen["b"] = cr.is_grad_enabled()

    run_threads(a, b)
    assert seen == {"a": True, "b": True}
    assert cr.is_grad_enabled()
    w = cr.tensor([1.0, 2.0], requires_grad=True)
    assert (w * 2).sum().requires_grad


def test_one_thread_records_while_another_is_in_no_grad() -> None:
    inside = threading.Barrier(2, timeout=TIMEOUT)
    done = threading.Barrier(2, timeout=TIMEOUT)
    grads: list[np.ndarray] = []

    def predictor() -> None:
        with cr.no_grad():
            inside.wait()  # the trainer runs its step while this block is open
            done.wait()

    def trainer() -> None:
        inside.wait()
        w = cr.tensor([1.0, -2.0], requires_grad=True)
        loss = (w * w).sum()
        loss.backward()
        grads.append(w.grad.copy())
        done.wait()

    run_threads(predictor, trainer)
    np.testing.assert_array_equal(grads[0], [2.0, -4.0])


def test_enable_grad_in_one_thread_does_not_record_in_another() -> None:
    inside = threading.Barrier(2, timeout=TIMEOUT)
    done = threading.Barrier(2, timeout=TIMEOUT)
    recorded: list[bool] = []

    def enabler() -> None:
        with cr.no_grad(), cr.enable_grad():
            inside.wait()
            done.wait()

    def evaluator() -> None:
        w = cr.tensor([1.0], requires_grad=True)
        with cr.no_grad():
            inside.wait()
            recorded.append((w * 3).requires_grad)
        done.wait()

    run_threads(enabler, evaluator)
    assert recorded == [False]


def test_record_collects_only_its_own_threads_operations() -> None:
    inside = threading.Barrier(2, timeout=TIMEOUT)
    done = threading.Barrier(2, timeout=TIMEOUT)
    names: list[list[str]] = []

    def recorder() -> None:
        w = cr.tensor(2.0, requires_grad=True)
        with record() as tape:
            inside.wait()
            done.wait()  # the other thread's ops happen while the tape is open
            (w * 3).tanh()
        names.append([r.primitive.name for r in tape])

    def other() -> None:
        v = cr.tensor(1.0, requires_grad=True)
        inside.wait()
        (v + 1).exp().sum()
        done.wait()

    run_threads(recorder, other)
    assert names == [["mul", "tanh"]]


class _Rendezvous(Callback):
    """Holds the first training batch until another thread is inside ``no_grad``."""

    def __init__(self, inside: threading.Barrier, done: threading.Barrier) -> None:
        self.inside, self.done, self.first = inside, done, True

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        if self.first:
            self.first = False
            self.inside.wait()

    def on_train_end(self, logs: dict | None = None) -> None:
        self.done.wait()


def _data(seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(64, 3))
    return X, (X[:, 0] + X[:, 1] > 0).astype(np.int64)


def test_fit_in_one_thread_while_another_predicts() -> None:
    X, y = _data(0)
    inside = threading.Barrier(2, timeout=TIMEOUT)
    done = threading.Barrier(2, timeout=TIMEOUT)
    other = nn.Sequential(nn.Linear(3, 2, rng=1))
    histories: list = []

    def fitter() -> None:
        model = nn.Sequential(nn.Linear(3, 4, rng=0), nn.Tanh(), nn.Linear(4, 2, rng=0))
        histories.append(cr.fit(model, X, y, epochs=3, batch_size=16, verbose=0,
                                callbacks=[_Rendezvous(inside, done)], seed=0))

    def predictor() -> None:
        with cr.no_grad():
            inside.wait()  # the whole fit runs while this thread is inside no_grad
            other(cr.tensor(X))
            done.wait()

    run_threads(fitter, predictor)
    assert len(histories[0].history["loss"]) == 3


def _sklearn_fit(seed: int) -> np.ndarray:
    from chainrule.sklearn import MLPClassifier

    X, y = _data(seed)
    clf = MLPClassifier(hidden_layer_sizes=(5,), max_iter=20, random_state=seed)
    clf.fit(X, y)
    return np.concatenate([c.ravel() for c in clf.coefs_])


def test_four_sklearn_fits_in_threads_match_serial_fits() -> None:
    pytest.importorskip("sklearn")
    serial = [_sklearn_fit(seed) for seed in range(4)]
    start = threading.Barrier(4, timeout=TIMEOUT)
    threaded: dict[int, np.ndarray] = {}

    def job(seed: int) -> Callable[[], None]:
        def inner() -> None:
            start.wait()
            threaded[seed] = _sklearn_fit(seed)
        return inner

    run_threads(*(job(seed) for seed in range(4)))
    for seed in range(4):
        np.testing.assert_array_equal(threaded[seed], serial[seed])
