"""Batch and layer normalisation layers: BatchNorm1d, BatchNorm2d and LayerNorm, and the check
of their buffers read from files (:func:`invalid_buffer`).

The computation is :mod:`chainrule.nn.normalize` (``batch_norm``, ``layer_norm``); they are
importable from here too, as users and the tests do.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..engine import ShapeError, Tensor, ops
from ..engine.backend import NUMPY, dtype_name, ndarray
from ..engine.devices import to_numpy
from ._checks import check_dtype, check_number, check_size
from .module import Module, Parameter, Shape, empty
from .normalize import batch_norm, layer_norm
from .workspace import Workspace

__all__ = ["BatchNorm1d", "BatchNorm2d", "LayerNorm", "batch_norm", "invalid_buffer",
           "layer_norm"]


def invalid_buffer(model: Module, state: Mapping[str, ndarray]) -> tuple[str, str] | None:
    """The first buffer of ``state`` (keyed as ``model.state_dict()``) that the layer owning it
    refuses, as ``(key, why)``; None when every layer accepts its buffers.  Each layer states
    its own rule in a ``check_buffer(name, value)`` method (BatchNorm: a variance is never
    negative); loaders of model files and checkpoints call this before loading.

    >>> import numpy as np
    >>> bn = BatchNorm1d(2)
    >>> invalid_buffer(bn, {"running_var": np.array([1.0, -0.5])})
    ('running_var', 'holds -0.5 at [1]: a variance is a number >= 0')
    """
    for prefix, module in model.named_modules():
        check = getattr(module, "check_buffer", None)
        if check is None:
            continue
        for name, _ in module.named_buffers(recurse=False):
            key = f"{prefix}.{name}" if prefix else name
            if key in state:
                why = check(name, to_numpy(state[key]))
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
                 dtype: Any = "float32") -> None:
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
        # the compiled path's output, xhat and input gradient, kept between calls
        self.workspace = Workspace()

    def check_buffer(self, name: str, value: ndarray) -> str | None:
        """Why ``value`` cannot be this layer's buffer ``name`` (None when it can): the running
        variance is never negative (evaluation would take the square root of it), nor zero
        when ``eps`` is 0 (it would divide by zero).  ``value`` is read on the host."""
        value = to_numpy(value)
        if name != "running_var" or value.dtype.kind != "f":
            return None
        bad = (value < 0) | ((value <= 0) if self.eps == 0 else False) | NUMPY.isnan(value)
        if not bad.any():
            return None
        i = NUMPY.unravel_index(int(NUMPY.argmax(bad)), value.shape)
        where = ", ".join(str(int(k)) for k in i)
        if value[i] == 0:
            return f"holds 0 at [{where}] and eps is 0: evaluation would divide by zero"
        return f"holds {value[i]!s} at [{where}]: a variance is a number >= 0"

    @property
    def dtype(self) -> Any:
        if self.weight is not None:
            return self.weight.data.dtype
        return self.running_mean.dtype if self.running_mean is not None else self._dtype

    def get_config(self) -> dict[str, Any]:
        return {"num_features": self.num_features, "eps": self.eps, "momentum": self.momentum,
                "affine": self.affine, "track_running_stats": self.track_running_stats,
                "dtype": dtype_name(self.dtype)}

    def forward(self, x: Any) -> Tensor:
        x = x if isinstance(x, Tensor) else Tensor(x)
        if x.data.ndim not in self._ranks or x.data.shape[1] != self.num_features:
            raise ShapeError(f"{type(self).__name__}({self.num_features}) needs inputs of "
                             f"{self._expected()}, got {x.data.shape}")
        if x.data.dtype != self.dtype:
            x = ops.astype(x, self.dtype)
        use_batch = self.training or self.running_mean is None
        return batch_norm(x, self.running_mean, self.running_var, self.weight, self.bias,
                          training=use_batch, momentum=self.momentum, eps=self.eps,
                          workspace=self.workspace)

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
    >>> _ = bn(np.array([[0.0, 10.0], [2.0, 30.0]]))
    >>> bn.running_mean, bn.running_var            # 0.9 * [0, 0] + 0.1 * [1, 20]; unbiased
    (array([0.1, 2. ], dtype=float32), array([ 1.1, 20.9], dtype=float32))

    Args:
        num_features: Channels C, the size of dimension 1 of the input.
        eps: Added to the variance before the square root, for stability.
        momentum: Weight of the new batch in the running statistics:
            ``running = (1 - momentum) * running + momentum * batch`` (PyTorch's convention).
        affine: Whether to learn a per-channel scale ``weight`` (starting at 1) and shift
            ``bias`` (starting at 0).
        track_running_stats: Whether to keep ``running_mean``/``running_var`` for evaluation;
            without them the batch's own statistics are used in both modes.
        dtype: Floating-point type of the parameters and buffers; inputs are converted to it.

    Shapes: input ``(N, C)`` or ``(N, C, L)``; the output has the same shape.

    Raises:
        ConfigError: ``num_features`` is not a positive integer, ``eps`` or ``momentum`` is
            not in [0, 1], or ``dtype`` is not a floating-point type.
        ShapeError: When called, the input has the wrong rank or channel count, or (in
            training) a batch with one value per channel.
    """

    _ranks = (2, 3)


class BatchNorm2d(_BatchNorm):
    """Batch normalisation of (N, C, H, W) inputs per channel, as ``torch.nn.BatchNorm2d``.

    The statistics are over N, H and W for each channel; the running ones behave as in
    :class:`BatchNorm1d`.

    >>> import numpy as np, chainrule as cr
    >>> cr.nn.BatchNorm2d(3)(np.random.default_rng(0).normal(size=(2, 3, 4, 4))).shape
    (2, 3, 4, 4)

    Args:
        num_features: Channels C, the size of dimension 1 of the input.
        eps: Added to the variance before the square root, for stability.
        momentum: Weight of the new batch in the running statistics:
            ``running = (1 - momentum) * running + momentum * batch`` (PyTorch's convention).
        affine: Whether to learn a per-channel scale ``weight`` (starting at 1) and shift
            ``bias`` (starting at 0).
        track_running_stats: Whether to keep ``running_mean``/``running_var`` for evaluation;
            without them the batch's own statistics are used in both modes.
        dtype: Floating-point type of the parameters and buffers; inputs are converted to it.

    Shapes: input ``(N, C, H, W)``; the output has the same shape.

    Raises:
        ConfigError: ``num_features`` is not a positive integer, ``eps`` or ``momentum`` is
            not in [0, 1], or ``dtype`` is not a floating-point type.
        ShapeError: When called, the input has the wrong rank or channel count, or (in
            training) a batch with one value per channel.
    """

    _ranks = (4,)


class LayerNorm(Module):
    """Normalise each example over its last dimensions, as ``torch.nn.LayerNorm``.

    The mean and (biased) variance are taken over the trailing ``normalized_shape``
    dimensions of each example, the same in training and evaluation.

    >>> import chainrule as cr
    >>> cr.nn.LayerNorm(2)(cr.tensor([[1.0, 3.0]])).data.round(3)
    array([[-1.,  1.]], dtype=float32)

    Args:
        normalized_shape: Size of the last dimension, or a list of the last dimensions'
            sizes, to normalise over.
        eps: Added to the variance before the square root, for stability.
        elementwise_affine: Whether to learn a scale ``weight`` (starting at 1) and shift
            ``bias`` (starting at 0) of shape ``normalized_shape``.
        dtype: Floating-point type of the parameters; inputs are converted to it.

    Shapes: input ``(*, *normalized_shape)``; the output has the same shape.

    Raises:
        ConfigError: A size is not a positive integer, ``eps`` is not in [0, 1], or
            ``dtype`` is not a floating-point type.
        ShapeError: ``normalized_shape`` is empty; when called, the input does not end in
            ``normalized_shape``.
    """

    def __init__(self, normalized_shape: Any, eps: float = 1e-5,
                 elementwise_affine: bool = True, dtype: Any = "float32") -> None:
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
    def dtype(self) -> Any:
        return self.weight.data.dtype if self.weight is not None else self._dtype

    def forward(self, x: Any) -> Tensor:
        x = x if isinstance(x, Tensor) else Tensor(x)
        if x.data.dtype != self.dtype:
            x = ops.astype(x, self.dtype)
        return layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps)

    def get_config(self) -> dict[str, Any]:
        return {"normalized_shape": list(self.normalized_shape), "eps": self.eps,
                "elementwise_affine": self.elementwise_affine,
                "dtype": dtype_name(self.dtype)}

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

