"""The plan a captured step replays: a chain of fully connected layers, read off the tape of
one recorded step, and its forward, loss and backward as straight-line NumPy.

:func:`read_chain` recognises ``linear -> activation -> ... -> loss`` on a tape (raising
:class:`UnsupportedStepError`, with the reason, for anything else); :class:`Plan` runs that
chain's arithmetic into buffers allocated once, with the eager engine's formulas in the same
order (the fused numba kernels of :mod:`chainrule.training.fused` where they are faster), and
leaves each trainable parameter's gradient in its ``.grad``.  Whether a plan may be trusted
(it reproduces the eager step) and stays valid (the model did not change) is decided by
:mod:`chainrule.training.compiled` and :mod:`chainrule.training.watch`.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..engine import Tensor, record
from ..engine.ops import stable_sigmoid
from ..nn.activations import ACTIVATIONS, Activation, Identity, LeakyReLU, ReLU, Sigmoid, Tanh
from ..nn.functional import bce_with_logits_terms
from ..nn.losses import LOSSES, BCEWithLogitsLoss, CrossEntropyLoss, Loss, MSELoss
from . import fused

__all__ = ["FORMULAS", "LOSS_FORMULAS", "Plan", "UnsupportedStepError", "as_array",
           "model_output", "read_chain", "recognised", "weights"]


# -- what the plan computes, per entry of the activation and loss tables ----------------------

@dataclass(frozen=True)
class Formula:
    """How the plan applies one activation of :data:`chainrule.nn.activations.ACTIVATIONS`
    in place, and its derivative read off the output, in the eager engine's arithmetic.
    ``param`` is the activation's option (LeakyReLU's slope), 0 for the others."""

    forward: Callable[[np.ndarray, float], None]  # z = g(z)
    derivative: Callable[[np.ndarray, np.ndarray, float], None] | None  # g *= g'(z), from g(z)
    refuses: Callable[[float], str | None] = lambda param: None  # why an option cannot replay


def _tanh(z: np.ndarray, param: float) -> None:
    np.tanh(z, out=z)


def _tanh_derivative(g: np.ndarray, a: np.ndarray, param: float) -> None:
    g *= 1 - a * a


def _sigmoid(z: np.ndarray, param: float) -> None:
    z[...] = stable_sigmoid(z)


def _sigmoid_derivative(g: np.ndarray, a: np.ndarray, param: float) -> None:
    g *= a * (1 - a)


def _relu(z: np.ndarray, param: float) -> None:
    np.maximum(z, 0, out=z)


def _relu_derivative(g: np.ndarray, a: np.ndarray, param: float) -> None:
    g *= a > 0


def _leaky_relu(z: np.ndarray, param: float) -> None:
    np.copyto(z, np.where(z > 0, z, z * param))


def _leaky_relu_derivative(g: np.ndarray, a: np.ndarray, param: float) -> None:
    np.copyto(g, np.where(a > 0, g, g * param))


def _negative_slope(param: float) -> str | None:
    # with a negative slope g'(z) cannot be read off the output's sign
    return "leaky_relu with a negative slope" if param < 0 else None


FORMULAS: dict[type[Activation], Formula] = {
    Identity: Formula(lambda z, param: None, None),
    Tanh: Formula(_tanh, _tanh_derivative),
    Sigmoid: Formula(_sigmoid, _sigmoid_derivative),
    ReLU: Formula(_relu, _relu_derivative),
    LeakyReLU: Formula(_leaky_relu, _leaky_relu_derivative, _negative_slope),
}
"""The activations the plan replays, by their class in the activation table."""

LOSS_FORMULAS: tuple[type[Loss], ...] = (MSELoss, BCEWithLogitsLoss, CrossEntropyLoss)
"""The losses the plan computes (:meth:`Plan._loss_and_delta`); a loss of probabilities
after the matching activation (BCELoss after Sigmoid) is replayed as its from-logits form."""


def _op_recorded_by(function: Callable[..., Any], *args: Any) -> str | None:
    """The name of the engine operation ``function`` puts on a tape last (None: it records
    nothing, as the identity), found by running it once on a probe."""
    probe = Tensor(np.full((1, 2), 0.5), requires_grad=True)
    with record() as tape:
        function(probe, *args)
    return tape[-1].primitive.name if tape else None


@functools.cache
def recognised() -> tuple[dict[str, type[Activation]], dict[str, type[Loss]]]:
    """The tape's operation names of the table entries the plan knows: the activations
    (those with a formula) and the losses, each read off its table's ``function`` once.

    >>> acts, losses = recognised()
    >>> acts["tanh"].name, losses["cross_entropy_loss"].name
    ('tanh', 'cross_entropy')
    """
    activations = {op: cls for cls in ACTIVATIONS.values() if cls in FORMULAS
                   if (op := _op_recorded_by(cls.function)) is not None}
    losses = {_op_recorded_by(cls.function, np.full((1, 2), 0.5)): cls
              for cls in LOSSES.values()}
    return activations, losses


def _from_logits(loss: type[Loss]) -> type[Loss] | None:
    """The table's loss that computes ``loss`` from the logits (BCELoss: BCEWithLogitsLoss)."""
    return next((c for c in LOSSES.values() if c.from_logits and c.task == loss.task), None)


@dataclass
class _Layer:
    weight: Tensor
    bias: Tensor | None
    activation: type[Activation] = Identity
    param: float = 0.0  # the activation's option (leaky_relu's negative slope)
    sigmoid_after: bool = False  # the model's Sigmoid, folded into BCE's logits by the loss


class UnsupportedStepError(Exception):
    """The recorded step is not a chain the plan can replay (the message says why)."""


# -- recognising the recorded chain ---------------------------------------------------------

def read_chain(tape: list[Any], x: Tensor) -> tuple[list[_Layer], type[Loss], str, Tensor]:
    """Read ``linear -> activation -> ... -> loss`` off the tape; returns the layers, the
    loss (its class in the loss table), its reduction and the loss tensor."""
    activations, losses = recognised()
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
        elif name in activations and r.inputs[0] is current:
            if not layers or layers[-1].activation is not Identity:
                raise UnsupportedStepError(f"{name} without a Linear layer before it")
            layer = layers[-1]
            layer.activation = activations[name]
            options = r.operands[1:] if r.operands else ()
            layer.param = float(options[0]) if options else 0.0
            refused = FORMULAS[layer.activation].refuses(layer.param)
            if refused:
                raise UnsupportedStepError(refused)
            current = r.output
        elif name in losses:
            loss, reduction = _loss_kind(r, losses[name], layers, current, before_activation)
            return layers, loss, reduction, r.output
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


def _loss_kind(r: Any, loss: type[Loss], layers: list[_Layer], current: Tensor,
               before_activation: Tensor | None) -> tuple[type[Loss], str]:
    """Which loss the plan computes, and its reduction, from the loss table's fields and what
    the loss node holds (its input and the ``(derivative, scale)`` a reduced loss saves)."""
    name = r.primitive.name
    if not (isinstance(r.saved, tuple) and len(r.saved) == 2):
        raise UnsupportedStepError("the loss is not reduced to one number")
    if not layers:
        raise UnsupportedStepError("no Linear layer")
    z = r.inputs[0]
    logits_form = None if loss.from_logits else _from_logits(loss)
    if (logits_form in LOSS_FORMULAS and layers[-1].activation is Sigmoid
            and z is before_activation and z is not current):
        # BCELoss after a Sigmoid works from the logits: the sigmoid's input is the loss input
        layers[-1].activation = Identity
        layers[-1].sigmoid_after = True
        loss = logits_form
    elif not (loss in LOSS_FORMULAS and z is current):
        raise UnsupportedStepError(f"the loss {name} on these inputs")
    count = z.data.shape[0] if _per_row(loss) else z.data.size
    scale = r.saved[1]
    if scale == 1.0:
        return loss, "sum"
    if scale == 1.0 / count:  # the loss's own formula, so equal to the last bit
        return loss, "mean"
    if loss.accepts_sample_weight:
        raise UnsupportedStepError("the loss uses sample weights")
    raise UnsupportedStepError(f"the loss's scale {scale} is neither a sum nor a mean")


def _per_row(loss: type[Loss]) -> bool:
    """Whether the loss scores a row at a time (a multiclass loss: the row's classes
    together), so its mean divides by the rows, not the elements."""
    return loss.task == "multiclass"


# -- the plan -------------------------------------------------------------------------------

class Plan:
    """Forward, loss and backward of a recognised chain, into buffers allocated once."""

    def __init__(self, layers: list[_Layer], loss: type[Loss], reduction: str,
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
        self.labels = np.asarray(target).ndim == 1 and _per_row(loss)
        self.fused = fused.kernels()  # None: the NumPy formulas below
        self.no_bias = np.empty(0, dtype)
        self.formulas = [FORMULAS[L.activation] for L in layers]
        # each layer's fused kernel code, None where NumPy's formula is used
        self.codes = [None if self.fused is None else fused.code(L.activation) for L in layers]

    def target(self, yb: Any) -> np.ndarray:
        """The batch's targets as the plan reads them: class labels as they are, anything
        else in the plan's dtype."""
        y = as_array(yb)
        if self.labels:
            return y
        return y.astype(self.dtype, copy=False)

    def gradients(self, x: np.ndarray, y: Any) -> float:
        """Run forward and backward; leaves dJ/dp in each trainable parameter's ``.grad``."""
        k = self.fused
        a = x
        inputs = []
        for L, z, f, code in zip(self.layers, self.acts, self.formulas, self.codes):
            inputs.append(a)
            np.matmul(a, L.weight.data.T, out=z)
            if code is not None:
                bias = self.no_bias if L.bias is None else L.bias.data
                k.bias_activation(z, bias, code, L.param)
            else:
                if L.bias is not None:
                    z += L.bias.data
                f.forward(z, L.param)
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
        derivative = self.formulas[i].derivative
        if derivative is None:  # the identity
            return
        code = self.codes[i]
        if code is not None:
            self.fused.times_derivative(self.deltas[i], self.acts[i], code,
                                        self.layers[i].param)
        else:
            derivative(self.deltas[i], self.acts[i], self.layers[i].param)

    def takes(self, y: Any) -> bool:
        """Whether the plan computes this batch's loss: class labels must name classes of the
        output (ignore_index's -100 is the eager loss's to handle)."""
        if not self.labels or not len(y):
            return True
        return int(y.min()) >= 0 and int(y.max()) < self.acts[-1].shape[1]

    def loss_scale(self, shape: tuple[int, ...]) -> float:
        """What the loss's sum is multiplied by for an output of ``shape``: 1/count for a
        mean (rows for a multiclass loss, elements otherwise), 1 for a sum."""
        count = shape[0] if _per_row(self.loss) else int(np.prod(shape))
        return 1.0 / count if self.reduction == "mean" else 1.0

    def _loss_and_delta(self, out: np.ndarray, y: Any) -> float:
        d = self.deltas[-1]
        scale = self.loss_scale(out.shape)
        k = self.fused
        if self.loss is MSELoss:
            if k is not None and np.ndim(y) == 2:
                return float(k.mse(out, y, d, scale))
            np.subtract(out, y, out=d)
            value = float(np.vdot(d, d)) * scale
            d *= 2 * scale
        elif self.loss is BCEWithLogitsLoss:
            value = float(bce_with_logits_terms(out, y).sum()) * scale
            np.subtract(stable_sigmoid(out), y, out=d)
            d *= scale
        else:  # CrossEntropyLoss
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


def weights(layers: list[_Layer]) -> list[Tensor]:
    """The layers' weight and bias tensors, in order."""
    return [t for L in layers for t in (L.weight, L.bias) if t is not None]


def as_array(x: Any, dtype: Any = None) -> np.ndarray:
    """A batch (a tensor, an array or a list) as a NumPy array."""
    return np.asarray(x.data if isinstance(x, Tensor) else x, dtype=dtype)
