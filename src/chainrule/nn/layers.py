"""Layers that hold no others: Linear, Dropout, Flatten and Unflatten."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from ..engine import ConfigError, ShapeError, Tensor, ops
from ..engine.random import RNGLike, get_rng
from . import init as _init
from ._arrays import as_array_like, dtype_name
from ._checks import check_dtype, check_number, check_size
from .module import Module, Parameter, Shape, empty
from .workspace import Workspace

__all__ = [
    "Dropout",
    "Dropout2d",
    "Flatten",
    "Linear",
    "Unflatten",
]


class Linear(Module):
    """``y = x @ weight.T + bias``: a fully connected layer.

    ``weight`` has shape (out_features, in_features), the course's W[l] of shape (n[l], n[l-1]);
    ``bias`` has shape (out_features,).  By default both start uniform in
    (-1/sqrt(in_features), 1/sqrt(in_features)), as in PyTorch; ``init`` names another scheme
    for the weight ('xavier_uniform', 'xavier_normal', 'kaiming_uniform', 'kaiming_normal',
    'normal' (std 0.01, as in the course's notebooks), 'zeros') with a zero bias, or is a function
    ``init(weight, rng)``.

    Inputs of another dtype are converted to the layer's dtype on the way in (as Keras layers
    do), so ``model(cr.tensor(X))`` works for float64 data and a float32 model.

    For (batch, features) NumPy inputs the layer keeps its output and gradient arrays in a
    :class:`~chainrule.nn.workspace.Workspace` (``layer.workspace``) and uses them again in
    the next step once nothing else holds them: a wide layer's megabytes stay with the
    process instead of being given back to the system and faulted in again every step.
    ``weight.grad`` may then be one of those arrays; one you keep is never written over.

    >>> import chainrule as cr
    >>> layer = cr.nn.Linear(3, 2, rng=0)
    >>> layer(cr.tensor([[1.0, 2.0, 3.0]])).shape
    (1, 2)

    Args:
        in_features: Size of each input row, the last dimension of the input.
        out_features: Size of each output row.
        bias: Whether to learn an additive ``bias``; ``False`` leaves ``bias`` as None.
        init: How to draw the weight: None for PyTorch's uniform default (weight and bias),
            a name from :mod:`chainrule.nn.init` (the bias then starts at zero), or a
            function ``init(weight, rng)``.
        dtype: Floating-point type of the parameters (float32 by default); inputs are
            converted to it.
        rng: Seed or generator for the initial draw; by default the shared generator
            (see ``cr.manual_seed``).

    Shapes: Input ``(*, in_features)``; output ``(*, out_features)``, any leading dimensions kept.

    Raises:
        ConfigError: A size is not a positive integer, ``dtype`` is not a floating-point
            type, or ``init`` names no known scheme.
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True,
                 init: str | Callable[..., Any] | None = None, dtype: Any = np.float32,
                 rng: RNGLike = None) -> None:
        super().__init__()
        in_features = check_size(in_features, "Linear", "in_features")
        out_features = check_size(out_features, "Linear", "out_features")
        self.in_features = in_features
        self.out_features = out_features
        dtype = check_dtype(dtype, "Linear")
        gen = get_rng(rng)
        self.weight = Parameter(empty((out_features, in_features), dtype, "Linear"))
        self.bias = Parameter(empty((out_features,), dtype, "Linear")) if bias else None
        if init is None:
            bound = 1.0 / math.sqrt(in_features)
            _init.uniform_(self.weight, -bound, bound, gen)
            if self.bias is not None:
                _init.uniform_(self.bias, -bound, bound, gen)
        else:
            (_init.get(init) if isinstance(init, str) else init)(self.weight, rng=gen)
            if self.bias is not None:
                _init.zeros_(self.bias)
        self.workspace = Workspace()

    def forward(self, x: Tensor) -> Tensor:
        if not isinstance(x, Tensor):
            x = Tensor(x)
        w = self.weight
        dtype = w.data.dtype
        # (NumPy's dtypes are one object each; array-api-strict's are equal, not the same)
        if x.data.dtype is not dtype and x.data.dtype != dtype:
            x = ops.astype(x, dtype)
        return ops.linear(x, w, self.bias, workspace=self.workspace)

    def get_config(self) -> dict[str, Any]:
        return {"in_features": self.in_features, "out_features": self.out_features,
                "bias": self.bias is not None, "dtype": dtype_name(self.weight.data.dtype)}

    @classmethod
    def from_config(cls, config: Any) -> Linear:
        # The weights come from the file: skip the random draw (it would also move the
        # shared generator that manual_seed set).
        return cls(**{"init": "zeros", **config})

    def output_shape(self, input_shape: Shape) -> Shape:
        # Unknown inputs: the (batch, features) rows that fit() and the command line feed.
        shape = (None, self.in_features) if input_shape is None else input_shape
        if len(shape) == 0 or shape[-1] not in (None, self.in_features):
            raise ShapeError(f"Linear({self.in_features}, {self.out_features}) needs "
                             f"{self.in_features} features in the last dimension, got inputs "
                             f"of shape {shape}")
        return (*shape[:-1], self.out_features)

    def extra_repr(self) -> str:
        dtype = dtype_name(self.weight.data.dtype)
        return (f"{self.in_features}, {self.out_features}"
                + ("" if self.bias is not None else ", bias=False")
                + ("" if dtype == "float32" else f", dtype={dtype}"))


def _scaled_mask(keep: np.ndarray, like: Any, p: float) -> Any:
    """Dropout's mask ``keep / (1 - p)`` (drawn on the host by NumPy's generator, so a seed
    gives the same mask on every device), in the dtype and on the device of ``like``."""
    if type(like) is np.ndarray:
        return keep.astype(like.dtype) / (1 - p)
    return as_array_like(keep.astype(dtype_name(like.dtype)) / (1 - p), like)


class Dropout(Module):
    """Zero each input with probability ``p`` while training and scale the rest by 1/(1-p).

    In evaluation mode (``model.eval()``) it passes its input through unchanged.

    >>> import chainrule as cr
    >>> drop = cr.nn.Dropout(0.5, rng=0).eval()
    >>> drop(cr.tensor([[1.0, 2.0]]))
    tensor([[1., 2.]])

    Args:
        p: Probability of zeroing each element, in [0, 1).
        rng: Seed or generator for the masks; by default the shared generator.

    Shapes: Any input shape; the output has the same shape.

    Raises:
        ConfigError: ``p`` is not a number in [0, 1).
    """

    def __init__(self, p: float = 0.5, rng: RNGLike = None) -> None:
        super().__init__()
        self.p = check_number(p, type(self).__name__, "p", 0.0, 1.0, high_open=True)
        self.rng = get_rng(rng)

    def forward(self, x: Tensor) -> Tensor:
        if not self.training or self.p == 0:
            return x
        keep = self.rng.random(x.data.shape) >= self.p
        return x * _scaled_mask(keep, x.data, self.p)

    def extra_repr(self) -> str:
        return f"p={self.p}"



class Dropout2d(Dropout):
    """Zero whole channels of (N, C, H, W) inputs with probability ``p`` while training, and
    scale the rest by 1/(1-p), as ``torch.nn.Dropout2d``; the identity in evaluation mode.

    Args:
        p: Probability of zeroing each channel, in [0, 1).
        rng: Seed or generator for the masks; by default the shared generator.

    Shapes: Input ``(N, C, ...)`` (at least two dimensions); the output has the same shape.

    Raises:
        ConfigError: ``p`` is not a number in [0, 1).
        ShapeError: The input has fewer than two dimensions.
    """

    def forward(self, x: Tensor) -> Tensor:
        if not isinstance(x, Tensor):
            x = Tensor(x)
        if x.data.ndim < 2:
            raise ShapeError(f"Dropout2d needs inputs of shape (N, C, ...), got {x.data.shape}")
        if not self.training or self.p == 0:
            return x
        shape = x.data.shape[:2] + (1,) * (x.data.ndim - 2)
        keep = self.rng.random(shape) >= self.p
        return x * _scaled_mask(keep, x.data, self.p)

class Flatten(Module):
    """Merge dimensions ``start_dim`` to ``end_dim`` into one, as PyTorch's ``Flatten``.

    >>> import chainrule as cr
    >>> from chainrule.nn.layers import Flatten
    >>> Flatten()(cr.tensor(np.zeros((2, 3, 4, 5)))).shape
    (2, 60)

    Args:
        start_dim: First dimension to merge (negative counts from the end).
        end_dim: Last dimension to merge, included (negative counts from the end).

    Shapes: Input ``(*, S_start, ..., S_end, *)``; output ``(*, S_start * ... * S_end, *)``.

    Raises:
        ConfigError: ``start_dim`` or ``end_dim`` is not an integer.
        ShapeError: The span does not fit the input's dimensions (when called).
    """

    def __init__(self, start_dim: int = 1, end_dim: int = -1) -> None:
        super().__init__()
        for name, v in (("start_dim", start_dim), ("end_dim", end_dim)):
            if type(v) is not int:
                raise ConfigError(f"Flatten: {name} must be an integer, got {v!r}")
        self.start_dim = start_dim
        self.end_dim = end_dim

    def _span(self, ndim: int) -> tuple[int, int]:
        start = self.start_dim + ndim if self.start_dim < 0 else self.start_dim
        end = self.end_dim + ndim if self.end_dim < 0 else self.end_dim
        if not 0 <= start <= end < max(ndim, 1):
            raise ShapeError(f"Flatten(start_dim={self.start_dim}, end_dim={self.end_dim}) "
                             f"cannot run on inputs with {ndim} dimensions")
        return start, end

    def forward(self, x: Tensor) -> Tensor:
        if not isinstance(x, Tensor):
            x = Tensor(x)
        shape = x.data.shape
        start, end = self._span(len(shape))
        return ops.reshape(x, shape[:start] + (math.prod(shape[start:end + 1]),)
                           + shape[end + 1:])

    def output_shape(self, input_shape: Shape) -> Shape:
        if input_shape is None:
            return None
        start, end = self._span(len(input_shape))
        merged = input_shape[start:end + 1]
        size = None if None in merged else math.prod(merged)  # type: ignore[arg-type]
        return (*input_shape[:start], size, *input_shape[end + 1:])

    def extra_repr(self) -> str:
        return f"start_dim={self.start_dim}, end_dim={self.end_dim}"


class Unflatten(Module):
    """Split dimension ``dim`` into ``unflattened_size``, as PyTorch's ``Unflatten``: the
    inverse of :class:`Flatten`, e.g. to feed (N, 784) table rows to a conv net as
    (N, 1, 28, 28) images.

    >>> import chainrule as cr
    >>> Unflatten(1, (1, 8, 8))(cr.tensor(np.zeros((5, 64)))).shape
    (5, 1, 8, 8)

    Args:
        dim: The dimension to split (negative counts from the end).
        unflattened_size: A list or tuple of positive sizes whose product is the size of
            dimension ``dim``.

    Shapes: Input ``(*, S, *)`` with ``S = prod(unflattened_size)``; output
    ``(*, *unflattened_size, *)``.

    Raises:
        ConfigError: ``dim`` is not an integer, or ``unflattened_size`` is not a non-empty
            list of positive integers.
        ShapeError: Dimension ``dim`` is missing or its size is not the product (when called).
    """

    def __init__(self, dim: int, unflattened_size: Any) -> None:
        super().__init__()
        if type(dim) is not int:
            raise ConfigError(f"Unflatten: dim must be an integer, got {dim!r}")
        if not isinstance(unflattened_size, (list, tuple)) or not unflattened_size:
            raise ConfigError(f"Unflatten: unflattened_size must be a list of sizes, got "
                              f"{unflattened_size!r}")
        self.dim = dim
        self.unflattened_size = tuple(check_size(s, "Unflatten", "unflattened_size")
                                      for s in unflattened_size)

    def _axis(self, ndim: int) -> int:
        axis = self.dim + ndim if self.dim < 0 else self.dim
        if not 0 <= axis < ndim:
            raise ShapeError(f"Unflatten(dim={self.dim}) cannot run on inputs with {ndim} "
                             "dimensions")
        return axis

    def forward(self, x: Tensor) -> Tensor:
        if not isinstance(x, Tensor):
            x = Tensor(x)
        shape = x.data.shape
        axis = self._axis(len(shape))
        if shape[axis] != math.prod(self.unflattened_size):
            raise ShapeError(f"Unflatten: dimension {axis} has {shape[axis]} values, not "
                             f"{math.prod(self.unflattened_size)} = "
                             f"{' x '.join(map(str, self.unflattened_size))}")
        return ops.reshape(x, shape[:axis] + self.unflattened_size + shape[axis + 1:])

    def get_config(self) -> dict[str, Any]:
        return {"dim": self.dim, "unflattened_size": list(self.unflattened_size)}

    def output_shape(self, input_shape: Shape) -> Shape:
        if input_shape is None:
            return None
        axis = self._axis(len(input_shape))
        if input_shape[axis] not in (None, math.prod(self.unflattened_size)):
            raise ShapeError(f"Unflatten: dimension {axis} has {input_shape[axis]} values, "
                             f"not {math.prod(self.unflattened_size)}")
        return (*input_shape[:axis], *self.unflattened_size, *input_shape[axis + 1:])

    def extra_repr(self) -> str:
        return f"{self.dim}, {self.unflattened_size}"
