"""Layers: Linear, Sequential, the activations as modules, and Dropout."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from ..engine import ConfigError, ShapeError, Tensor, ops
from ..engine.random import RNGLike, get_rng
from . import init as _init
from .module import Module, Parameter

__all__ = [
    "Dropout",
    "Identity",
    "LeakyReLU",
    "Linear",
    "LogSoftmax",
    "ReLU",
    "Sequential",
    "Sigmoid",
    "Softmax",
    "Tanh",
]


class Linear(Module):
    """``y = x @ weight.T + bias``: a fully connected layer.

    ``weight`` has shape (out_features, in_features), the seeds' W[l] of shape (n[l], n[l-1]);
    ``bias`` has shape (out_features,).  By default both start uniform in
    (-1/sqrt(in_features), 1/sqrt(in_features)), as in PyTorch; ``init`` names another scheme
    for the weight ('xavier_uniform', 'xavier_normal', 'kaiming_uniform', 'kaiming_normal',
    'normal' (std 0.01, as in the seeds), 'zeros') with a zero bias, or is a function
    ``init(weight, rng)``.

    Inputs of another dtype are converted to the layer's dtype on the way in (as Keras layers
    do), so ``model(cr.tensor(X))`` works for float64 data and a float32 model.

    >>> import chainrule as cr
    >>> layer = cr.nn.Linear(3, 2, rng=0)
    >>> layer(cr.tensor([[1.0, 2.0, 3.0]])).shape
    (1, 2)
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True,
                 init: str | Callable[..., Any] | None = None, dtype: Any = np.float32,
                 rng: RNGLike = None) -> None:
        super().__init__()
        if in_features < 1 or out_features < 1:
            raise ConfigError(f"Linear({in_features}, {out_features}): sizes must be positive")
        self.in_features = in_features
        self.out_features = out_features
        dtype = np.dtype(dtype)
        if dtype.kind != "f":
            raise ConfigError(f"Linear: dtype must be a floating-point type, got {dtype}")
        gen = get_rng(rng)
        self.weight = Parameter(np.empty((out_features, in_features), dtype=dtype))
        self.bias = Parameter(np.empty(out_features, dtype=dtype)) if bias else None
        if init is None:
            bound = 1.0 / math.sqrt(in_features)
            _init.uniform_(self.weight, -bound, bound, gen)
            if self.bias is not None:
                _init.uniform_(self.bias, -bound, bound, gen)
        else:
            (_init.get(init) if isinstance(init, str) else init)(self.weight, rng=gen)
            if self.bias is not None:
                _init.zeros_(self.bias)

    def forward(self, x: Tensor) -> Tensor:
        if not isinstance(x, Tensor):
            x = Tensor(x)
        w = self.weight
        if x.data.dtype is not w.data.dtype:
            x = ops.astype(x, w.data.dtype)
        return ops.linear(x, w, self.bias)

    def extra_repr(self) -> str:
        dtype = self.weight.data.dtype
        return (f"{self.in_features}, {self.out_features}"
                + ("" if self.bias is not None else ", bias=False")
                + ("" if dtype == np.float32 else f", dtype={dtype}"))


class Sequential(Module):
    """Modules applied one after another; indexable like a list.

    >>> from chainrule import nn
    >>> model = nn.Sequential(nn.Linear(2, 4, rng=0), nn.Tanh(), nn.Linear(4, 1, rng=1))
    >>> len(model), type(model[1]).__name__
    (3, 'Tanh')
    """

    def __init__(self, *modules: Module) -> None:
        super().__init__()
        for m in modules:
            self.append(m)

    def append(self, module: Module) -> Sequential:
        """Add a module at the end."""
        if not isinstance(module, Module):
            raise ConfigError(f"Sequential: item {len(self)} is {type(module).__name__}, "
                            "not a Module")
        setattr(self, str(len(self._modules)), module)
        return self

    def forward(self, x: Any) -> Any:
        for i, module in enumerate(self._modules.values()):
            try:
                x = module.forward(x)  # what module(x) does, one call shorter
            except ShapeError as err:
                raise ShapeError(f"layer {i} ({type(module).__name__}): {err}") from None
        return x

    def __getitem__(self, idx: int | slice) -> Any:
        mods = list(self._modules.values())
        if isinstance(idx, slice):
            return Sequential(*mods[idx])
        return mods[idx]

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self) -> Iterator[Module]:
        return iter(self._modules.values())


class _Activation(Module):
    fn: Callable[[Tensor], Tensor]

    def forward(self, x: Tensor) -> Tensor:
        return type(self).fn(x if isinstance(x, Tensor) else Tensor(x))


class Sigmoid(_Activation):
    """Elementwise 1 / (1 + e**-x); its output pairs with BCELoss to give the delta p - y."""
    fn = staticmethod(ops.sigmoid)


class Tanh(_Activation):
    """Elementwise tanh."""
    fn = staticmethod(ops.tanh)


class ReLU(_Activation):
    """Elementwise max(x, 0)."""
    fn = staticmethod(ops.relu)


class Identity(_Activation):
    """Returns its input unchanged."""
    fn = staticmethod(lambda x: x)


class LeakyReLU(Module):
    """Elementwise x for x > 0 and ``negative_slope * x`` otherwise."""

    def __init__(self, negative_slope: float = 0.01) -> None:
        super().__init__()
        self.negative_slope = negative_slope

    def forward(self, x: Tensor) -> Tensor:
        return ops.leaky_relu(x, self.negative_slope)

    def extra_repr(self) -> str:
        return f"negative_slope={self.negative_slope}"


class Softmax(Module):
    """Softmax along ``axis``.  For training, prefer logits with CrossEntropyLoss."""

    def __init__(self, axis: int = -1) -> None:
        super().__init__()
        self.axis = axis

    def forward(self, x: Tensor) -> Tensor:
        return ops.softmax(x, self.axis)

    def extra_repr(self) -> str:
        return f"axis={self.axis}"


class LogSoftmax(Softmax):
    """log(softmax(x)) along ``axis``, computed stably."""

    def forward(self, x: Tensor) -> Tensor:
        return ops.log_softmax(x, self.axis)


class Dropout(Module):
    """Zero each input with probability ``p`` while training and scale the rest by 1/(1-p).

    In evaluation mode (``model.eval()``) it passes its input through unchanged.
    """

    def __init__(self, p: float = 0.5, rng: RNGLike = None) -> None:
        super().__init__()
        if not 0 <= p < 1:
            raise ConfigError(f"Dropout: p must be in [0, 1), got {p}")
        self.p = p
        self.rng = get_rng(rng)

    def forward(self, x: Tensor) -> Tensor:
        if not self.training or self.p == 0:
            return x
        keep = self.rng.random(x.data.shape) >= self.p
        return x * (keep.astype(x.data.dtype) / (1 - self.p))

    def extra_repr(self) -> str:
        return f"p={self.p}"
