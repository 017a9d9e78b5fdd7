"""Optimizer.step on NumPy parameters runs the compiled update loop (optim/kernels.py,
optim/updates.py) where numba is installed: the same weights and state as the array formulas,
step by step, for every optimizer and option, and the formulas wherever it cannot run."""

import copy

import numpy as np
import pytest

import chainrule as cr
from chainrule.optim import kernels

pytestmark = [pytest.mark.cpu_only,
              pytest.mark.skipif(kernels.loop() is None, reason="needs numba")]

CASES = [
    (cr.optim.SGD, dict(lr=0.1)),
    (cr.optim.SGD, dict(lr=0.1, momentum=0.9, dampening=0.1, weight_decay=0.01)),
    (cr.optim.SGD, dict(lr=0.1, momentum=0.9, nesterov=True, maximize=True)),
    (cr.optim.Adam, dict(lr=0.01)),
    (cr.optim.Adam, dict(lr=0.01, amsgrad=True, weight_decay=0.1, maximize=True)),
    (cr.optim.AdamW, dict(lr=0.01, weight_decay=0.05)),
    (cr.optim.RMSprop, dict(lr=0.01)),
    (cr.optim.RMSprop, dict(lr=0.01, centered=True, momentum=0.5, weight_decay=0.01)),
]


def _params(dtype, rng):
    return [cr.Tensor(rng.normal(size=s).astype(dtype), requires_grad=True)
            for s in ((5, 3), (3,), (2, 2, 2))]


def _train(cls, options, dtype, compiled, monkeypatch, steps=6):
    rng = np.random.default_rng(0)
    params = _params(dtype, rng)
    opt = cls(params, **options)
    grads = [[rng.normal(size=p.data.shape).astype(dtype) for p in params]
             for _ in range(steps)]
    with monkeypatch.context() as m:
        if not compiled:
            m.setattr(kernels, "loop", lambda: None)
        for step_grads in grads:
            for p, g in zip(params, step_grads):
                p.grad = g.copy()
            opt.step()
    return [p.data for p in params], opt.state_dict()


@pytest.mark.parametrize("dtype,rtol", [(np.float64, 1e-12), (np.float32, 1e-5)])
@pytest.mark.parametrize("cls,options", CASES)
def test_the_compiled_update_equals_the_formulas(cls, options, dtype, rtol, monkeypatch):
    w_fast, state_fast = _train(cls, options, dtype, True, monkeypatch)
    w_slow, state_slow = _train(cls, options, dtype, False, monkeypatch)
    for a, b in zip(w_fast, w_slow):
        assert a.dtype == dtype
        np.testing.assert_allclose(a, b, rtol=rtol, atol=rtol * 1e-2)
    for i, per_param in enumerate(state_slow["state"]):
        for name, value in per_param.items():
            np.testing.assert_allclose(state_fast["state"][i][name], value, rtol=rtol,
                                       atol=rtol * 1e-2, err_msg=name)


def test_the_loop_runs_where_it_can(monkeypatch):
    calls = []
    real = kernels.loop()
    monkeypatch.setattr(kernels, "loop", lambda: lambda *a: calls.append(1) or real(*a))
    params = _params(np.float32, np.random.default_rng(1))
    opt = cr.optim.Adam(params, lr=0.01)
    for p in params:
        p.grad = np.ones_like(p.data)
    opt.step()
    assert len(calls) == 3


@pytest.mark.parametrize("case", ["subclass", "strided gradient", "float32 gradient"])
def test_the_formulas_where_the_loop_cannot_run(case, monkeypatch):
    calls = []
    real = kernels.loop()
    monkeypatch.setattr(kernels, "loop", lambda: lambda *a: calls.append(1) or real(*a))
    rng = np.random.default_rng(2)
    params = _params(np.float64, rng)
    dtype = np.float32 if case == "float32 gradient" else np.float64

    class Halved(cr.optim.SGD):  # another rule: the compiled one must not replace it
        def _update(self, w, g, state, group, step):
            w -= 0.5 * group["lr"] * g

    opt = Halved(params, lr=0.1) if case == "subclass" else cr.optim.SGD(params, lr=0.1)
    before = [copy.deepcopy(p.data) for p in params]
    for p in params:
        g = np.ones((p.data.size * 2,), dtype)[::2].reshape(p.data.shape)  # not C-ordered
        p.grad = g if case == "strided gradient" else np.ascontiguousarray(g)
    opt.step()
    assert not calls
    factor = 0.05 if case == "subclass" else 0.1
    for p, b in zip(params, before):
        np.testing.assert_allclose(p.data, b - factor, rtol=1e-3)


def _both(monkeypatch, build, drive):
    """The weights and state after ``drive(opt, params, rng)``, compiled and formulas."""
    out = []
    for compiled in (True, False):
        rng = np.random.default_rng(3)
        params = [cr.Tensor(rng.normal(size=(70, 70)), requires_grad=True),
                  cr.Tensor(rng.normal(size=(70,)), requires_grad=True)]
        opt = build(params)
        with monkeypatch.context() as m:
            if not compiled:
                m.setattr(kernels, "loop", lambda: None)
            drive(opt, params, rng)
        out.append(([p.data.copy() for p in params], opt.state_dict()))
    (w1, s1), (w2, s2) = out
    for a, b in zip(w1, w2):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-14)
    assert [sorted(d) for d in s1["state"]] == [sorted(d) for d in s2["state"]]
    return out


def _grads(params, rng, only=None):
    for i, p in enumerate(params):
        p.grad = rng.normal(size=p.data.shape) if only is None or i in only else None


def test_state_is_made_when_a_parameter_first_has_a_gradient(monkeypatch):
    def drive(opt, params, rng):
        for step in range(4):
            _grads(params, rng, only={0} if step < 2 else None)
            opt.step()
    (_, state), _ = _both(monkeypatch, lambda ps: cr.optim.Adam(ps, lr=0.01), drive)
    assert state["state"][1]  # made at its first gradient, step 3


def test_a_schedule_and_a_loaded_state_are_followed(monkeypatch):
    def drive(opt, params, rng):
        for step in range(6):
            _grads(params, rng)
            opt.step()
            if step == 1:
                opt.param_groups[0]["lr"] = 0.001
            if step == 3:
                opt.param_groups[0]["momentum"] = 0.5  # a buffer comes into use
            if step == 4:
                opt.load_state_dict(copy.deepcopy(opt.state_dict()))
    _both(monkeypatch, lambda ps: cr.optim.SGD(ps, lr=0.05), drive)


def test_plain_sgd_on_a_few_weights_keeps_the_formulas(monkeypatch):
    calls = []
    real = kernels.loop()
    monkeypatch.setattr(kernels, "loop", lambda: lambda *a: calls.append(1) or real(*a))
    small = [cr.Tensor(np.ones((3, 3)), requires_grad=True)]
    opt = cr.optim.SGD(small, lr=0.1)
    small[0].grad = np.ones((3, 3))
    opt.step()
    assert not calls
    np.testing.assert_allclose(small[0].data, 0.9)
