"""Batch and layer normalisation: the primitive and its functions ``batch_norm`` and
``layer_norm`` (the layers are in :mod:`chainrule.nn.normalization`).

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

Every array function is the array API standard's, on the namespace of the inputs, so the same
code runs on every device.

>>> import numpy as np, chainrule as cr
>>> x = cr.tensor(np.array([[1.0], [3.0]]))
>>> batch_norm(x, None, None, training=True).data.ravel()   # (x - 2) / sqrt(1 + 1e-5)
array([-0.999995,  0.999995])
"""

from __future__ import annotations

from typing import Any

from ..engine import Primitive, ShapeError, Tensor
from ..engine.backend import namespace, ndarray
from ..engine.devices import device_of, to_device
from . import kernels, kernels_norm
from .workspace import Workspace

__all__ = ["NORMALIZE", "batch_norm", "layer_norm", "normalised_again"]


def _statistics(xd: ndarray, axes: tuple[int, ...]) -> tuple[ndarray, ndarray,
                                                                  ndarray]:
    """``x - mean`` (in x's dtype), the mean and the biased variance (float64) over ``axes``.

    The sums are float64 and the mean is subtracted in two parts, its nearest value in x's
    dtype and the remainder, so float32 data far from zero (1e4 + N(0, 1)) keeps float32's
    relative accuracy in ``x - mean`` (one float32 subtraction of the whole mean loses up to
    half a unit of 1e4, 5e-4, and a float32 variance as much again); the variance is the mean
    of the squared centred values, accumulated in float64.
    """
    xp = namespace(xd)
    m = 1
    for a in axes:
        m *= xd.shape[a]
    # sum / m: NumPy's mean(dtype=float64) to the bit (the standard's mean has no dtype)
    mean = xp.sum(xd, axis=axes, keepdims=True, dtype=xp.float64) / m
    high = xp.astype(mean, xd.dtype)
    centred = xd - high
    if xd.dtype != xp.float64:
        centred -= xp.astype(mean - high, xd.dtype)
    var = xp.sum(xp.square(centred), axis=axes, keepdims=True, dtype=xp.float64) / m
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
    xp = namespace(centred)
    inv_std = xp.astype(1.0 / xp.sqrt(xp.astype(var, xp.float64) + eps), dtype)
    xhat = centred
    xhat *= inv_std                          # in place: one new array for xhat, one for out
    out = xhat
    if weight is not None:
        out = xhat * xp.reshape(weight.data, param_shape)
    if bias is not None:
        if out is xhat:                      # xhat is saved for backward: never add into it
            out = xhat + xp.reshape(bias.data, param_shape)
        else:
            out += xp.reshape(bias.data, param_shape)
    inputs = tuple(t for t in (x, weight, bias) if t is not None)
    saved = (xhat, inv_std, stat_axes, param_shape, param_axes, weight is not None, shift, eps,
             None)
    return NORMALIZE(xp.astype(out, dtype, copy=False), inputs, saved)


def _normalise_backward(out: Tensor, g: ndarray) -> tuple[ndarray | None, ...]:
    xhat, inv_std, stat_axes, param_shape, param_axes, has_weight, shift, _, ws = out.saved
    xp = namespace(g)  # on tensors (a gradient of a gradient): the recorded operations
    batch_stats = shift is None
    x, *params = out.inputs
    gamma = xp.reshape(params[0].data, param_shape) if has_weight else None
    if batch_stats and stat_axes == param_axes:
        return _batch_norm_backward(xp, x.requires_grad, g, xhat, inv_std, stat_axes, gamma,
                                    params, ws)
    if batch_stats and _layer_rows_ok(g, xhat, gamma):  # layer norm: compiled per row
        size = 1
        for a in stat_axes:
            size *= g.shape[a]
        dx, dgamma, dbeta = kernels_norm.layer_norm_grad_arrays(
            kernels.get(), g, xhat, size, gamma, inv_std, x.requires_grad)
        grads: list[ndarray | None] = [dx]
        if has_weight:
            grads.append(dgamma.reshape(params[0].data.shape))
        if len(params) > int(has_weight):
            grads.append(dbeta.reshape(params[-1].data.shape))
        return tuple(grads)
    d = g * gamma if has_weight else g
    dx = None
    if x.requires_grad:
        if batch_stats:  # the statistics depend on x: the three-term formula
            dx = (d - xp.mean(d, axis=stat_axes, keepdims=True)
                  - xhat * xp.mean(d * xhat, axis=stat_axes, keepdims=True)) * inv_std
        else:  # fixed running statistics (evaluation): an affine map of x
            dx = d * inv_std
    grads = [dx]
    if has_weight:
        grads.append(xp.reshape(xp.sum(g * xhat, axis=param_axes), params[0].data.shape))
    if len(params) > int(has_weight):  # a bias
        grads.append(xp.reshape(xp.sum(g, axis=param_axes), params[-1].data.shape))
    return tuple(grads)


def _batch_norm_backward(xp: Any, need_dx: bool, g: ndarray, xhat: ndarray, inv_std: ndarray,
                         axes: tuple[int, ...], gamma: ndarray | None,
                         params: list[Tensor], ws: Workspace | None = None
                         ) -> tuple[ndarray | None, ...]:
    """The three-term formula when gamma is shared over the statistics' axes (batch norm in
    training): with d = g * gamma, ``mean(d) = gamma * sum(g) / m`` and ``mean(d * xhat) =
    gamma * sum(g * xhat) / m`` are dbeta and dgamma scaled, so one pass over ``g * xhat`` and
    one over ``g`` serve all three gradients::

        dx = gamma / sqrt(var + eps) * (g - dbeta / m - xhat * dgamma / m)
    """
    kern = (kernels.get() if type(g) is ndarray and type(xhat) is ndarray
            and kernels_norm.usable(g) else None)
    if kern is not None:  # NumPy with numba: both sums and dx in two passes (kernels_norm)
        dx, dgamma, dbeta = kernels_norm.grad_arrays(kern, g, xhat, gamma, inv_std, need_dx,
                                                     ws)
        grads: list[ndarray | None] = [dx]
        if gamma is not None:
            grads.append(dgamma.reshape(params[0].data.shape))
        if len(params) > int(gamma is not None):
            grads.append(dbeta.reshape(params[-1].data.shape))
        return tuple(grads)
    m = 1
    for a in axes:
        m *= g.shape[a]
    sum_g = xp.sum(g, axis=axes, keepdims=True)
    sum_gx = xp.sum(g * xhat, axis=axes, keepdims=True)
    dx = None
    if need_dx:
        # In place on arrays (one new array); on tensors each step is a new node.
        dx = xhat * (sum_gx / -m)
        dx += g
        dx -= sum_g / m
        dx *= inv_std if gamma is None else gamma * inv_std
    grads = [dx]
    if gamma is not None:
        grads.append(xp.reshape(sum_gx, params[0].data.shape))
    if len(params) > int(gamma is not None):  # a bias
        grads.append(xp.reshape(sum_g, params[-1].data.shape))
    return tuple(grads)


def normalised_again(out: Tensor) -> tuple:
    """The saved values of a normalisation node with ``xhat`` and ``1 / sqrt(var + eps)``
    computed again from its input tensor with recorded operations: in a gradient of a
    gradient they are functions of x, not constants (in evaluation only xhat is: the running
    variance is fixed)."""
    _, inv_std, stat_axes, *rest = out.saved
    shift, eps = rest[-3:-1]
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
               training: bool = False, momentum: float = 0.1, eps: float = 1e-5,
               workspace: Workspace | None = None) -> Tensor:
    """Batch normalisation of ``x`` of shape (N, C), (N, C, L) or (N, C, H, W), per channel C,
    as ``torch.nn.functional.batch_norm``.

    In training the batch's statistics are used and the running estimates (when given) are
    updated in place by PyTorch's rule: ``running = (1 - momentum) * running + momentum *
    batch``, with the *unbiased* batch variance.  Otherwise the running estimates are used.
    Running estimates on another device than ``x`` (NumPy arrays with a GPU tensor) are read
    there and updated where they are.  ``workspace`` (a layer's) keeps the NumPy fast path's
    large arrays between calls (:mod:`chainrule.nn.workspace`).
    """
    x = x if isinstance(x, Tensor) else Tensor(x)
    xd = x.data
    xp = namespace(xd)
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
        kern = kernels.get() if _compiled_ok(xd, weight, bias) else None
        if kern is not None:  # NumPy with numba: statistics and output in 3 passes
            out, xhat, inv_std, mean, var = kernels_norm.train_arrays(
                kern, xd, None if weight is None else weight.data,
                None if bias is None else bias.data, eps, workspace)
        else:
            centred, mean, var = _statistics(xd, axes)
        if running_mean is not None and running_var is not None:
            # In place (the buffers are the layer's); the sum in float64, rounded once to the
            # buffer's dtype (NumPy's ``buffer += float64`` to the bit).
            bxp = namespace(running_mean)
            new_mean = _like(xp.reshape(mean, (-1,)), running_mean)
            new_var = _like(xp.reshape(var, (-1,)), running_var)
            running_mean *= 1 - momentum
            running_mean[...] = bxp.astype(running_mean + momentum * new_mean,
                                           running_mean.dtype)
            running_var *= 1 - momentum
            running_var[...] = bxp.astype(running_var + momentum * new_var * (m / (m - 1)),
                                          running_var.dtype)
        if kern is not None:
            inputs = tuple(t for t in (x, weight, bias) if t is not None)
            saved = (xhat, xp.reshape(inv_std, param_shape), axes, param_shape, axes,
                     weight is not None, None, eps, workspace)
            return NORMALIZE(out, inputs, saved)
        shift = None
    else:
        if running_mean is None or running_var is None:
            raise ShapeError("batch_norm: evaluation needs running_mean and running_var")
        # a copy: the buffer moves
        shift = xp.astype(xp.reshape(_like(running_mean, xd), param_shape), xd.dtype, copy=True)
        centred = xd - shift
        var = xp.reshape(_like(running_var, xd), param_shape)
    return _normalise(x, axes, centred, var, weight, bias, eps, param_shape, axes, shift)


def _compiled_ok(xd: ndarray, weight: Tensor | None, bias: Tensor | None, rank: int = 3
                 ) -> bool:
    """Whether a normalisation runs the compiled loops: NumPy arrays of one dtype (input,
    gamma and beta), of rank ``rank`` or more (batch norm: 3)."""
    return kernels_norm.usable(xd, rank) and all(
        t is None or (type(t.data) is ndarray and t.data.dtype == xd.dtype)
        for t in (weight, bias))


def _layer_rows_ok(g: Any, xhat: Any, gamma: Any) -> bool:
    """Whether layer normalisation's backward runs the compiled loops (NumPy arrays)."""
    return (type(g) is ndarray and type(xhat) is ndarray and kernels_norm.usable(g, 1)
            and (gamma is None or gamma.dtype == g.dtype) and kernels.get() is not None)


def _like(a: Any, like: Any) -> Any:
    """Array ``a`` on the device of array ``like`` (``a`` itself when it is there)."""
    return a if type(a) is type(like) else to_device(a, device_of(like))


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
    if type(xd) is ndarray and _compiled_ok(xd, weight, bias, rank=1) and kernels.get():
        # NumPy with numba: each row's statistics, xhat and output in one pass (kernels_norm)
        size = 1
        for n in shape:
            size *= n
        out, xhat, inv_std = kernels_norm.layer_norm_arrays(
            kernels.get(), xd, size, None if weight is None else weight.data,
            None if bias is None else bias.data, eps)
        inputs = tuple(t for t in (x, weight, bias) if t is not None)
        saved = (xhat, inv_std.reshape(*xd.shape[:xd.ndim - k], *(1,) * k), stat_axes, shape,
                 tuple(range(xd.ndim - k)), weight is not None, None, eps, None)
        return NORMALIZE(out, inputs, saved)
    centred, _, var = _statistics(xd, stat_axes)
    return _normalise(x, stat_axes, centred, var, weight, bias, eps, shape,
                      tuple(range(xd.ndim - k)), None)
