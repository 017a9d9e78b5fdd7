"""A captured training step: record one eager step, then replay it as a fixed plan.

For a small network most of an eager step is Python: building the graph node by node, the
backward walk's bookkeeping, a fresh array for every intermediate result.  When the step is a
chain of fully connected layers with element-wise activations and one of the standard losses
(the networks of the course, and W0-W4 in ``bench/``), all of that is known after one step.
:func:`compile` records that step (``chainrule.engine.record``), recognises the chain, and
from then on runs the same arithmetic as straight-line NumPy into buffers allocated once
(``out=`` everywhere, no graph), then the optimizer's own ``step()``, so the optimizer's state,
parameter groups and schedules behave exactly as in eager mode.  With numba installed
(``pip install chainrule[fast]``) a step whose optimizer is SGD, Adam, AdamW or RMSprop with
one parameter group runs instead as one call of a compiled kernel
(:mod:`chainrule.training.kernel` over the flat buffers of :mod:`chainrule.training.flat`):
forward, loss, backward and update together, with the parameters, gradients and optimizer
state as views the user's tensors and ``state_dict()`` still show.  A step the kernel cannot
run replays the NumPy plan, with one :class:`~chainrule.training.flat.KernelFallbackWarning`
saying why.

The plan is checked before it is trusted: on the recorded batch it must reproduce the eager
loss and every gradient (to 1e-9 relative in float64, 1e-4 in float32).  Anything it does not
recognise (other layers, dropout, sample weights, a closure-driven optimizer) or that fails
the check runs eagerly, with one warning saying why.

A plan bakes in the network as it was at capture.  Before each replay a watch
(:mod:`chainrule.training.watch` says what it covers) checks that the network is unchanged;
after any change (an activation swapped, a layer appended, a weight frozen or replaced,
``model.eval()``) the next step captures again and checks the new plan against the eager step
as the first capture did.  The capture's own forward pass leaves no trace in the modules, so a
step that falls back to eager computes what the eager step computes.

>>> import numpy as np, chainrule as cr
>>> model = cr.nn.Sequential(cr.nn.Linear(2, 4, rng=0, dtype=np.float64), cr.nn.Tanh(),
...                          cr.nn.Linear(4, 1, rng=1, dtype=np.float64), cr.nn.Sigmoid())
>>> opt = cr.optim.SGD(model.parameters(), lr=0.5)
>>> loss_fn = cr.nn.BCELoss()
>>> def step(xb, yb):
...     opt.zero_grad()
...     loss = loss_fn(model(xb), yb)
...     loss.backward()
...     opt.step()
...     return loss
>>> fast = cr.compile(step, optimizer=opt)
>>> X = np.random.default_rng(0).normal(size=(8, 2)); y = (X[:, :1] > 0) * 1.0
>>> losses = [float(fast(cr.tensor(X), y)) for _ in range(3)]
>>> fast.compiled, losses[2] < losses[0]
(True, True)
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from .. import nn
from ..engine import Tensor, record
from ..errors import ConfigError
from . import kernel
from .discover import find_optimizer, model_and_loss
from .flat import FlatStep, KernelFallbackWarning, KernelRefusedError
from .plan import Plan, UnsupportedStepError, as_array, model_output, read_chain, weights
from .watch import Watch, leaves_no_trace, step_bindings

__all__ = ["CompiledGradients", "CompiledStep", "capture", "compile", "flat_step"]


# -- capture and replay ---------------------------------------------------------------------

def capture(model: Any, loss_fn: Callable[..., Tensor], xb: Any, yb: Any,
            expected: list[tuple[Tensor, np.ndarray | None]] | None = None) -> Plan:
    """Record ``loss_fn(model(xb), yb)`` once and build its plan, checked against the eager
    gradients (put in ``expected``, as (parameter, gradient) pairs, when it is given).  Raises
    :class:`UnsupportedStepError` when the step is not a chain it can replay.  The recording
    pass leaves the modules as it found them (attributes, buffers, random generators) and the
    parameters' gradients too."""
    x = xb if isinstance(xb, Tensor) else Tensor(np.asarray(xb))
    if type(x.data) is not np.ndarray:  # the plan's kernels are NumPy's and numba's
        raise UnsupportedStepError(f"compiled plans run on the CPU only, and the batch is on "
                                   f"{x.device!r}")
    if x.ndim != 2:
        raise UnsupportedStepError("inputs are not a 2-D batch")
    params = list(model.parameters()) if isinstance(model, nn.Module) else []
    with _grads_set_aside(params):
        with leaves_no_trace(model, loss_fn), record() as tape:
            loss = loss_fn(model(x), yb)
        if not isinstance(loss, Tensor) or loss.data.size != 1 or not loss.requires_grad:
            raise UnsupportedStepError("the loss is not a scalar tensor that requires gradients")
        layers, kind, reduction, loss_t = read_chain(tape, x)
        if loss_t is not loss:
            raise UnsupportedStepError("the value returned is not the recorded loss")
        # weights the model does not list as parameters (a function as the model)
        known = {id(p) for p in params}
        extra = list({id(t): t for t in weights(layers) if id(t) not in known}.values())
        params += extra
        with _grads_set_aside(extra):
            loss.backward()
            eager = {id(p): None if p.grad is None else p.grad.copy() for p in params}
        eager_loss = float(loss.item())
        if expected is not None:
            expected[:] = [(p, eager[id(p)]) for p in params]
    dtype = layers[0].weight.data.dtype
    if any(t.data.dtype != dtype for t in weights(layers)):
        raise UnsupportedStepError("layers of different dtypes")
    plan = Plan(layers, kind, reduction, x.shape, as_array(yb), dtype)
    _check(plan, x.data.astype(dtype, copy=False), yb, params, eager, eager_loss)
    return plan


@contextlib.contextmanager
def _grads_set_aside(params: list[Tensor]) -> Iterator[None]:
    """Clear the gradients, as ``zero_grad`` leaves them (a frozen weight has none), and put
    the caller's back afterwards."""
    saved = [(p, p.grad) for p in params]
    for p in params:
        p.grad = None
    try:
        yield
    finally:
        for p, g in saved:
            p.grad = g


def _check(plan: Plan, x: np.ndarray, yb: Any, params: list[Any],
           eager: dict[int, np.ndarray | None], eager_loss: float) -> None:
    with _grads_set_aside(params):
        value = plan.gradients(x, plan.target(yb))
        tol = 1e-9 if plan.dtype == np.float64 else 1e-4
        if not np.isclose(value, eager_loss, rtol=tol, atol=tol * 1e-3):
            raise UnsupportedStepError(f"the plan's loss {value} differs from the eager "
                                       f"{eager_loss}")
        for p in params:
            want, got = eager[id(p)], p.grad
            if (want is None) != (got is None):
                raise UnsupportedStepError("the plan and the eager step disagree on which "
                                           "parameters get gradients")
            if want is not None and not np.allclose(got, want, rtol=tol, atol=tol * 1e-3):
                raise UnsupportedStepError("the plan's gradients differ from the eager step's")


def _batch_key(x: np.ndarray, y: np.ndarray) -> tuple:
    """What a plan's buffers depend on: the batch's and the targets' shapes and dtypes."""
    return (x.shape, x.dtype, y.shape, y.dtype)


class _Replay:
    """What a capture decided for one batch shape: the plan (or why the step runs eagerly),
    and the plan's one-call kernel once it has been tried."""

    def __init__(self, plan: Plan | None, reason: str | None) -> None:
        self.plan, self.reason = plan, reason
        self.flat: FlatStep | None = None
        self.flat_tried = False


class CompiledStep:
    """A training step that replays a captured plan; see :func:`compile`.

    It keeps one plan per batch shape, so an epoch whose last batch is smaller replays both
    (capturing each once) instead of capturing again at every change of shape."""

    def __init__(self, step_fn: Callable[..., Any] | None = None, *, model: Any = None,
                 loss_fn: Callable[..., Tensor] | None = None, optimizer: Any = None) -> None:
        self.step_fn = step_fn
        self.model = model
        self.loss_fn = loss_fn
        self.optimizer = optimizer
        if optimizer is None and step_fn is not None:  # found again at each capture
            self._optimizer_found = True
            object.__setattr__(self, "optimizer", find_optimizer(step_fn))
        self._replays: dict[tuple, _Replay] = {}  # per batch shape
        self._now = _Replay(None, None)  # the last call's
        self.watch: Watch | None = None
        self._returns_tensor = step_fn is None
        # the gradients of loss_fn(model(x), y) at the last capture, to check the step against
        self._expected: list[tuple[Tensor, np.ndarray | None]] = []

    def __setattr__(self, name: str, value: Any) -> None:
        if name in ("step_fn", "model", "loss_fn", "optimizer"):
            object.__setattr__(self, "watch", None)  # another step: capture at the next call
            if name == "optimizer":
                object.__setattr__(self, "_optimizer_found", False)  # the caller's choice
        object.__setattr__(self, name, value)

    @property
    def plan(self) -> Plan | None:
        """The plan the last call replayed or captured (None where it ran eagerly)."""
        return self._now.plan

    @property
    def reason(self) -> str | None:
        """Why the last call's batch shape runs eagerly (None where it replays a plan)."""
        return self._now.reason

    @property
    def flat(self) -> FlatStep | None:
        """The last call's one-call kernel, where numba runs it (None: the NumPy plan)."""
        return self._now.flat

    @property
    def compiled(self) -> bool:
        """Whether the last call replayed the plan (False: it ran eagerly)."""
        return self.plan is not None and self.reason is None

    def _current(self, xb: Any, yb: Any, x: np.ndarray, y: np.ndarray) -> bool:
        """Whether a plan (or the decision to run eagerly) holds for this batch (``x`` and
        ``y``: its arrays) and the model as it is now; if not, capture (a new plan, or a
        reason to be eager): every plan goes where the model changed, only this shape's is
        added where it is new."""
        key = _batch_key(x, y)
        if self.watch is None or not self.watch.unchanged():
            self._replays.clear()
        else:
            replay = self._replays.get(key)
            if replay is not None:
                if replay is not self._now:  # this class's __setattr__ is Python: ~0.2 us
                    self._now = replay
                return True
        self._capture(xb, yb, key)
        return False

    def gradients(self, xb: Any, yb: Any) -> float:
        """Forward and backward only: set every parameter's ``.grad``; returns the loss."""
        self._current(xb, yb, as_array(xb), as_array(yb))
        if self.plan is None:
            raise ConfigError(f"gradients() needs a captured plan, and this step runs eagerly "
                              f"because {self.reason}")
        x = as_array(xb, self.plan.dtype)
        return self.plan.gradients(x, self.plan.target(yb))

    def __call__(self, xb: Any, yb: Any) -> Any:
        x, y = as_array(xb), as_array(yb)
        if not self._current(xb, yb, x, y):
            # The first step after a capture runs eagerly: exact by definition, and it shows
            # what the step function returns, and whether it computes what the plan replays.
            out = self._eager(xb, yb)
            self._returns_tensor = isinstance(out, Tensor)
            if self.plan is not None and self.step_fn is not None:
                self._check_step_matches_plan()
            return out
        now = self._now
        if now.reason is not None:
            return self._eager(xb, yb)
        plan = now.plan
        x, y = x.astype(plan.dtype, copy=False), plan.target(y)
        if not now.flat_tried:  # after the eager step, which made the optimizer's state
            now.flat_tried = True
            now.flat = flat_step(plan, self.optimizer, x, y, "compile")
        if now.flat is not None:
            value = now.flat.run(x, y)
            if value is not None:
                return self._result(value)
        if not plan.takes(y):
            return self._eager(xb, yb)
        # As the step function does: parameters the plan gives no gradient (frozen ones, or
        # ones outside the model) must not be stepped with a gradient left from before.
        self.optimizer.zero_grad()
        value = plan.gradients(x, y)
        self.optimizer.step()
        return self._result(value)

    def _check_step_matches_plan(self) -> None:
        """Run eagerly from now on when the step function's gradients are not those of
        ``loss_fn(model(x), y)`` that the plan replays: it adds a penalty or a gradient of a
        gradient, scales the loss or clips the gradients.  Replaying the plan would then
        silently train something else."""
        for p, want in self._expected:
            got = p.grad
            if got is None:  # zeroed after the update: nothing to compare
                continue
            got = got.data if isinstance(got, Tensor) else got
            scale = 1.0 if want is None else max(1.0, float(np.abs(want).max(initial=0.0)))
            if want is None or got.shape != want.shape or not np.allclose(
                    got, want, rtol=1e-5, atol=1e-6 * scale):
                self._now.plan, self._now.reason = None, (
                    "the step function's gradients are not those of loss_fn(model(x), y) "
                    "alone (it adds to the loss, differentiates a gradient, scales or clips)")
                warnings.warn(f"compile: running eagerly, because {self.reason}",
                              RuntimeWarning, stacklevel=3)
                return

    def _result(self, value: float) -> Any:
        return Tensor(np.asarray(value, dtype=self.plan.dtype)) if self._returns_tensor \
            else value

    def _eager(self, xb: Any, yb: Any) -> Any:
        if self.step_fn is not None:
            return self.step_fn(xb, yb)
        self.optimizer.zero_grad()
        loss = self.loss_fn(self.model(xb), yb)
        loss.backward()
        self.optimizer.step()
        return loss

    def _capture(self, xb: Any, yb: Any, key: tuple) -> None:
        self._expected = []
        if self._optimizer_found:  # the step function may name another optimizer now
            object.__setattr__(self, "optimizer", find_optimizer(self.step_fn))
        model, loss_fn, plan, reason = self.model, self.loss_fn, None, None
        try:
            if self.optimizer is None:
                raise UnsupportedStepError("no optimizer given or found in the step function")
            if getattr(self.optimizer, "requires_closure", False) or \
                    type(self.optimizer).__name__ == "LBFGS":
                raise UnsupportedStepError("the optimizer re-evaluates the loss through a closure")
            if model is None or loss_fn is None:
                model, loss_fn = model_and_loss(self.step_fn, self.optimizer, xb, yb)
            # The extra pass's floating-point warnings (overflow in a diverging model): the
            # eager run after it reports its own.  errstate holds per thread (and per context
            # in NumPy 2), where catch_warnings would swap the process's warning filters.
            with np.errstate(all="ignore"):
                plan = capture(model, loss_fn, xb, yb, self._expected)
        except UnsupportedStepError as why:
            reason = str(why)
            warnings.warn(f"compile: running eagerly, because {why}", RuntimeWarning,
                          stacklevel=4)
        self._now = self._replays[key] = _Replay(plan, reason)
        bindings = step_bindings(self.step_fn, (model, loss_fn, self.optimizer))
        plans = [r.plan for r in self._replays.values() if r.plan is not None]
        roots = [r for r in (model, loss_fn) if r is not None]
        self.watch = Watch(roots, (), bindings, full=False) if not plans else \
            _watch_plans(model, loss_fn, plans, bindings)


class CompiledGradients:
    """The plans ``cr.fit(..., compile=True)`` replays, one per batch shape, for the model as
    it is: when the watch sees the model or the loss changed (a callback edited it between
    epochs), every plan is dropped and the next batch captures again."""

    def __init__(self) -> None:
        self.plans: dict[tuple, Plan | None] = {}
        self.flats: dict[int, FlatStep | None] = {}  # per plan (its id): its kernel
        # per plan: its kernel with the optimizer's update, for whole epochs (epoch_kernel.py)
        self.stepping: dict[int, FlatStep | None] = {}
        self.watch: Watch | None = None
        self._of: tuple[Any, Any] | None = None  # the model and loss the plans are for

    def plan(self, model: Any, loss_fn: Any, xb: Tensor, yb: Any) -> Plan | None:
        if self.watch is not None and (self._of is None or self._of[0] is not model
                                       or self._of[1] is not loss_fn
                                       or not self.watch.unchanged()):
            self.plans.clear()
            self.flats.clear()
            self.stepping.clear()
            self.watch = None
        key = _batch_key(as_array(xb), as_array(yb))
        if key not in self.plans:
            try:
                self.plans[key] = capture(model, loss_fn, xb, yb)
            except UnsupportedStepError as why:
                if not any(v is None for v in self.plans.values()):
                    warnings.warn(f"fit(compile=True): training eagerly, because {why}",
                                  RuntimeWarning, stacklevel=5)
                self.plans[key] = None
            self._of = (model, loss_fn)
            self.watch = _watch_plans(model, loss_fn, self.plans.values())
        return self.plans[key]

    def run(self, plan: Plan, xb: Tensor, yb: Any) -> tuple[float, Tensor]:
        """The batch's loss and the model's output; every trainable weight's ``.grad`` set."""
        x, y = as_array(xb, plan.dtype), plan.target(yb)
        flat = self.flats.get(id(plan), False)
        if flat is False:
            flat = self.flats[id(plan)] = flat_step(plan, None, x, y, "fit(compile=True)")
        if flat is not None:
            value = flat.run(x, y)
            if value is not None:
                return value, Tensor(flat.output())
        if not plan.takes(y):  # as an eager step
            model, loss_fn = self._of
            out = model(xb)
            loss = loss_fn(out, yb)
            loss.backward()
            return float(loss.item()), out
        value = plan.gradients(x, y)
        return value, Tensor(model_output(plan).copy())


def flat_step(plan: Plan, optimizer: Any, x: np.ndarray, y: np.ndarray,
              who: str) -> FlatStep | None:
    """The one-call kernel for ``plan`` (with ``optimizer``'s update, or gradients only
    where it is None); None without numba or where the NumPy plan is the faster one (a layer
    past :data:`kernel.LARGEST`), silently, or with one warning saying why the kernel cannot
    run it."""
    if kernel.kernels() is None:
        return None
    if not kernel.takes(plan, x.shape[0]):
        return None
    try:
        return FlatStep(plan, optimizer, x.shape, y.shape)
    except KernelRefusedError as why:
        warnings.warn(f"{who}: replaying the NumPy plan instead of the one-call kernel, "
                      f"because {why}", KernelFallbackWarning, stacklevel=4)
        return None


def _watch_plans(model: Any, loss_fn: Any, plans: Any, bindings: Any = ()) -> Watch:
    """A full watch where some plan replays (its weights and the model's parameters), only the
    structure where every step runs eagerly anyway."""
    real = [p for p in plans if p is not None]
    params = [t for p in real for t in weights(p.layers)]
    if isinstance(model, nn.Module):
        params += model.parameters()
    return Watch((model, loss_fn), params, bindings, full=bool(real))


def compile(step_fn: Callable[..., Any] | None = None, *, model: Any = None,  # noqa: A001
            loss_fn: Callable[..., Tensor] | None = None, optimizer: Any = None
            ) -> CompiledStep:
    """Wrap a training step so that, after one eager call, it replays a captured plan.

    Either ``compile(step_fn, optimizer=opt)`` for a function ``step_fn(xb, yb)`` that zeroes
    the gradients, computes ``loss_fn(model(xb), yb)``, backpropagates and steps ``opt``
    (the model and loss are found from what the function refers to, or pass ``model=`` and
    ``loss_fn=``), or ``compile(model=..., loss_fn=..., optimizer=...)`` for that step
    itself.  Each call returns what the step returns (the loss).  The replay is exact to
    rounding: the same formulas as the eager engine, in the same order.  Side effects of
    ``step_fn`` other than those four steps are not replayed; a step whose gradients are not
    those of ``loss_fn(model(xb), yb)`` (a penalty, a gradient of a gradient, a scaled loss,
    clipping) is found on its first eager call and runs eagerly from then on, with a warning.
    Changing the network between calls (a layer swapped or appended, an option such as
    LeakyReLU's slope, a weight frozen or replaced, ``model.eval()``, the loss's reduction,
    or the step function's name ``model`` bound to another model) makes the next call capture
    again; see :mod:`chainrule.training.watch`.
    """
    if step_fn is None and (model is None or loss_fn is None or optimizer is None):
        raise ConfigError("compile needs a step function, or model=, loss_fn= and optimizer=")
    return CompiledStep(step_fn, model=model, loss_fn=loss_fn, optimizer=optimizer)
