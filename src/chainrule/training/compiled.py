"""A captured training step: record one eager step, then replay it as a fixed plan.

For a small network most of an eager step is Python: building the graph node by node, the
backward walk's bookkeeping, a fresh array for every intermediate result.  When the step is a
chain of fully connected layers with element-wise activations and one of the standard losses
(the networks of the course, and W0-W4 in ``bench/``), all of that is known after one step.
:func:`compile` records that step (``chainrule.engine.record``), recognises the chain, and
from then on runs the same arithmetic as straight-line NumPy into buffers allocated once
(``out=`` everywhere, no graph), then the optimizer's own ``step()``, so the optimizer's state,
parameter groups and schedules behave exactly as in eager mode.

The plan is checked before it is trusted: on the recorded batch it must reproduce the eager
loss and every gradient (to 1e-9 relative in float64, 1e-4 in float32).  Anything it does not
recognise (other layers, dropout, sample weights, a closure-driven optimizer) or that fails
the check runs eagerly, with one warning saying why.  A plan is rebuilt when the batch shape or
dtype changes or the parameters are replaced.

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

import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from .. import nn
from ..engine import Tensor, record
from ..engine.ops import stable_sigmoid
from ..errors import ConfigError
from . import fused

__all__ = ["CompiledGradients", "CompiledStep", "Plan", "capture", "compile"]

ACTIVATIONS = ("identity", "tanh", "sigmoid", "relu", "leaky_relu")
LOSSES = ("mse", "bce_logits", "cross_entropy")


@dataclass
class _Layer:
    weight: Tensor
    bias: Tensor | None
    activation: str = "identity"
    slope: float = 0.0  # leaky_relu's negative slope
    sigmoid_after: bool = False  # the model's Sigmoid, folded into BCE's logits by the loss


class UnsupportedStepError(Exception):
    """The recorded step is not a chain the plan can replay (the message says why)."""


# -- recognising the recorded chain ---------------------------------------------------------

def _chain(tape: list[Any], x: Tensor) -> tuple[list[_Layer], str, str, Tensor]:
    """Read ``linear -> activation -> ... -> loss`` off the tape; returns the layers, the
    loss kind, its reduction and the loss tensor."""
    layers: list[_Layer] = []
    current = x
    before_activation = None  # the last Linear's output, where BCE-after-sigmoid starts
    for r in tape:
        name = r.primitive.name
        if name == "astype" and r.inputs[0] is current:
            current = r.output
        elif name == "linear" and r.inputs[0] is current:
            w = r.inputs[1]
            b = r.inputs[2] if len(r.inputs) > 2 else None
            if not (w.is_leaf and (b is None or b.is_leaf)):
                raise UnsupportedStepError("a layer's weight is computed, not a parameter")
            layers.append(_Layer(w, b))
            current = before_activation = r.output
        elif name in ("tanh", "sigmoid", "relu", "leaky_relu") and r.inputs[0] is current:
            if not layers or layers[-1].activation != "identity":
                raise UnsupportedStepError(f"{name} without a Linear layer before it")
            layers[-1].activation = name
            if name == "leaky_relu":
                layers[-1].slope = float(r.operands[1])
            current = r.output
        elif _is_loss(r):
            return layers, *_loss_kind(r, layers, current, before_activation), r.output
        else:
            raise UnsupportedStepError(f"the step uses {name}, which the captured plan does "
                                       "not replay")
    raise UnsupportedStepError("no loss was computed in the step")


def _is_loss(r: Any) -> bool:
    return r.primitive.name.endswith("_loss")


def _loss_kind(r: Any, layers: list[_Layer], current: Tensor,
               before_activation: Tensor | None) -> tuple[str, str]:
    name, template = r.primitive.name, r.primitive.template
    if not isinstance(template, str) or "reduction='none'" in template:
        raise UnsupportedStepError("the loss is not reduced to one number")
    if "sample_weight" in template:
        raise UnsupportedStepError("the loss uses sample weights")
    if not layers:
        raise UnsupportedStepError("no Linear layer")
    kinds = {"mse_loss": "mse", "bce_with_logits_loss": "bce_logits",
             "cross_entropy_loss": "cross_entropy"}
    if name == "bce_loss" and template.startswith("bce_loss(sigmoid("):
        # BCELoss after a Sigmoid works from the logits: the sigmoid's input is the loss input
        if layers[-1].activation != "sigmoid" or r.inputs[0] is not before_activation:
            raise UnsupportedStepError("bce_loss on a sigmoid the plan did not see")
        layers[-1].activation = "identity"
        layers[-1].sigmoid_after = True
        kind = "bce_logits"
    elif name in kinds and r.inputs[0] is current:
        kind = kinds[name]
    else:
        raise UnsupportedStepError(f"the loss {name} on these inputs")
    scale = r.saved[1] if isinstance(r.saved, tuple) else None
    reduction = "sum" if scale == 1.0 else "mean"
    return kind, reduction


# -- the plan -------------------------------------------------------------------------------

class Plan:
    """Forward, loss and backward of a recognised chain, into buffers allocated once."""

    def __init__(self, layers: list[_Layer], loss: str, reduction: str,
                 x_shape: tuple[int, ...], target: Any, dtype: np.dtype) -> None:
        self.layers = layers
        self.loss = loss
        self.reduction = reduction
        self.dtype = dtype
        n = x_shape[0]
        self.n = n
        self.acts = [np.empty((n, L.weight.data.shape[0]), dtype) for L in layers]
        self.deltas = [np.empty_like(a) for a in self.acts]
        self.grads_w = [np.empty_like(L.weight.data) for L in layers]
        self.grads_b = [None if L.bias is None else np.empty_like(L.bias.data) for L in layers]
        self.ones = np.ones(n, dtype)
        self.labels = np.asarray(target).ndim == 1 and loss == "cross_entropy"
        self.fused = fused.kernels()  # None: the NumPy formulas below
        self.no_bias = np.empty(0, dtype)

    def gradients(self, x: np.ndarray, y: Any) -> float:
        """Run forward and backward; leaves dJ/dp in each trainable parameter's ``.grad``."""
        k = self.fused
        a = x
        inputs = []
        for L, z in zip(self.layers, self.acts):
            inputs.append(a)
            np.matmul(a, L.weight.data.T, out=z)
            if k is not None and L.activation in fused.LOOP_FRIENDLY:
                bias = self.no_bias if L.bias is None else L.bias.data
                k.bias_activation(z, bias, fused.ACTIVATION_CODES[L.activation], L.slope)
            else:
                if L.bias is not None:
                    z += L.bias.data
                _activate(z, L)
            a = z
        value = self._loss_and_delta(a, y)
        for i in range(len(self.layers) - 1, -1, -1):
            L, d = self.layers[i], self.deltas[i]
            if L.weight.requires_grad:
                np.matmul(d.T, inputs[i], out=self.grads_w[i])
                L.weight.grad = self.grads_w[i]
            if L.bias is not None and L.bias.requires_grad:
                np.matmul(self.ones, d, out=self.grads_b[i])
                L.bias.grad = self.grads_b[i]
            if i:
                below, lower = self.deltas[i - 1], self.layers[i - 1]
                np.matmul(d, L.weight.data, out=below)
                if k is not None and lower.activation in fused.LOOP_FRIENDLY:
                    k.times_derivative(below, self.acts[i - 1],
                                       fused.ACTIVATION_CODES[lower.activation], lower.slope)
                else:
                    _times_derivative(below, self.acts[i - 1], lower)
        return value

    def _loss_and_delta(self, out: np.ndarray, y: Any) -> float:
        d = self.deltas[-1]
        count = out.size if self.loss != "cross_entropy" else out.shape[0]
        scale = 1.0 / count if self.reduction == "mean" else 1.0
        k = self.fused
        if k is not None and self.loss == "mse" and np.ndim(y) == 2:
            return float(k.mse(out, y, d, scale))
        if self.loss == "mse":
            np.subtract(out, y, out=d)
            value = float(np.vdot(d, d)) * scale
            d *= 2 * scale
        elif self.loss == "bce_logits":
            loss = np.abs(out)
            np.negative(loss, out=loss)
            np.exp(loss, out=loss)
            np.log1p(loss, out=loss)
            loss += np.maximum(out, 0)
            loss -= out * y
            value = float(loss.sum()) * scale
            np.subtract(stable_sigmoid(out), y, out=d)
            d *= scale
        else:
            shifted = out - out.max(axis=1, keepdims=True)
            np.exp(shifted, out=d)
            total = d.sum(axis=1, keepdims=True)
            log_total = np.log(total)
            d /= total
            if self.labels:
                rows = np.arange(out.shape[0])
                labels = np.asarray(y, dtype=np.intp)
                value = -float((shifted[rows, labels] - log_total[:, 0]).sum()) * scale
                d[rows, labels] -= 1
            else:
                yy = np.asarray(y, dtype=out.dtype)
                value = -float((yy * (shifted - log_total)).sum()) * scale
                d *= yy.sum(axis=1, keepdims=True)
                d -= yy
            d *= scale
        return value


def model_output(plan: Plan) -> np.ndarray:
    """What the model itself returns for the last batch (probabilities after a Sigmoid that
    the loss folded into its logits)."""
    last = plan.acts[-1]
    return stable_sigmoid(last) if plan.layers[-1].sigmoid_after else last


class CompiledGradients:
    """The plans ``cr.fit(..., compile=True)`` replays, one per batch shape."""

    def __init__(self) -> None:
        self.plans: dict[tuple, Plan | None] = {}

    def plan(self, model: Any, loss_fn: Any, xb: Tensor, yb: Any) -> Plan | None:
        key = (xb.shape, xb.dtype.str, np.shape(yb), tuple(id(p.data) for p in
                                                              model.parameters()))
        if key not in self.plans:
            try:
                self.plans[key] = capture(model, loss_fn, xb, yb)
            except UnsupportedStepError as why:
                if not any(v is None for v in self.plans.values()):
                    warnings.warn(f"fit(compile=True): training eagerly, because {why}",
                                  RuntimeWarning, stacklevel=5)
                self.plans[key] = None
        return self.plans[key]

    def run(self, plan: Plan, xb: Tensor, yb: Any) -> tuple[float, Tensor]:
        value = plan.gradients(_data(xb, plan.dtype), _target(plan, yb))
        return value, Tensor(model_output(plan).copy())


def _activate(z: np.ndarray, L: _Layer) -> None:
    act = L.activation
    if act == "tanh":
        np.tanh(z, out=z)
    elif act == "sigmoid":
        z[...] = stable_sigmoid(z)
    elif act == "relu":
        np.maximum(z, 0, out=z)
    elif act == "leaky_relu":
        np.copyto(z, np.where(z > 0, z, z * L.slope))


def _times_derivative(g: np.ndarray, a: np.ndarray, L: _Layer) -> None:
    """g *= g'(z), from the layer's output a (tanh, sigmoid) or its sign (the ReLUs)."""
    act = L.activation
    if act == "tanh":
        g *= 1 - a * a
    elif act == "sigmoid":
        g *= a * (1 - a)
    elif act == "relu":
        g *= a > 0
    elif act == "leaky_relu":
        np.copyto(g, np.where(a > 0, g, g * L.slope))


# -- capture and replay ---------------------------------------------------------------------

def _data(x: Any, dtype: Any = None) -> np.ndarray:
    return np.asarray(x.data if isinstance(x, Tensor) else x, dtype=dtype)


def capture(model: Any, loss_fn: Callable[..., Tensor], xb: Any, yb: Any) -> Plan:
    """Record ``loss_fn(model(xb), yb)`` once and build its plan, checked against the eager
    gradients.  Raises :class:`UnsupportedStepError` when the step is not a chain it can replay."""
    x = xb if isinstance(xb, Tensor) else Tensor(np.asarray(xb))
    if x.ndim != 2:
        raise UnsupportedStepError("inputs are not a 2-D batch")
    params = [p for p in model.parameters()]
    saved_grads = [p.grad for p in params]
    for p in params:
        p.grad = None
    try:
        with record() as tape:
            loss = loss_fn(model(x), yb)
        if not isinstance(loss, Tensor) or loss.data.size != 1 or not loss.requires_grad:
            raise UnsupportedStepError("the loss is not a scalar tensor that requires gradients")
        layers, kind, reduction, loss_t = _chain(tape, x)
        if loss_t is not loss:
            raise UnsupportedStepError("the value returned is not the recorded loss")
        loss.backward()
        eager = {id(p): None if p.grad is None else p.grad.copy() for p in params}
        eager_loss = float(loss.item())
    finally:
        for p, g in zip(params, saved_grads):
            p.grad = g
    dtype = layers[0].weight.data.dtype
    if any(L.weight.data.dtype != dtype for L in layers):
        raise UnsupportedStepError("layers of different dtypes")
    plan = Plan(layers, kind, reduction, x.shape, _data(yb), dtype)
    _check(plan, x.data.astype(dtype, copy=False), yb, params, eager, eager_loss)
    return plan


def _check(plan: Plan, x: np.ndarray, yb: Any, params: list[Any],
           eager: dict[int, np.ndarray | None], eager_loss: float) -> None:
    saved = [p.grad for p in params]
    try:
        value = plan.gradients(x, _target(plan, yb))
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
    finally:
        for p, g in zip(params, saved):
            p.grad = g


def _target(plan: Plan, yb: Any) -> np.ndarray:
    y = _data(yb)
    if plan.loss == "cross_entropy" and plan.labels:
        return y
    return y.astype(plan.dtype, copy=False)


class CompiledStep:
    """A training step that replays a captured plan; see :func:`compile`."""

    def __init__(self, step_fn: Callable[..., Any] | None = None, *, model: Any = None,
                 loss_fn: Callable[..., Tensor] | None = None, optimizer: Any = None) -> None:
        self.step_fn = step_fn
        self.model = model
        self.loss_fn = loss_fn
        self.optimizer = optimizer
        self.plan: Plan | None = None
        self.reason: str | None = None  # why the last capture fell back to eager
        self._key: tuple | None = None

    @property
    def compiled(self) -> bool:
        """Whether the last call replayed the plan (False: it ran eagerly)."""
        return self.plan is not None and self.reason is None

    def _signature(self, xb: Any, yb: Any) -> tuple:
        x, y = _data(xb), _data(yb)
        params = tuple(id(p.data) for p in self._params())
        return (x.shape, x.dtype.str, y.shape, y.dtype.str, params)

    def _params(self) -> list[Any]:
        return [p for g in _groups(self.optimizer) for p in g]

    def gradients(self, xb: Any, yb: Any) -> float:
        """Forward and backward only: set every parameter's ``.grad``; returns the loss."""
        if self.plan is None:
            raise ConfigError("gradients() needs a captured plan; call the step once first")
        x = _data(xb, self.plan.dtype)
        return self.plan.gradients(x, _target(self.plan, yb))

    def __call__(self, xb: Any, yb: Any) -> Any:
        key = self._signature(xb, yb)
        if key != self._key:
            self._key = key
            return self._capture_and_run(xb, yb)
        if self.reason is not None:
            return self._eager(xb, yb)
        value = self.gradients(xb, yb)
        self.optimizer.step()
        return self._result(value)

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

    def _capture_and_run(self, xb: Any, yb: Any) -> Any:
        self.plan, self.reason = None, None
        try:
            if self.optimizer is None:
                raise UnsupportedStepError("no optimizer given or found in the step function")
            if getattr(self.optimizer, "requires_closure", False) or \
                    type(self.optimizer).__name__ == "LBFGS":
                raise UnsupportedStepError("the optimizer re-evaluates the loss through a closure")
            model, loss_fn = self.model, self.loss_fn
            if model is None or loss_fn is None:
                model, loss_fn = _from_step(self.step_fn, self.optimizer, xb, yb)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # the eager run below reports its own
                self.plan = capture(model, loss_fn, xb, yb)
            self._returns_tensor = self.step_fn is None
        except UnsupportedStepError as why:
            self.reason = str(why)
            warnings.warn(f"compile: running eagerly, because {why}", RuntimeWarning,
                          stacklevel=3)
            return self._eager(xb, yb)
        out = self._eager(xb, yb)  # the first step itself runs eagerly: exact by definition
        self._returns_tensor = isinstance(out, Tensor)
        return out


def _groups(optimizer: Any) -> list[list[Any]]:
    if optimizer is None:
        return []
    groups = getattr(optimizer, "param_groups", None)
    if groups:
        return [list(g["params"]) for g in groups]
    return [list(getattr(optimizer, "params", []))]


def _from_step(step_fn: Any, optimizer: Any, xb: Any, yb: Any) -> tuple[Any, Any]:
    """Find the model and loss a user's step function uses, from what it refers to."""
    refs = _referenced(step_fn)
    owned = {id(p) for g in _groups(optimizer) for p in g}
    models = [v for v in refs if isinstance(v, nn.Module)
              and v.parameters() and all(id(p) in owned for p in v.parameters())
              and not _is_loss_module(v)]
    losses = [v for v in refs if (_is_loss_module(v) or (
        callable(v) and getattr(v, "__module__", "") == "chainrule.nn.functional"))]
    if len(models) != 1 or len(losses) != 1:
        raise UnsupportedStepError("the step function's model and loss could not be found; pass "
                          "model= and loss_fn= to compile()")
    return models[0], losses[0]


def _is_loss_module(v: Any) -> bool:
    return isinstance(v, nn.Module) and type(v).__name__.endswith("Loss")


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
    ``step_fn`` other than those four steps are not replayed.
    """
    if step_fn is None and (model is None or loss_fn is None or optimizer is None):
        raise ConfigError("compile needs a step function, or model=, loss_fn= and optimizer=")
    if optimizer is None and step_fn is not None:
        optimizer = _find_optimizer(step_fn)
    return CompiledStep(step_fn, model=model, loss_fn=loss_fn, optimizer=optimizer)


def _referenced(step_fn: Any) -> list[Any]:
    """The objects a function names: its globals and closure cells that its code uses."""
    refs = dict(getattr(step_fn, "__globals__", {}))
    for name, cell in zip(step_fn.__code__.co_freevars, step_fn.__closure__ or ()):
        try:
            refs[name] = cell.cell_contents
        except ValueError:  # a cell not yet assigned
            continue
    names = set(step_fn.__code__.co_names) | set(step_fn.__code__.co_freevars)
    return [v for k, v in refs.items() if k in names]


def _find_optimizer(step_fn: Any) -> Any:
    found = [v for v in _referenced(step_fn) if hasattr(v, "step")
             and hasattr(v, "zero_grad") and not isinstance(v, nn.Module)]
    return found[0] if len(found) == 1 else None
