"""Batch and layer normalisation: the primitives and the layers.

Both compute ``y = gamma * xhat + beta`` with ``xhat = (x - mean) / sqrt(var + eps)``; they
differ in what the statistics are taken over.  Batch normalisation takes them per feature (per
channel) over the batch (and the spatial positions), and keeps running estimates for
evaluation; layer normalisation takes them per example over its last dimensions.

The backward pass, with m values in each statistic and ``d = dL/dxhat = g * gamma``, is the
classic three-term formula (the mean and the variance both depend on every x)::

    dL/dx = (d - mean(d) - xhat * mean(d * xhat)) / sqrt(var + eps)

where the means are over the same values as the statistics.  ``dgamma = sum(g * xhat)`` and
``dbeta = sum(g)`` over everything but the feature axes.

The rule is written with operations that work on tensors too (no ``out=``), so a gradient of a
gradient runs it again on tensors, with ``xhat`` and ``1 / sqrt(var + eps)`` recomputed from the
input tensor (:func:`normalised_again`) rather than read as constants.

>>> import numpy as np, chainrule as cr
>>> x = cr.tensor(xp.array([[1.0], [3.0]]))
>>> batch_norm(x, None, None, training=True).data.ravel()   # (x - 2) / sqrt(1 + 1e-5)
array([-0.999995,  0.999995])
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..engine import Primitive, ShapeError, Tensor, ops
from ..engine.backend import ndarray, xp
from ._checks import check_dtype, check_number, check_size
from .module import Module, Parameter, Shape, empty

__all__ = ["BatchNorm1d", "BatchNorm2d", "LayerNorm", "batch_norm", "invalid_buffer",
           "layer_norm"]


def _statistics(xd: ndarray, axes: tuple[int, ...]) -> tuple[ndarray, ndarray,
                                                                  ndarray]:
    """``x - mean`` (in x's dtype), the mean and the biased variance (float64) over ``axes``.

    The sums are float64 and the mean is subtracted in two parts, its nearest value in x's
    dtype and the remainder, so float32 data far from zero (1e4 + N(0, 1)) keeps float32's
    relative accuracy in ``x - mean`` (one float32 subtraction of the whole mean loses up to
    half a unit of 1e4, 5e-4, and a float32 variance as much again); the variance is the mean
    of the squared centred values, accumulated in float64.
    """
    mean = xd.mean(axis=axes, keepdims=True, dtype=xp.float64)
    high = mean.astype(xd.dtype)
    centred = xd - high
    if xd.dtype != xp.float64:
        centred -= (mean - high).astype(xd.dtype)
    var = xp.mean(xp.square(centred), axis=axes, keepdims=True, dtype=xp.float64)
    return centred, mean, var


def _normalise(x: Tensor, stat_axes: tuple[int, ...], centred: ndarray, var: ndarray,
               weight: Tensor | None, bias: Tensor | None, eps: float,
               param_shape: tuple[int, ...], param_axes: tuple[int, ...],
               shift: ndarray | None) -> Tensor:
    """The shared forward: xhat from ``centred = x - mean`` (a fresh array, scaled in place),
    then the affine map.  ``stat_axes`` are those the statistics were taken over,
    ``param_axes`` those gamma and beta are shared across (the same for batch norm; the
    leading ones for layer norm); ``shift`` is the fixed mean that was subtracted (batch
    norm's running mean in evaluation), None when the statistics are the input's own."""
    dtype = x.data.dtype
    inv_std = (1.0 / xp.sqrt(var.astype(xp.float64) + eps)).astype(dtype)
    xhat = centred
    xhat *= inv_std                          # in place: one new array for xhat, one for out
    out = xhat
    if weight is not None:
        out = xhat * weight.data.reshape(param_shape)
    if bias is not None:
        if out is xhat:                      # xhat is saved for backward: never add into it
            out = xhat + bias.data.reshape(param_shape)
        else:
            out += bias.data.reshape(param_shape)
    inputs = tuple(t for t in (x, weight, bias) if t is not None)
    saved = (xhat, inv_std, stat_axes, param_shape, param_axes, weight is not None, shift, eps)
    return NORMALIZE(out.astype(dtype, copy=False), inputs, saved)


def _normalise_backward(out: Tensor, g: ndarray) -> tuple[ndarray | None, ...]:
    xhat, inv_std, stat_axes, param_shape, param_axes, has_weight, shift, _ = out.saved
    batch_stats = shift is None
    x, *params = out.inputs
    gamma = params[0].data.reshape(param_shape) if has_weight else None
    if batch_stats and stat_axes == param_axes:
        return _batch_norm_backward(x.requires_grad, g, xhat, inv_std, stat_axes, gamma,
                                    params)
    d = g * gamma if has_weight else g
    dx = None
    if x.requires_grad:
        if batch_stats:  # the statistics depend on x: the three-term formula
            dx = (d - d.mean(axis=stat_axes, keepdims=True)
                  - xhat * (d * xhat).mean(axis=stat_axes, keepdims=True)) * inv_std
        else:  # fixed running statistics (evaluation): an affine map of x
            dx = d * inv_std
    grads: list[ndarray | None] = [dx]
    if has_weight:
        grads.append((g * xhat).sum(axis=param_axes).reshape(params[0].data.shape))
    if len(params) > int(has_weight):  # a bias
        grads.append(g.sum(axis=param_axes).reshape(params[-1].data.shape))
    return tuple(grads)


def _batch_norm_backward(need_dx: bool, g: ndarray, xhat: ndarray, inv_std: ndarray,
                         axes: tuple[int, ...], gamma: ndarray | None,
                         params: list[Tensor]) -> tuple[ndarray | None, ...]:
    """The three-term formula when gamma is shared over the statistics' axes (batch norm in
    training): with d = g * gamma, ``mean(d) = gamma * sum(g) / m`` and ``mean(d * xhat) =
    gamma * sum(g * xhat) / m`` are dbeta and dgamma scaled, so one pass over ``g * xhat`` and
    one over ``g`` serve all three gradients::

        dx = gamma / sqrt(var + eps) * (g - dbeta / m - xhat * dgamma / m)
    """
    m = g.size // xhat.shape[1]
    sum_g = g.sum(axis=axes, keepdims=True)
    sum_gx = (g * xhat).sum(axis=axes, keepdims=True)
    dx = None
    if need_dx:
        # In place on arrays (one new array); on tensors each step is a new node.
        dx = xhat * (sum_gx / -m)
        dx += g
        dx -= sum_g / m
        dx *= inv_std if gamma is None else gamma * inv_std
    grads: list[ndarray | None] = [dx]
    if gamma is not None:
        grads.append(sum_gx.reshape(params[0].data.shape))
    if len(params) > int(gamma is not None):  # a bias
        grads.append(sum_g.reshape(params[-1].data.shape))
    return tuple(grads)


def normalised_again(out: Tensor) -> tuple:
    """The saved values of a normalisation node with ``xhat`` and ``1 / sqrt(var + eps)``
    computed again from its input tensor with recorded operations: in a gradient of a
    gradient they are functions of x, not constants (in evaluation only xhat is: the running
    variance is fixed)."""
    _, inv_std, stat_axes, *rest = out.saved
    shift, eps = rest[-2:]
    x = out.inputs[0]
    if shift is None:
        centred = x - x.mean(axis=stat_axes, keepdims=True)
        inv_std = (centred * centred).mean(axis=stat_axes, keepdims=True) + eps
        inv_std = 1.0 / inv_std.sqrt()
    else:
        centred = x - shift
    return (centred * inv_std, inv_std, stat_axes, *rest)


NORMALIZE = Primitive("normalize", _normalise_backward, saved=normalised_again)


def batch_norm(x: Any, running_mean: ndarray | None, running_var: ndarray | None,
               weight: Tensor | None = None, bias: Tensor | None = None,
               training: bool = False, momentum: float = 0.1, eps: float = 1e-5) -> Tensor:
    """Batch normalisation of ``x`` of shape (N, C), (N, C, L) or (N, C, H, W), per channel C,
    as ``torch.nn.functional.batch_norm``.

    In training the batch's statistics are used and the running estimates (when given) are
    updated in place by PyTorch's rule: ``running = (1 - momentum) * running + momentum *
    batch``, with the *unbiased* batch variance.  Otherwise the running estimates are used.
    """
    x = x if isinstance(x, Tensor) else Tensor(x)
    xd = x.data
    if xd.ndim not in (2, 3, 4):
        raise ShapeError(f"batch_norm: input must have shape (N, C), (N, C, L) or "
                         f"(N, C, H, W), got {xd.shape}")
    axes = (0, *range(2, xd.ndim))
    param_shape = (1, xd.shape[1]) + (1,) * (xd.ndim - 2)
    if training:
        m = xd.size // max(xd.shape[1], 1)
        if m < 2:
            raise ShapeError(f"batch_norm: training needs more than one value per channel, "
                             f"got input shape {xd.shape}: in training each channel is "
                             "normalised with its batch's own mean and variance, which one "
                             "value cannot give. Use a batch of 2 or more rows (cr.fit merges "
                             "a last batch of one row into the one before), or call "
                             "model.eval() to use the running statistics")
        centred, mean, var = _statistics(xd, axes)
        if running_mean is not None and running_var is not None:
            running_mean *= 1 - momentum
            running_mean += momentum * mean.reshape(-1)
            running_var *= 1 - momentum
            running_var += momentum * var.reshape(-1) * (m / (m - 1))
        shift = None
    else:
        if running_mean is None or running_var is None:
            raise ShapeError("batch_norm: evaluation needs running_mean and running_var")
        shift = running_mean.reshape(param_shape).astype(xd.dtype)  # a copy: the buffer moves
        centred = xd - shift
        var = running_var.reshape(param_shape)
    return _normalise(x, axes, centred, var, weight, bias, eps, param_shape, axes, shift)


def layer_norm(x: Any, normalized_shape: Any, weight: Tensor | None = None,
               bias: Tensor | None = None, eps: float = 1e-5) -> Tensor:
    """Normalise each example over its last ``len(normalized_shape)`` dimensions, as
    ``torch.nn.functional.layer_norm``."""
    x = x if isinstance(x, Tensor) else Tensor(x)
    shape = (normalized_shape,) if isinstance(normalized_shape, int) else tuple(
        normalized_shape)
    xd = x.data
    k = len(shape)
    if k == 0 or k > xd.ndim or xd.shape[xd.ndim - k:] != shape:
        raise ShapeError(f"layer_norm: input of shape {xd.shape} does not end in the "
                         f"normalized shape {shape}")
    stat_axes = tuple(range(xd.ndim - k, xd.ndim))
    centred, _, var = _statistics(xd, stat_axes)
    return _normalise(x, stat_axes, centred, var, weight, bias, eps, shape,
                      tuple(range(xd.ndim - k)), None)


# -- the layers ---------------------------------------------------------------------------------
def invalid_buffer(model: Module, state: Mapping[str, ndarray]) -> tuple[str, str] | None:
    """The first buffer of ``state`` (keyed as ``model.state_dict()``) that the layer owning it
    refuses, as ``(key, why)``; None when every layer accepts its buffers.  Each layer states
    its own rule in a ``check_buffer(name, value)`` method (BatchNorm: a variance is never
    negative); loaders of model files and checkpoints call this before loading.

    >>> bn = BatchNorm1d(2)
    >>> invalid_buffer(bn, {"running_var": xp.array([1.0, -0.5])})
    ('running_var', 'holds -0.5 at [1]: a variance is a number >= 0')
    """
    for prefix, module in model.named_modules():
        check = getattr(module, "check_buffer", None)
        if check is None:
            continue
        for name, _ in module.named_buffers(recurse=False):
            key = f"{prefix}.{name}" if prefix else name
            if key in state:
                why = check(name, xp.asarray(state[key]))
                if why is not None:
                    return key, why
    return None


class _BatchNorm(Module):
    _ranks: tuple[int, ...] = ()
    #: the fewest rows a training batch may hold: a channel's variance needs two values
    #: (the training loop merges a last batch of one row into the one before)
    min_train_batch = 2

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float = 0.1,
                 affine: bool = True, track_running_stats: bool = True,
                 dtype: Any = xp.float32) -> None:
        super().__init__()
        name = type(self).__name__
        self.num_features = check_size(num_features, name, "num_features")
        self.eps = check_number(eps, name, "eps", 0.0, 1.0)
        self.momentum = check_number(momentum, name, "momentum", 0.0, 1.0)
        self.affine = bool(affine)
        self.track_running_stats = bool(track_running_stats)
        dt = self._dtype = check_dtype(dtype, name)
        c = self.num_features
        if self.affine:
            self.weight = Parameter(empty((c,), dt, name))
            self.weight.data[...] = 1
            self.bias = Parameter(empty((c,), dt, name))
            self.bias.data[...] = 0
        else:
            self.weight = self.bias = None
        if self.track_running_stats:
            self.register_buffer("running_mean", empty((c,), dt, name))
            self.register_buffer("running_var", empty((c,), dt, name))
            self.running_mean[...] = 0
            self.running_var[...] = 1
        else:
            self.register_buffer("running_mean", None)
            self.register_buffer("running_var", None)

    def check_buffer(self, name: str, value: ndarray) -> str | None:
        """Why ``value`` cannot be this layer's buffer ``name`` (None when it can): the running
        variance is never negative (evaluation would take the square root of it), nor zero
        when ``eps`` is 0 (it would divide by zero)."""
        if name != "running_var" or value.dtype.kind != "f":
            return None
        bad = (value < 0) | ((value <= 0) if self.eps == 0 else False) | xp.isnan(value)
        if not bad.any():
            return None
        i = xp.unravel_index(int(xp.argmax(bad)), value.shape)
        where = ", ".join(str(int(k)) for k in i)
        if value[i] == 0:
            return f"holds 0 at [{where}] and eps is 0: evaluation would divide by zero"
        return f"holds {value[i]!s} at [{where}]: a variance is a number >= 0"

    @property
    def dtype(self) -> xp.dtype:
        if self.weight is not None:
            return self.weight.data.dtype
        return self.running_mean.dtype if self.running_mean is not None else self._dtype

    def get_config(self) -> dict[str, Any]:
        return {"num_features": self.num_features, "eps": self.eps, "momentum": self.momentum,
                "affine": self.affine, "track_running_stats": self.track_running_stats,
                "dtype": self.dtype.name}

    def forward(self, x: Any) -> Tensor:
        x = x if isinstance(x, Tensor) else Tensor(x)
        if x.data.ndim not in self._ranks or x.data.shape[1] != self.num_features:
            raise ShapeError(f"{type(self).__name__}({self.num_features}) needs inputs of "
                             f"{self._expected()}, got {x.data.shape}")
        if x.data.dtype != self.dtype:
            x = ops.astype(x, self.dtype)
        use_batch = self.training or self.running_mean is None
        return batch_norm(x, self.running_mean, self.running_var, self.weight, self.bias,
                          training=use_batch, momentum=self.momentum, eps=self.eps)

    def _expected(self) -> str:
        c = self.num_features
        return " or ".join({2: f"shape (N, {c})", 3: f"shape (N, {c}, L)",
                            4: f"shape (N, {c}, H, W)"}[r] for r in self._ranks)

    def output_shape(self, input_shape: Shape) -> Shape:
        if input_shape is not None and (len(input_shape) not in self._ranks
                                        or input_shape[1] not in (None, self.num_features)):
            raise ShapeError(f"{type(self).__name__}({self.num_features}) needs inputs of "
                             f"{self._expected()}, got {input_shape}")
        return input_shape

    def extra_repr(self) -> str:
        return (f"{self.num_features}, eps={self.eps}, momentum={self.momentum}"
                + ("" if self.affine else ", affine=False")
                + ("" if self.track_running_stats else ", track_running_stats=False"))


class BatchNorm1d(_BatchNorm):
    """Batch normalisation of (N, C) or (N, C, L) inputs, as ``torch.nn.BatchNorm1d``.

    ``running_mean`` and ``running_var`` are buffers (saved, not trained), updated in training
    mode and used in evaluation mode (``model.eval()``).

    >>> import numpy as np
    >>> bn = BatchNorm1d(2)
    >>> _ = bn(xp.array([[0.0, 10.0], [2.0, 30.0]]))
    >>> bn.running_mean, bn.running_var            # 0.9 * [0, 0] + 0.1 * [1, 20]; unbiased
    (array([0.1, 2. ], dtype=float32), array([ 1.1, 20.9], dtype=float32))
    """

    _ranks = (2, 3)


class BatchNorm2d(_BatchNorm):
    """Batch normalisation of (N, C, H, W) inputs per channel, as ``torch.nn.BatchNorm2d``."""

    _ranks = (4,)


class LayerNorm(Module):
    """Normalise each example over its last dimensions, as ``torch.nn.LayerNorm``."""

    def __init__(self, normalized_shape: Any, eps: float = 1e-5,
                 elementwise_affine: bool = True, dtype: Any = xp.float32) -> None:
        super().__init__()
        shape = [normalized_shape] if not isinstance(normalized_shape, (list, tuple)) else list(
            normalized_shape)
        self.normalized_shape = tuple(check_size(s, "LayerNorm", "normalized_shape")
                                      for s in shape)
        if not self.normalized_shape:
            raise ShapeError("LayerNorm: normalized_shape must name at least one dimension")
        self.eps = check_number(eps, "LayerNorm", "eps", 0.0, 1.0)
        self.elementwise_affine = bool(elementwise_affine)
        dt = check_dtype(dtype, "LayerNorm")
        self._dtype = dt
        if self.elementwise_affine:
            self.weight = Parameter(empty(self.normalized_shape, dt, "LayerNorm"))
            self.weight.data[...] = 1
            self.bias = Parameter(empty(self.normalized_shape, dt, "LayerNorm"))
            self.bias.data[...] = 0
        else:
            self.weight = self.bias = None

    @property
    def dtype(self) -> xp.dtype:
        return self.weight.data.dtype if self.weight is not None else self._dtype

    def forward(self, x: Any) -> Tensor:
        x = x if isinstance(x, Tensor) else Tensor(x)
        if x.data.dtype != self.dtype:
            x = ops.astype(x, self.dtype)
        return layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps)

    def get_config(self) -> dict[str, Any]:
        return {"normalized_shape": list(self.normalized_shape), "eps": self.eps,
                "elementwise_affine": self.elementwise_affine, "dtype": self.dtype.name}

    def output_shape(self, input_shape: Shape) -> Shape:
        k = len(self.normalized_shape)
        if input_shape is not None and (len(input_shape) < k or any(
                a not in (None, b) for a, b in zip(input_shape[-k:], self.normalized_shape))):
            raise ShapeError(f"LayerNorm({list(self.normalized_shape)}) needs inputs ending in "
                             f"{self.normalized_shape}, got {input_shape}")
        return input_shape

    def extra_repr(self) -> str:
        return (f"{self.normalized_shape}, eps={self.eps}"
                + ("" if self.elementwise_affine else ", elementwise_affine=False"))

