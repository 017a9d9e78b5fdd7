"""Sequential: layers applied one after another, held and edited like a list."""

from __future__ import annotations

import operator
from collections.abc import Iterable, Iterator
from typing import Any

from ..errors import ConfigError, LayerIndexError, ShapeError
from . import registry
from .activations import ReLU
from .module import Module, Shape
from .pooling import MaxPool2d

__all__ = ["Sequential"]


class Sequential(Module):
    """Modules applied one after another; indexed, edited and sliced like a list, as PyTorch's
    ``Sequential``: ``model[1] = nn.ReLU()`` replaces the second layer in place, ``del
    model[-1]``, ``insert``, ``append`` and ``extend`` renumber the layers, and ``model[1:]`` is
    a new Sequential of the same layer objects.

    >>> from chainrule import nn
    >>> model = nn.Sequential(nn.Linear(2, 4, rng=0), nn.Tanh(), nn.Linear(4, 1, rng=1))
    >>> len(model), type(model[1]).__name__
    (3, 'Tanh')
    >>> model[1] = nn.ReLU()
    >>> del model[-1]
    >>> _ = model.insert(0, nn.Identity()).append(nn.Sigmoid())
    >>> [type(m).__name__ for m in model]
    ['Identity', 'Linear', 'ReLU', 'Sigmoid']
    >>> model[4]  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    chainrule.errors.LayerIndexError: Sequential: index 4 is out of range for 4 layers ...
    """

    def __init__(self, *modules: Module) -> None:
        super().__init__()
        self.extend(modules)

    def append(self, module: Module) -> Sequential:
        """Add a module at the end; returns self."""
        _check_layer(module, len(self))
        setattr(self, str(len(self._modules)), module)
        return self

    def extend(self, modules: Iterable[Module]) -> Sequential:
        """Add each of ``modules`` at the end, in order; returns self.  Nothing is added when
        one of them is not a Module."""
        modules = list(modules)
        for i, m in enumerate(modules):
            _check_layer(m, len(self) + i)
        for m in modules:
            self.append(m)
        return self

    def insert(self, index: int, module: Module) -> Sequential:
        """Put ``module`` before position ``index`` (``len(model)``: at the end), moving the
        layers after it one place on; returns self."""
        i = self._position(index, end_allowed=True)
        _check_layer(module, i)
        layers = list(self._modules.values())
        layers.insert(i, module)
        self._renumber(layers)
        return self

    def __setitem__(self, idx: int, module: Module) -> None:
        if isinstance(idx, slice):
            raise ConfigError("Sequential: assign one layer at a time, model[i] = layer")
        i = self._position(idx)
        _check_layer(module, i)
        setattr(self, list(self._modules)[i], module)  # keeps its name and place

    def __delitem__(self, idx: int | slice) -> None:
        layers = list(self._modules.values())
        if isinstance(idx, slice):
            del layers[idx]
        else:
            del layers[self._position(idx)]
        self._renumber(layers)

    def _renumber(self, layers: list[Module]) -> None:
        """Hold ``layers`` under the names "0", "1", ... (saving and summaries read them).
        The same ``_modules`` dict is refilled, not replaced: whoever holds it (a compiled
        step's watch) sees the change."""
        for name in self._modules:
            self.__dict__.pop(name, None)
        self._modules.clear()
        for m in layers:
            setattr(self, str(len(self._modules)), m)

    def _position(self, idx: Any, end_allowed: bool = False) -> int:
        """``idx`` as a position in 0..len-1 (0..len for ``insert``), negatives counted from
        the end."""
        try:
            i = operator.index(idx)
        except TypeError:
            raise ConfigError(f"Sequential: layer indices are integers or slices, got "
                              f"{idx!r}") from None
        n = len(self._modules)
        top = n if end_allowed else n - 1
        if not -n <= i <= top:
            raise LayerIndexError(f"Sequential: index {i} is out of range for {n} layers "
                                  f"(valid: {-n} to {top})" if n else
                                  f"Sequential: index {i} is out of range: it has no layers")
        return i + n if i < 0 else i

    def get_config(self) -> dict[str, Any]:
        return {"layers": [registry.config_of(m) for m in self]}

    @classmethod
    def from_config(cls, config: Any) -> Sequential:
        layers = config.get("layers") if isinstance(config, dict) else None
        if not isinstance(layers, list) or set(config) != {"layers"}:
            raise ConfigError("Sequential: the description must be {'layers': [...]}")
        return cls(*[registry.from_config(spec) for spec in layers])

    def output_shape(self, input_shape: Shape) -> Shape:
        shape = input_shape
        for i, module in enumerate(self):
            try:
                shape = module.output_shape(shape)
            except ShapeError as err:
                raise ShapeError(f"layer {i} ({type(module).__name__}): {err}") from None
        return shape

    def forward(self, x: Any) -> Any:
        modules = tuple(self._modules.values())
        i = 0
        while i < len(modules):
            module = modules[i]
            try:
                # A ReLU then a MaxPool2d run as one pass (max and relu commute; with numba
                # one compiled loop and one node): a LeNet-5 step, W5 median 4,137 -> 3,805
                # us, W6 4,759 -> 4,630 us; the same numbers (tests/nn/test_container_fusion).
                # Exact types only, with their class's forward: a subclass may compute
                # something else, and summary() records shapes by wrapping each forward.
                if type(module) is ReLU and i + 1 < len(modules) and \
                        type(modules[i + 1]) is MaxPool2d and \
                        "forward" not in module.__dict__ and \
                        "forward" not in modules[i + 1].__dict__:
                    i += 1
                    module = modules[i]
                    x = module.relu_forward(x)
                else:
                    x = module.forward(x)  # what module(x) does, one call shorter
            except ShapeError as err:
                raise ShapeError(f"layer {i} ({type(module).__name__}): {err}") from None
            i += 1
        return x

    def __getitem__(self, idx: int | slice) -> Any:
        mods = list(self._modules.values())
        if isinstance(idx, slice):
            return Sequential(*mods[idx])
        return mods[self._position(idx)]

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self) -> Iterator[Module]:
        return iter(self._modules.values())


def _check_layer(module: Any, position: int) -> None:
    if not isinstance(module, Module):
        raise ConfigError(f"Sequential: item {position} is {type(module).__name__}, not a "
                          "Module; wrap a function in a Module subclass")
