"""The Module base class: parameters and submodules registered by attribute assignment."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import numpy as np

from ..engine import ConfigError, ShapeError, Tensor

__all__ = ["Module", "Parameter"]


class Parameter(Tensor):
    """A tensor that a :class:`Module` owns and an optimizer updates (requires_grad=True)."""

    __slots__ = ()

    def __init__(self, data: Any) -> None:
        super().__init__(np.asarray(data), requires_grad=True)

    def __repr__(self) -> str:
        return "Parameter(" + super().__repr__().removeprefix("tensor(")


class Module:
    """Base class of every layer and network.

    Assigning a :class:`Parameter` or a :class:`Module` to an attribute registers it, so
    :meth:`parameters` and :meth:`state_dict` find it.  Subclasses implement ``forward``.

    >>> import chainrule as cr
    >>> from chainrule import nn
    >>> class TwoLayer(nn.Module):
    ...     def __init__(self):
    ...         super().__init__()
    ...         self.hidden = nn.Linear(2, 4, rng=0)
    ...         self.out = nn.Linear(4, 1, rng=1)
    ...     def forward(self, x):
    ...         return self.out(self.hidden(x).tanh()).sigmoid()
    >>> [name for name, _ in TwoLayer().named_parameters()]
    ['hidden.weight', 'hidden.bias', 'out.weight', 'out.bias']
    """

    training: bool

    def __init__(self) -> None:
        object.__setattr__(self, "_parameters", {})
        object.__setattr__(self, "_modules", {})
        object.__setattr__(self, "training", True)

    def __setattr__(self, name: str, value: Any) -> None:
        params = self.__dict__.get("_parameters")
        if params is None:
            raise AttributeError(f"{type(self).__name__}: call super().__init__() before "
                                 "assigning attributes")
        modules = self.__dict__["_modules"]
        params.pop(name, None)
        modules.pop(name, None)
        if isinstance(value, Parameter):
            params[name] = value
        elif isinstance(value, Module):
            modules[name] = value
        object.__setattr__(self, name, value)

    def __delattr__(self, name: str) -> None:
        self._parameters.pop(name, None)
        self._modules.pop(name, None)
        object.__delattr__(self, name)

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError(f"{type(self).__name__} must define forward()")

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.forward(*args, **kwargs)

    # -- walking the tree ---------------------------------------------------------------------
    def named_modules(self, prefix: str = "") -> Iterator[tuple[str, Module]]:
        """This module and every submodule, with dotted names ('' for this one)."""
        stack = [(prefix, self)]
        seen: set[int] = set()
        while stack:
            name, mod = stack.pop()
            if id(mod) in seen:
                continue
            seen.add(id(mod))
            yield name, mod
            children = [(f"{name}.{k}" if name else k, m) for k, m in mod._modules.items()]
            stack.extend(reversed(children))

    def modules(self) -> Iterator[Module]:
        """This module and every submodule."""
        for _, mod in self.named_modules():
            yield mod

    def children(self) -> Iterator[Module]:
        """The direct submodules."""
        yield from self._modules.values()

    def named_parameters(self) -> Iterator[tuple[str, Parameter]]:
        """Every parameter once, with a dotted name such as ``0.weight``."""
        seen: set[int] = set()
        for mod_name, mod in self.named_modules():
            for name, p in mod._parameters.items():
                if p is not None and id(p) not in seen:
                    seen.add(id(p))
                    yield (f"{mod_name}.{name}" if mod_name else name), p

    def parameters(self) -> list[Parameter]:
        """Every parameter once, in registration order."""
        return [p for _, p in self.named_parameters()]

    def num_parameters(self) -> int:
        """The total number of scalar parameters."""
        return sum(p.data.size for p in self.parameters())

    def zero_grad(self) -> None:
        """Forget every parameter's gradient (sets ``.grad`` to None)."""
        for p in self.parameters():
            p.grad = None

    def train(self, mode: bool = True) -> Module:
        """Switch training behaviour (dropout) on or off, recursively; returns self."""
        for mod in self.modules():
            object.__setattr__(mod, "training", mode)
        return self

    def eval(self) -> Module:
        """Switch to evaluation behaviour (dropout off); returns self."""
        return self.train(False)

    # -- saving and loading weights -----------------------------------------------------------
    def state_dict(self) -> dict[str, np.ndarray]:
        """A copy of every parameter as a NumPy array, keyed by dotted name."""
        return {name: p.data.copy() for name, p in self.named_parameters()}

    def load_state_dict(self, state: Mapping[str, Any], strict: bool = True) -> None:
        """Copy arrays into the parameters in place (optimizers keep working).

        With ``strict=True`` (the default) the keys must match exactly.  Shapes must always
        match; values are converted to each parameter's dtype.
        """
        own = dict(self.named_parameters())
        if strict:
            missing = sorted(set(own) - set(state))
            unexpected = sorted(set(state) - set(own))
            if missing or unexpected:
                raise ConfigError(f"load_state_dict: missing keys {missing}, unexpected keys "
                               f"{unexpected}")
        for name, value in state.items():
            if name not in own:
                continue
            p = own[name]
            arr = np.asarray(value.data if isinstance(value, Tensor) else value)
            if arr.shape != p.data.shape:
                raise ShapeError(f"load_state_dict: {name} has shape {p.data.shape} in the "
                                 f"model but {arr.shape} in the state dict")
            p.data[...] = arr

    def save(self, path: Any, **metadata: Any) -> None:
        """Save architecture and weights to one file; ``chainrule.load(path)`` restores it.

        See :mod:`chainrule.tools.saving` for the format (safetensors with JSON metadata).
        """
        from ..tools.saving import save  # saving sits above nn: import on use, not at load

        save(self, path, **metadata)

    # -- display --------------------------------------------------------------------------------
    def extra_repr(self) -> str:
        """The arguments shown inside this module's repr."""
        return ""

    def __repr__(self) -> str:
        lines = [f"({name}): " + repr(mod).replace("\n", "\n  ")
                 for name, mod in self._modules.items()]
        head = f"{type(self).__name__}({self.extra_repr()}"
        if not lines:
            return head + ")"
        return head + "\n  " + "\n  ".join(lines) + "\n)"
