"""Activations as layers, and their name table.

Each activation class says what it computes in two fields, so a compiler or an exporter reads
them instead of testing class names: ``name``, its key in the table, and ``function``, the
engine operation its forward applies.  ``function(x)`` is what a default-built layer computes;
a layer's options (LeakyReLU's ``negative_slope``, Softmax's ``axis``) are that function's
further arguments.

:data:`ACTIVATIONS` holds the element-wise ones, the vocabulary of hidden layers
(``build_mlp(activation="relu")``, the command line's ``--activation``); :data:`OUTPUTS` the
ones a network may end with to give probabilities (``build_mlp(output="softmax")``).

>>> from chainrule import nn
>>> get("ReLU") is nn.ReLU, nn.Tanh.name, get_output("softmax") is nn.Softmax
(True, 'tanh', True)
>>> get("gelu")  # doctest: +ELLIPSIS
Traceback (most recent call last):
    ...
chainrule.errors.ConfigError: unknown activation 'gelu'; choose one of identity, leaky_relu, ...
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import ClassVar

import numpy as np

from ..engine import Tensor, ops
from ..errors import ConfigError, ShapeError
from ._checks import check_number, lookup
from .module import Module, Shape
from .workspace import Workspace

__all__ = [
    "ACTIVATIONS",
    "OUTPUTS",
    "Activation",
    "Identity",
    "LeakyReLU",
    "LogSoftmax",
    "ReLU",
    "Sigmoid",
    "Softmax",
    "Tanh",
    "get",
    "get_output",
    "identity",
]


def identity(x: Tensor) -> Tensor:
    """Its input, unchanged (the function of :class:`Identity`)."""
    return x


class Activation(Module, saved=False):
    """A layer that applies ``function`` to its input; it holds no parameters."""

    name: ClassVar[str]
    """Its key in :data:`ACTIVATIONS` or :data:`OUTPUTS`."""
    function: ClassVar[Callable[..., Tensor]]
    """The engine operation its forward applies (``function(x)`` for a default layer)."""

    def forward(self, x: Tensor) -> Tensor:
        return type(self).function(x if isinstance(x, Tensor) else Tensor(x))

    @classmethod
    def init_gain(cls, param: float | None = None) -> float:
        """The scale the initialisers recommend for weights that feed this activation
        (PyTorch's ``calculate_gain``; ``param`` is LeakyReLU's slope): 1 unless it shrinks
        or cuts its input."""
        return 1.0


class Sigmoid(Activation):
    """Elementwise 1 / (1 + e**-x); its output pairs with BCELoss to give the delta p - y."""
    name = "sigmoid"
    function = staticmethod(ops.sigmoid)


class Tanh(Activation):
    """Elementwise tanh."""
    name = "tanh"
    function = staticmethod(ops.tanh)

    @classmethod
    def init_gain(cls, param: float | None = None) -> float:
        return 5.0 / 3


class ReLU(Activation):
    """Elementwise max(x, 0).

    On NumPy inputs the layer writes its output and its gradient into arrays it keeps
    (``layer.workspace``, see :class:`~chainrule.nn.workspace.Workspace`), used again in
    the next step once nothing else holds them.
    """
    name = "relu"
    function = staticmethod(ops.relu)

    def __init__(self) -> None:
        super().__init__()
        self.workspace = Workspace()

    def forward(self, x: Tensor) -> Tensor:
        return ops.relu(x if isinstance(x, Tensor) else Tensor(x), workspace=self.workspace)

    @classmethod
    def init_gain(cls, param: float | None = None) -> float:
        return math.sqrt(2.0)


class Identity(Activation):
    """Returns its input unchanged."""
    name = "identity"
    function = staticmethod(identity)


class LeakyReLU(Activation):
    """Elementwise x for x > 0 and ``negative_slope * x`` otherwise."""
    name = "leaky_relu"
    function = staticmethod(ops.leaky_relu)

    def __init__(self, negative_slope: float = 0.01) -> None:
        super().__init__()
        self.negative_slope = check_number(negative_slope, "LeakyReLU", "negative_slope",
                                           -1e6, 1e6)

    def forward(self, x: Tensor) -> Tensor:
        return ops.leaky_relu(x, self.negative_slope)

    def extra_repr(self) -> str:
        return f"negative_slope={self.negative_slope}"

    @classmethod
    def init_gain(cls, param: float | None = None) -> float:
        slope = 0.01 if param is None else param
        return math.sqrt(2.0 / (1 + slope**2))


class Softmax(Activation):
    """Softmax along ``axis``.  For training, prefer logits with CrossEntropyLoss."""
    name = "softmax"
    function = staticmethod(ops.softmax)

    def __init__(self, axis: int = -1) -> None:
        super().__init__()
        if type(axis) is not int and not isinstance(axis, np.integer):
            raise ConfigError(f"{type(self).__name__}: axis must be an integer, got {axis!r}")
        self.axis = int(axis)

    def forward(self, x: Tensor) -> Tensor:
        return type(self).function(x, self.axis)

    def output_shape(self, input_shape: Shape) -> Shape:
        if input_shape is not None and not -len(input_shape) <= self.axis < len(input_shape):
            n = len(input_shape)
            raise ShapeError(f"{type(self).__name__}(axis={self.axis}) cannot run on inputs "
                             f"with {n} dimensions (axis must be in {-n}..{n - 1})")
        return input_shape

    def extra_repr(self) -> str:
        return f"axis={self.axis}"


class LogSoftmax(Softmax):
    """log(softmax(x)) along ``axis``, computed stably."""
    name = "log_softmax"
    function = staticmethod(ops.log_softmax)


ACTIVATIONS: dict[str, type[Activation]] = {
    cls.name: cls for cls in (ReLU, Tanh, Sigmoid, LeakyReLU, Identity)
}
"""The element-wise activations by name: what a hidden layer may apply."""

OUTPUTS: dict[str, type[Activation]] = {cls.name: cls for cls in (Identity, Sigmoid, Softmax)}
"""The activations a network may end with: none (logits or values), or probabilities."""


def get(name: str) -> type[Activation]:
    """The element-wise activation class called ``name`` (any case, ``-`` or ``_``; see
    :data:`ACTIVATIONS`); ConfigError listing the valid names otherwise."""
    return lookup(ACTIVATIONS, {}, name, "activation")


def get_output(name: str) -> type[Activation]:
    """The output activation class called ``name`` (see :data:`OUTPUTS`).

    >>> get_output("tanh")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
        ...
    chainrule.errors.ConfigError: unknown output activation 'tanh'; choose one of identity, ...
    """
    return lookup(OUTPUTS, {}, name, "output activation")
