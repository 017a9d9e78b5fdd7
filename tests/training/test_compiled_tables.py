"""cr.compile reads the activation and loss tables: every activation of the table that the
plan has a formula for replays exactly, under every loss of the loss table; anything outside
what the plan computes (an activation or loss of the user's, an output activation) runs
eagerly with one warning."""

from __future__ import annotations

import copy
import warnings

import numpy as np
import pytest

import chainrule as cr
from chainrule import nn
from chainrule.engine import ops
from chainrule.nn import activations, losses
from chainrule.training import fused, plan

# Compiled plans are NumPy's and numba's: they run on the CPU only (other devices train
# eagerly, tests/engine/test_devices.py and tests/training/test_device_fit.py).
pytestmark = pytest.mark.cpu_only

F64 = np.float64
SUPPORTED = [cls for cls in activations.ACTIVATIONS.values() if cls in plan.FORMULAS]


def _targets(loss: type[losses.Loss], n: int, width: int, rng: np.random.Generator):
    """Targets of the kind the loss's task fits."""
    if loss.task == "regression":
        return rng.normal(size=(n, width))
    if loss.task == "binary":
        return (rng.random((n, width)) > 0.5).astype(F64)
    return rng.integers(0, width, size=n)


def _net(activation: type[activations.Activation], loss: type[losses.Loss], width: int):
    layers = [nn.Linear(3, 5, dtype=F64, rng=0), activation(),
              nn.Linear(5, 4, dtype=F64, rng=1), activation(),
              nn.Linear(4, width, dtype=F64, rng=2)]
    if loss.task == "binary" and not loss.from_logits:
        layers.append(nn.Sigmoid())  # a loss of probabilities: the network ends in them
    return nn.Sequential(*layers)


def _train(model, loss_fn, X, y, compiled):
    opt = cr.optim.Adam(model.parameters(), lr=0.01)
    step = cr.compile(model=model, loss_fn=loss_fn, optimizer=opt) if compiled else None
    values = []
    for s in range(5):
        xb, yb = cr.tensor(X[s % 2 * 6:][:6]), y[s % 2 * 6:][:6]
        if step is not None:
            values.append(float(step(xb, yb)))
            continue
        opt.zero_grad()
        loss = loss_fn(model(xb), yb)
        loss.backward()
        opt.step()
        values.append(float(loss.item()))
    return values, [p.data.copy() for p in model.parameters()], step


def test_the_plan_knows_the_activation_table():
    # every hidden-layer activation of the table has a formula today; the tape's operation
    # names come from the table's functions, not from a list of names of its own
    assert list(activations.ACTIVATIONS.values()) == SUPPORTED
    acts, known_losses = plan.recognised()
    assert set(acts.values()) == set(SUPPORTED) - {nn.Identity}  # the identity records nothing
    assert set(known_losses.values()) == set(losses.LOSSES.values())
    assert all(cls in fused.ACTIVATION_CODES for cls in fused.LOOP_FRIENDLY)


@pytest.mark.parametrize("loss", list(losses.LOSSES.values()), ids=lambda c: c.name)
@pytest.mark.parametrize("activation", SUPPORTED, ids=lambda c: c.name)
@pytest.mark.parametrize("use_numba", [False, True])
def test_every_supported_activation_replays_as_eager(activation, loss, use_numba,
                                                     monkeypatch):
    if use_numba:
        monkeypatch.delenv("CHAINRULE_NO_NUMBA", raising=False)
        monkeypatch.setattr(fused, "_tried", False)
        if not fused.available():
            pytest.skip("numba is not installed")
    else:
        monkeypatch.setattr(fused, "_tried", True)  # as if numba were not installed
        monkeypatch.setattr(fused, "_kernels", None)
    width = 3 if loss.task == "multiclass" else 2
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(12, 3)), _targets(loss, 12, width, rng)
    base = _net(activation, loss, width)
    eager = _train(copy.deepcopy(base), loss(), X, y, compiled=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)  # no fallback to eager
        fast = _train(copy.deepcopy(base), loss(), X, y, compiled=True)
    assert fast[2].compiled, fast[2].reason
    assert fast[2].plan.layers[0].activation is activation
    np.testing.assert_allclose(fast[0], eager[0], rtol=1e-12)
    for a, b in zip(fast[1], eager[1], strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-11, atol=1e-14)


class _Softplus(activations.Activation, saved=False):
    """An activation of the user's own, outside the table."""
    name = "softplus"
    function = staticmethod(lambda x: ops.log(ops.exp(x) + 1.0))


class _L1Loss(losses.Loss, saved=False):
    """A loss of the user's own, outside the table."""
    name = "l1"
    task = "regression"
    from_logits = False
    accepts_sample_weight = False
    function = staticmethod(
        lambda input, target, reduction="mean", sample_weight=None:  # noqa: A006
        ops.abs(input - cr.tensor(target)).mean())


@pytest.mark.parametrize(("middle", "loss_fn", "reason"), [
    (_Softplus, nn.MSELoss(), "uses exp"),
    (lambda: nn.Softmax(axis=1), nn.MSELoss(), "uses softmax"),  # an output activation
    (nn.Tanh, _L1Loss(), "does not replay"),
], ids=["own activation", "softmax", "own loss"])
def test_what_the_plan_does_not_compute_runs_eagerly_with_a_warning(middle, loss_fn, reason):
    rng = np.random.default_rng(1)
    X, y = rng.normal(size=(12, 3)), rng.normal(size=(12, 2))
    base = nn.Sequential(nn.Linear(3, 4, dtype=F64, rng=0), middle(),
                         nn.Linear(4, 2, dtype=F64, rng=1))
    eager = _train(copy.deepcopy(base), loss_fn, X, y, compiled=False)
    with pytest.warns(RuntimeWarning, match="running eagerly") as caught:
        fast = _train(copy.deepcopy(base), loss_fn, X, y, compiled=True)
    assert len(caught) == 1
    assert not fast[2].compiled and reason in fast[2].reason
    np.testing.assert_array_equal(fast[0], eager[0])
    for a, b in zip(fast[1], eager[1], strict=True):
        np.testing.assert_array_equal(a, b)


def test_the_step_functions_loss_is_found_by_the_table_or_its_base_class():
    from chainrule.nn.functional import cross_entropy  # CrossEntropyLoss.function

    rng = np.random.default_rng(2)
    X, labels = rng.normal(size=(12, 3)), rng.integers(0, 2, size=12)
    model = nn.Sequential(nn.Linear(3, 4, dtype=F64, rng=0), nn.ReLU(),
                          nn.Linear(4, 2, dtype=F64, rng=1))
    opt = cr.optim.SGD(model.parameters(), lr=0.1)
    own = _L1Loss()

    def functional_step(xb, yb):
        opt.zero_grad()
        loss = cross_entropy(model(xb), yb)
        loss.backward()
        opt.step()
        return loss

    def own_loss_step(xb, yb):
        opt.zero_grad()
        loss = own(model(xb), yb)
        loss.backward()
        opt.step()
        return loss

    fast = cr.compile(functional_step)
    for _ in range(2):
        fast(cr.tensor(X), labels)
    assert fast.compiled, fast.reason
    slow = cr.compile(own_loss_step)
    with pytest.warns(RuntimeWarning, match="running eagerly"):
        slow(cr.tensor(X), rng.normal(size=(12, 2)))
    assert "does not replay" in slow.reason  # found, then refused: not 'could not be found'
