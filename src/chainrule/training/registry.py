"""Names for losses, optimizers and activations, and a builder for multilayer perceptrons.

So ``fit(model, X, y, loss="cross_entropy", optimizer="adam")``, the command line and the
scikit-learn estimators all resolve names in one place, and an unknown name is answered with
the list of valid ones.
"""

from __future__ import annotations

import inspect
import itertools
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numpy as np

from .. import nn, optim
from ..engine.random import RNGLike, get_rng
from ..errors import ConfigError
from .config import check_lr

__all__ = [
    "ACTIVATIONS",
    "CLASSIFICATION_LOSSES",
    "LOSSES",
    "OPTIMIZERS",
    "ConfigError",
    "build_mlp",
    "get_activation",
    "get_loss",
    "get_optimizer",
]


# One table per vocabulary, each beside the things it names; these names are kept because
# users import them from chainrule.training.
LOSSES = nn.losses.LOSSES
OPTIMIZERS = optim.registry.OPTIMIZERS
ACTIVATIONS = nn.activations.ACTIVATIONS
CLASSIFICATION_LOSSES = tuple(cls for cls in LOSSES.values() if cls.task != "regression")


def get_loss(loss: str | Callable[..., Any]) -> Callable[..., Any]:
    """A loss module from its name (see :data:`chainrule.nn.losses.LOSSES` and its aliases)
    or the given loss itself when it is already callable."""
    if callable(loss):
        return loss
    if not isinstance(loss, str):
        raise ConfigError(f"loss must be a name or a callable, got {type(loss).__name__}")
    return nn.losses.get(loss)()


def get_optimizer(optimizer: str | optim.Optimizer, params: Sequence[Any],
                  lr: float | None = None, **kwargs: Any) -> optim.Optimizer:
    """An optimizer over ``params`` from its name (``sgd``, ``adam``, ``adamw``, ``rmsprop``),
    or the given optimizer itself (then ``lr`` must be None)."""
    if isinstance(optimizer, optim.Optimizer):
        if lr is not None:
            raise ConfigError("lr is set on the optimizer you passed; give lr only together "
                              "with an optimizer name")
        return optimizer
    if not isinstance(optimizer, str):
        raise ConfigError(f"optimizer must be a name or a chainrule.optim.Optimizer, got "
                          f"{type(optimizer).__name__}")
    cls = optim.registry.get(optimizer)
    if lr is not None:
        kwargs["lr"] = check_lr(lr)
    if isinstance(params, nn.Module):
        raise ConfigError(f"get_optimizer: params must be the tensors to train, e.g. "
                          f"model.parameters(), not the {type(params).__name__} itself")
    if not isinstance(params, Iterable):
        raise ConfigError(f"get_optimizer: params must be a list of tensors, e.g. "
                          f"model.parameters(), got {type(params).__name__}")
    known = inspect.signature(cls).parameters
    unknown = sorted(set(kwargs) - set(known))
    if unknown and not any(p.kind is p.VAR_KEYWORD for p in known.values()):
        options = ", ".join(k for k in known if k != "params")
        raise ConfigError(f"{cls.__name__} has no option {', '.join(unknown)}; its options "
                          f"are {options}")
    return cls(params, **kwargs)


def get_activation(name: str) -> nn.Module:
    """An activation module from its name (see :data:`chainrule.nn.activations.ACTIVATIONS`)."""
    return nn.activations.get(name)()


def _size(value: Any, name: str) -> int:
    """A layer size given to :func:`build_mlp`: a whole number >= 1 (not a bool, and not a
    float that ``int`` would silently cut)."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)) \
            or value < 1:
        raise ConfigError(f"build_mlp: {name} must be a whole number >= 1 (a layer size), got "
                          f"{type(value).__name__} {value!r:.40}")
    return int(value)


def build_mlp(n_inputs: int, hidden: Sequence[int], n_outputs: int, activation: str = "relu",
              output: str = "identity", init: str | None = None, dtype: Any = np.float32,
              rng: RNGLike = None) -> nn.Sequential:
    """A Sequential multilayer perceptron: Linear, activation, ..., Linear, output activation.

    ``output`` is ``identity`` (logits or regression values), ``sigmoid`` or ``softmax``.

    >>> build_mlp(2, [4], 1, activation="tanh", output="sigmoid", rng=0)
    Sequential(
      (0): Linear(2, 4)
      (1): Tanh()
      (2): Linear(4, 1)
      (3): Sigmoid()
    )
    """
    if isinstance(hidden, (str, bytes)) or not isinstance(hidden, (Sequence, np.ndarray)):
        raise ConfigError(f"build_mlp: hidden must be a list of hidden layer sizes, e.g. [16, 8] "
                          f"(or [] for none), got {type(hidden).__name__} {hidden!r:.60}")
    sizes = [_size(n_inputs, "n_inputs"),
             *[_size(h, f"hidden[{i}]") for i, h in enumerate(hidden)],
             _size(n_outputs, "n_outputs")]
    get_activation(activation)  # validate the names before building anything
    if init is not None and (not isinstance(init, str) or init not in nn.init.INITIALIZERS):
        raise ConfigError(f"unknown initialiser {init!r}; choose one of "
                          f"{', '.join(sorted(nn.init.INITIALIZERS))}")
    output_layer = nn.activations.get_output(output)
    gen = get_rng(rng)
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(itertools.pairwise(sizes)):
        layers.append(nn.Linear(a, b, init=init, dtype=dtype, rng=gen))
        if i < len(sizes) - 2:
            layers.append(get_activation(activation))
    if output_layer is not nn.Identity:
        layers.append(output_layer())
    return nn.Sequential(*layers)
