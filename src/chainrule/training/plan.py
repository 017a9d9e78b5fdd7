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

from dataclasses import dataclass
from typing import Any

import numpy as np

from ..engine import Tensor
from ..engine.ops import stable_sigmoid
from ..nn.functional import bce_with_logits_terms
from . import fused

__all__ = ["ACTIVATIONS", "LOSSES", "Plan", "UnsupportedStepError", "as_array", "model_output",
           "read_chain", "weights"]

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

def read_chain(tape: list[Any], x: Tensor) -> tuple[list[_Layer], str, str, Tensor]:
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

    def target(self, yb: Any) -> np.ndarray:
        """The batch's targets as the plan reads them: class labels as they are, anything
        else in the plan's dtype."""
        y = as_array(yb)
        if self.loss == "cross_entropy" and self.labels:
            return y
        return y.astype(self.dtype, copy=False)

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
            value = float(bce_with_logits_terms(out, y).sum()) * scale
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



def weights(layers: list[_Layer]) -> list[Tensor]:
    """The layers' weight and bias tensors, in order."""
    return [t for L in layers for t in (L.weight, L.bias) if t is not None]


def as_array(x: Any, dtype: Any = None) -> np.ndarray:
    """A batch (a tensor, an array or a list) as a NumPy array."""
    return np.asarray(x.data if isinstance(x, Tensor) else x, dtype=dtype)
