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
the check runs eagerly, with one warning saying why.

A plan bakes in the network as it was: which layers in which order, each layer's options
(LeakyReLU's slope, the loss's reduction), the training flags, which tensors are the weights,
their shapes, dtypes and ``requires_grad``, and the batch's shapes and dtypes.  Before each
replay a watch (:class:`Watch`) checks that all of those are as the capture saw them; after
any change (an activation swapped, a layer appended, a weight frozen or replaced,
``model.eval()``) the next step captures again and checks the new plan against the eager step
as the first capture did.  The capture's own forward pass leaves no trace: the modules'
attributes, buffers (BatchNorm's running statistics) and random generators (Dropout's) are put
back, so a step that falls back to eager computes what the eager step computes.

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
import functools
import itertools
import operator
import types
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from .. import nn
from ..engine import Tensor, record
from ..engine.ops import stable_sigmoid
from ..engine.random import get_rng
from ..errors import ConfigError
from . import fused

__all__ = ["CompiledGradients", "CompiledStep", "Plan", "Watch", "capture", "compile"]

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
        elif name == "linear" and (r.inputs[0] is current or (
                not layers and _is_cast_of(r.inputs[0], x, r.inputs[1].dtype))):
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
                if layers[-1].slope < 0:  # then g'(z) cannot be read off the output's sign
                    raise UnsupportedStepError("leaky_relu with a negative slope")
            current = r.output
        elif _is_loss(r):
            return layers, *_loss_kind(r, layers, current, before_activation), r.output
        else:
            raise UnsupportedStepError(f"the step uses {name}, which the captured plan does "
                                       "not replay")
    raise UnsupportedStepError("no loss was computed in the step")


def _is_cast_of(t: Tensor, x: Tensor, dtype: Any) -> bool:
    """Whether ``t`` is the batch converted to the first layer's dtype: Linear converts its
    input (float64 data, a float32 model), which the tape does not record when the input
    needs no gradient.  Only a conversion to the weight's dtype, to the same values."""
    return (t.is_leaf and not t.requires_grad and t.dtype == dtype != x.dtype
            and t.shape == x.shape and np.array_equal(t.data, x.data.astype(dtype),
                                                      equal_nan=True))


def _is_loss(r: Any) -> bool:
    return r.primitive.name.endswith("_loss")


_LOSS_KINDS = {"mse_loss": "mse", "bce_with_logits_loss": "bce_logits",
               "cross_entropy_loss": "cross_entropy"}


def _loss_kind(r: Any, layers: list[_Layer], current: Tensor,
               before_activation: Tensor | None) -> tuple[str, str]:
    """Which loss, and its reduction, from what the loss node holds (its input and the
    ``(derivative, scale)`` a reduced loss saves), never from how it is displayed."""
    name = r.primitive.name
    if not (isinstance(r.saved, tuple) and len(r.saved) == 2):
        raise UnsupportedStepError("the loss is not reduced to one number")
    if not layers:
        raise UnsupportedStepError("no Linear layer")
    z = r.inputs[0]
    if (name == "bce_loss" and layers[-1].activation == "sigmoid"
            and z is before_activation and z is not current):
        # BCELoss after a Sigmoid works from the logits: the sigmoid's input is the loss input
        layers[-1].activation = "identity"
        layers[-1].sigmoid_after = True
        kind = "bce_logits"
    elif name in _LOSS_KINDS and z is current:
        kind = _LOSS_KINDS[name]
    else:
        raise UnsupportedStepError(f"the loss {name} on these inputs")
    count = z.data.shape[0] if kind == "cross_entropy" else z.data.size
    scale = r.saved[1]
    if scale == 1.0:
        return kind, "sum"
    if scale == 1.0 / count:  # the loss's own formula, so equal to the last bit
        return kind, "mean"
    raise UnsupportedStepError("the loss uses sample weights")


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
        last = len(self.layers) - 1
        self._times_derivative(last)  # an activation after the last layer (MSE of a tanh)
        for i in range(last, -1, -1):
            L, d = self.layers[i], self.deltas[i]
            if L.weight.requires_grad:
                np.matmul(d.T, inputs[i], out=self.grads_w[i])
                L.weight.grad = self.grads_w[i]
            if L.bias is not None and L.bias.requires_grad:
                np.matmul(self.ones, d, out=self.grads_b[i])
                L.bias.grad = self.grads_b[i]
            if i:
                np.matmul(d, L.weight.data, out=self.deltas[i - 1])
                self._times_derivative(i - 1)
        return value

    def _times_derivative(self, i: int) -> None:
        """Turn layer i's delta from dJ/da into dJ/dz: times g'(z), read off a = g(z)."""
        L = self.layers[i]
        if L.activation == "identity":
            return
        k = self.fused
        if k is not None and L.activation in fused.LOOP_FRIENDLY:
            k.times_derivative(self.deltas[i], self.acts[i],
                               fused.ACTIVATION_CODES[L.activation], L.slope)
        else:
            _times_derivative(self.deltas[i], self.acts[i], L)

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


# -- what a plan assumed --------------------------------------------------------------------

_DATA = operator.attrgetter("data")
_REQUIRES_GRAD = operator.attrgetter("requires_grad")
_VALUES = (bool, int, float, complex, str, bytes, type(None))  # equal means the same option


class _Reach:
    """The modules, option dicts and name bindings that a model or loss function depends on:
    a Module's submodules; a ``functools.partial``'s keywords and function; a function's
    defaults and the globals and closure cells it names (not followed into chainrule's own
    functions, which do not change while training)."""

    def __init__(self, *roots: Any) -> None:
        self.modules: list[nn.Module] = []
        self.dicts: list[dict[str, Any]] = []  # options held outside modules
        self.getters: list[Callable[[], Any]] = []
        self._seen: set[int] = set()
        for root in roots:
            self._visit(root, 0)

    def _visit(self, obj: Any, depth: int) -> None:
        if id(obj) in self._seen or depth > 3:
            return
        self._seen.add(id(obj))
        if isinstance(obj, nn.Module):
            for m in obj.modules():
                self._seen.add(id(m))
                self.modules.append(m)
        elif isinstance(obj, functools.partial):
            self.dicts.append(obj.keywords)
            for v in (obj.func, *obj.args, *obj.keywords.values()):
                self._visit(v, depth + 1)
        elif isinstance(obj, types.MethodType):
            self._visit(obj.__self__, depth + 1)
            self._visit(obj.__func__, depth + 1)
        elif isinstance(obj, types.FunctionType):
            for name in ("__code__", "__defaults__", "__kwdefaults__"):
                self.getters.append(functools.partial(getattr, obj, name))
            if not (obj.__module__ or "").startswith("chainrule."):
                for _, getter, value in _named(obj):
                    self.getters.append(getter)
                    self._visit(value, depth + 1)
        elif callable(obj) and not isinstance(obj, type) and hasattr(obj, "__dict__"):
            self.dicts.append(obj.__dict__)  # a callable object's options


class Watch:
    """Everything a plan took as fixed, checked before each replay.

    The plan bakes in the model's structure, each layer's options, the training flags, which
    tensors are the weights, their shapes, dtypes and ``requires_grad``, and the loss
    function's options.  All of it lives in attribute dicts: each module's ``__dict__``,
    ``_modules`` and ``_parameters``; each parameter's ``data`` and ``requires_grad``; a
    function's defaults and the names it refers to.  The watch keeps a copy of each dict and
    the objects it saw, and :meth:`unchanged` checks, in two comparisons that run in C, that
    each dict still equals its copy (so ``negative_slope = 0.2`` set again to an equal 0.2 is
    no change) and that the submodules, parameters, their arrays and the names' values are
    still the same objects, in the same order.  Anything else that differs (a layer swapped or
    appended, an option, ``model.eval()``, a weight replaced, frozen or cast) is a change; the
    one exception is a parameter's array replaced by one of the same shape and dtype, which
    needs no new plan because the plan reads ``.data`` at every step.

    The check costs about 2 us a step on the course's 2-4-1 network with its loss (list
    ``id()`` of every watched value instead: 7 us).  With ``full=False`` (a step that runs
    eagerly anyway) it watches only the structure (which submodules and parameters each module
    holds) and the training flags, so a model that becomes replayable (``model.eval()`` turns
    its dropout off) is captured again, but a forward pass that changes its modules'
    attributes does not make every step capture again.

    >>> import chainrule as cr
    >>> model = cr.nn.Sequential(cr.nn.Linear(2, 1, rng=0), cr.nn.LeakyReLU(0.1))
    >>> w = Watch([model], model.parameters())
    >>> w.unchanged()
    True
    >>> model[1].negative_slope = 0.2
    >>> w.unchanged()
    False
    """

    def __init__(self, roots: Any, params: Any = (), bindings: Any = (),
                 full: bool = True) -> None:
        reach = _Reach(*roots)
        self.modules = reach.modules
        self.dicts: list[dict[str, Any]] = [d for m in self.modules
                                            for d in (m._modules, m._parameters)]
        if full:  # the options too: every attribute, and those held outside modules
            self.dicts += [m.__dict__ for m in self.modules] + reach.dicts
        self.getters: list[Callable[[], Any]] = list(bindings) + (
            reach.getters if full else
            [functools.partial(getattr, m, "training") for m in self.modules])
        self.params: list[Tensor] = list({id(p): p for p in params}.values()) if full else []
        self._take()

    def _objects(self) -> list[Any]:
        """What must stay the very same objects, in order."""
        objects = list(itertools.chain.from_iterable(self._views))
        objects += map(_DATA, self.params)
        objects += map(_REQUIRES_GRAD, self.params)
        objects += [get() for get in self.getters]
        return objects

    def _take(self) -> None:
        # The submodules and parameters that containers hold (the live views show their
        # order and identity).  An empty dict that gains one differs from its copy below.
        self._views = [d.values() for m in self.modules for d in (m._modules, m._parameters)
                       if d]
        self.copies = [dict(d) for d in self.dicts]
        # ``saved`` holds every object it saw, so no other object can take one of their ids.
        self.saved = self._objects()
        self.ids = list(map(id, self.saved))
        self._data_at = len(self.saved) - 2 * len(self.params) - len(self.getters)

    def unchanged(self) -> bool:
        """Whether everything the plan assumed is as it was when the watch was made."""
        try:
            if list(map(id, self._objects())) == self.ids and self.dicts == self.copies:
                return True
        except Exception:  # comparing a replaced array or tensor with the old one can raise
            pass
        return self._slow()

    def _slow(self) -> bool:
        """The fast check saw a difference: is it only arrays swapped for ones of the same
        shape and dtype, or options set again to equal values?  Then keep the plan."""
        try:
            now = self._objects()
        except (AttributeError, ValueError):  # an attribute deleted, a closure cell emptied
            return False
        if len(now) != len(self.saved):
            return False
        arrays = range(self._data_at, self._data_at + len(self.params))
        for i, (a, b) in enumerate(zip(now, self.saved)):
            if a is not b and not (i in arrays and a.shape == b.shape and a.dtype == b.dtype):
                return False
        for d, copy in zip(self.dicts, self.copies):
            if d.keys() != copy.keys() or not all(
                    v is copy[k] or _same_value(v, copy[k]) for k, v in d.items()):
                return False
        self._take()
        return True


def _same_value(a: Any, b: Any) -> bool:
    if type(a) is not type(b):
        return False
    if type(a) is tuple:
        return len(a) == len(b) and all(x is y or _same_value(x, y) for x, y in zip(a, b))
    return (type(a) in _VALUES or isinstance(a, (np.number, np.bool_))) and bool(a == b)


def _named(fn: Any) -> list[tuple[str, Callable[[], Any], Any]]:
    """The names a function's code uses that its globals or closure cells hold: for each, the
    name, a function that reads its current value, and that value."""
    code = fn.__code__
    used = set(code.co_names) | set(code.co_freevars)
    found: list[tuple[str, Callable[[], Any], Any]] = []
    g = getattr(fn, "__globals__", {})
    for name in sorted(used & set(g)):
        found.append((name, functools.partial(g.get, name), g[name]))
    for name, cell in zip(code.co_freevars, fn.__closure__ or ()):
        try:
            value = cell.cell_contents
        except ValueError:  # a cell not yet assigned
            continue
        found.append((name, functools.partial(getattr, cell, "cell_contents"), value))
    return found


@contextlib.contextmanager
def _leaves_no_trace(modules: list[nn.Module]) -> Iterator[None]:
    """Undo what a forward pass changes in ``modules``: their attributes, buffers (BatchNorm's
    running statistics, updated in place) and random generators (Dropout's), so that the
    capture's extra pass does not make the step differ from the eager one."""
    saved = [(m, dict(m.__dict__), dict(m._modules), dict(m._parameters), dict(m._buffers),
              [(b, b.copy()) for b in m._buffers.values()
               if isinstance(b, np.ndarray) and b.flags.writeable])
             for m in modules]
    gens = {id(g): g for m in modules for g in m.__dict__.values()
            if isinstance(g, np.random.Generator)}
    gens[id(get_rng(None))] = get_rng(None)
    states = [(g, g.bit_generator.state) for g in gens.values()]
    try:
        yield
    finally:
        for m, attrs, mods, params, bufs, contents in saved:
            m.__dict__.clear()
            m.__dict__.update(attrs)
            for d, old in ((m._modules, mods), (m._parameters, params), (m._buffers, bufs)):
                d.clear()
                d.update(old)
            for b, copy in contents:
                b[...] = copy
        for g, state in states:
            g.bit_generator.state = state


class CompiledGradients:
    """The plans ``cr.fit(..., compile=True)`` replays, one per batch shape, for the model as
    it is: when the watch sees the model or the loss changed (a callback edited it between
    epochs), every plan is dropped and the next batch captures again."""

    def __init__(self) -> None:
        self.plans: dict[tuple, Plan | None] = {}
        self.watch: Watch | None = None
        self._of: tuple[Any, Any] | None = None  # the model and loss the plans are for

    def plan(self, model: Any, loss_fn: Any, xb: Tensor, yb: Any) -> Plan | None:
        if self.watch is not None and (self._of is None or self._of[0] is not model
                                       or self._of[1] is not loss_fn
                                       or not self.watch.unchanged()):
            self.plans.clear()
            self.watch = None
        key = (xb.shape, xb.dtype.str, np.shape(yb), getattr(yb, "dtype", None))
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
        value = plan.gradients(_data(xb, plan.dtype), _target(plan, yb))
        return value, Tensor(model_output(plan).copy())


def _watch_plans(model: Any, loss_fn: Any, plans: Any, bindings: Any = ()) -> Watch:
    """A full watch where some plan replays (its weights and the model's parameters), only the
    structure where every step runs eagerly anyway."""
    real = [p for p in plans if p is not None]
    params = [t for p in real for L in p.layers for t in (L.weight, L.bias) if t is not None]
    if isinstance(model, nn.Module):
        params += model.parameters()
    return Watch((model, loss_fn), params, bindings, full=bool(real))


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
    gradients.  Raises :class:`UnsupportedStepError` when the step is not a chain it can replay.
    The recording pass leaves the modules as it found them (attributes, buffers, random
    generators) and the parameters' gradients too."""
    x = xb if isinstance(xb, Tensor) else Tensor(np.asarray(xb))
    if x.ndim != 2:
        raise UnsupportedStepError("inputs are not a 2-D batch")
    params = [p for p in model.parameters()] if isinstance(model, nn.Module) else []
    saved_grads = [p.grad for p in params]
    for p in params:
        p.grad = None
    try:
        with _leaves_no_trace(_Reach(model, loss_fn).modules), record() as tape:
            loss = loss_fn(model(x), yb)
        if not isinstance(loss, Tensor) or loss.data.size != 1 or not loss.requires_grad:
            raise UnsupportedStepError("the loss is not a scalar tensor that requires gradients")
        layers, kind, reduction, loss_t = _chain(tape, x)
        if loss_t is not loss:
            raise UnsupportedStepError("the value returned is not the recorded loss")
        # weights the model does not list as parameters (a function as the model)
        known = {id(p) for p in params}
        extra = {id(t): t for L in layers for t in (L.weight, L.bias)
                 if t is not None and id(t) not in known}
        for t in extra.values():
            params.append(t)
            saved_grads.append(t.grad)
            t.grad = None
        loss.backward()
        eager = {id(p): None if p.grad is None else p.grad.copy() for p in params}
        eager_loss = float(loss.item())
    finally:
        for p, g in zip(params, saved_grads):
            p.grad = g
    dtype = layers[0].weight.data.dtype
    if any(t.data.dtype != dtype for L in layers for t in (L.weight, L.bias) if t is not None):
        raise UnsupportedStepError("layers of different dtypes")
    plan = Plan(layers, kind, reduction, x.shape, _data(yb), dtype)
    _check(plan, x.data.astype(dtype, copy=False), yb, params, eager, eager_loss)
    return plan


def _check(plan: Plan, x: np.ndarray, yb: Any, params: list[Any],
           eager: dict[int, np.ndarray | None], eager_loss: float) -> None:
    saved = [p.grad for p in params]
    try:
        for p in params:  # as zero_grad leaves them: a frozen weight has no gradient
            p.grad = None
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
        if optimizer is None and step_fn is not None:  # found again at each capture
            self._optimizer_found = True
            object.__setattr__(self, "optimizer", _find_optimizer(step_fn))
        self.plan: Plan | None = None
        self.reason: str | None = None  # why the last capture fell back to eager
        self.watch: Watch | None = None
        self._key: tuple | None = None
        self._returns_tensor = step_fn is None

    def __setattr__(self, name: str, value: Any) -> None:
        if name in ("step_fn", "model", "loss_fn", "optimizer"):
            object.__setattr__(self, "_key", None)  # another step: capture it at the next call
            if name == "optimizer":
                object.__setattr__(self, "_optimizer_found", False)  # the caller's choice
        object.__setattr__(self, name, value)

    @property
    def compiled(self) -> bool:
        """Whether the last call replayed the plan (False: it ran eagerly)."""
        return self.plan is not None and self.reason is None

    def _signature(self, xb: Any, yb: Any) -> tuple:
        x, y = _data(xb), _data(yb)
        return (x.shape, x.dtype.str, y.shape, y.dtype.str)

    def _current(self, xb: Any, yb: Any) -> bool:
        """Whether the plan (or the decision to run eagerly) still holds for this batch and
        the model as it is now; if not, capture again (a new plan, or a reason to be eager)."""
        key = self._signature(xb, yb)
        if key == self._key and self.watch is not None and self.watch.unchanged():
            return True
        self._capture(xb, yb, key)
        return False

    def gradients(self, xb: Any, yb: Any) -> float:
        """Forward and backward only: set every parameter's ``.grad``; returns the loss."""
        self._current(xb, yb)
        if self.plan is None:
            raise ConfigError(f"gradients() needs a captured plan, and this step runs eagerly "
                              f"because {self.reason}")
        x = _data(xb, self.plan.dtype)
        return self.plan.gradients(x, _target(self.plan, yb))

    def __call__(self, xb: Any, yb: Any) -> Any:
        if not self._current(xb, yb):
            # The first step after a capture runs eagerly: exact by definition, and it shows
            # what the step function returns.
            out = self._eager(xb, yb)
            self._returns_tensor = isinstance(out, Tensor)
            return out
        if self.reason is not None:
            return self._eager(xb, yb)
        # As the step function does: parameters the plan gives no gradient (frozen ones, or
        # ones outside the model) must not be stepped with a gradient left from before.
        self.optimizer.zero_grad()
        value = self.plan.gradients(_data(xb, self.plan.dtype), _target(self.plan, yb))
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

    def _capture(self, xb: Any, yb: Any, key: tuple) -> None:
        self.plan, self.reason, self.watch, self._key = None, None, None, None
        if self._optimizer_found:  # the step function may name another optimizer now
            object.__setattr__(self, "optimizer", _find_optimizer(self.step_fn))
        model, loss_fn, plan = self.model, self.loss_fn, None
        try:
            if self.optimizer is None:
                raise UnsupportedStepError("no optimizer given or found in the step function")
            if getattr(self.optimizer, "requires_closure", False) or \
                    type(self.optimizer).__name__ == "LBFGS":
                raise UnsupportedStepError("the optimizer re-evaluates the loss through a closure")
            if model is None or loss_fn is None:
                model, loss_fn = _from_step(self.step_fn, self.optimizer, xb, yb)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # the eager run after it reports its own
                plan = capture(model, loss_fn, xb, yb)
        except UnsupportedStepError as why:
            self.reason = str(why)
            warnings.warn(f"compile: running eagerly, because {why}", RuntimeWarning,
                          stacklevel=4)
        self.plan = plan
        bindings = _bindings(self.step_fn, (model, loss_fn, self.optimizer))
        roots = [r for r in (model, loss_fn) if r is not None]
        self.watch = Watch(roots, (), bindings, full=False) if plan is None else \
            _watch_plans(model, loss_fn, [plan], bindings)
        self._key = key


def _bindings(step_fn: Any, objects: tuple[Any, ...]) -> list[Callable[[], Any]]:
    """Readers of the step function's names that hold ``objects`` (its model, loss and
    optimizer): rebinding one (``model = bigger_model``) changes what the step computes."""
    if step_fn is None or not hasattr(step_fn, "__code__"):
        return []
    return [get for _, get, value in _named(step_fn)
            if any(value is o for o in objects if o is not None)]


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
    ``step_fn`` other than those four steps are not replayed.  Changing the network between
    calls (a layer swapped or appended, an option such as LeakyReLU's slope, a weight frozen or
    replaced, ``model.eval()``, the loss's reduction, or the step function's name ``model``
    bound to another model) makes the next call capture again; see :class:`Watch`.
    """
    if step_fn is None and (model is None or loss_fn is None or optimizer is None):
        raise ConfigError("compile needs a step function, or model=, loss_fn= and optimizer=")
    return CompiledStep(step_fn, model=model, loss_fn=loss_fn, optimizer=optimizer)


def _referenced(step_fn: Any) -> list[Any]:
    """The objects a function names: its globals and closure cells that its code uses."""
    return [value for _, _, value in _named(step_fn)]


def _find_optimizer(step_fn: Any) -> Any:
    found = [v for v in _referenced(step_fn) if hasattr(v, "step")
             and hasattr(v, "zero_grad") and not isinstance(v, nn.Module)]
    return found[0] if len(found) == 1 else None
