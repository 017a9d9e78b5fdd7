"""The Module base class: parameters, buffers and submodules registered by attribute
assignment, and the description (``get_config``) that saving writes.

Every subclass is entered in the layer table :data:`chainrule.nn.registry.LAYERS` when it is
defined, under its class name, so a file can name it.

Where the numbers live: a layer builds its arrays on the host (NumPy's random generators), and
:class:`Parameter` and :meth:`Module.register_buffer` put them on the default device
(:func:`chainrule.engine.devices.get_default_device`), the one place that decides it;
:meth:`Module.to` moves a built model, as PyTorch's does.
"""

from __future__ import annotations

import contextlib
import inspect
import math
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextvars import ContextVar
from typing import Any, ClassVar

import numpy as np

from ..engine import ConfigError, ShapeError, Tensor, devices
from ..engine.backend import is_array, namespace
from ..engine.devices import Device, device_of, to_device, to_numpy
from . import registry
from ._arrays import (
    astype_to,
    dtype_name,
    float_dtype,
    host_copy,
    is_device_name,
    on_default_device,
)
from .summary import Summary, summarize

__all__ = ["Module", "Parameter", "Shape", "allocation_limit", "empty"]

Shape = tuple[int | None, ...] | None
"""A shape in which None marks an unknown size; None itself marks an unknown rank."""

_BUDGET: ContextVar[list[int] | None] = ContextVar("allocation_budget", default=None)


@contextlib.contextmanager
def allocation_limit(elements: int) -> Iterator[None]:
    """Within this block, :func:`empty` refuses to allocate more than ``elements`` values in
    all.  Loading a file uses it: a file cannot ask for more weights than it holds.

    >>> from chainrule import nn
    >>> with allocation_limit(10):
    ...     nn.Linear(100, 100)
    Traceback (most recent call last):
    ...
    chainrule.errors.ConfigError: Linear needs 10000 more values, over the limit of 10 left
    """
    token = _BUDGET.set([int(elements)])
    try:
        yield
    finally:
        _BUDGET.reset(token)


def empty(shape: tuple[int, ...], dtype: Any, owner: str = "layer") -> np.ndarray:
    """A new uninitialised array for a parameter or buffer (layers allocate through this, so
    :func:`allocation_limit` can bound what a description from a file asks for)."""
    for d in shape:
        if type(d) is not int or d < 0:
            raise ConfigError(f"{owner}: sizes must be non-negative integers, got {shape}")
    n = math.prod(shape)
    budget = _BUDGET.get()
    if budget is not None:
        if n > budget[0]:
            raise ConfigError(f"{owner} needs {n} more values, over the limit of {budget[0]} "
                              "left")
        budget[0] -= n
    return np.empty(shape, dtype=dtype)


class Parameter(Tensor):
    """A tensor that a :class:`Module` owns and an optimizer updates (requires_grad=True).

    Host data (a NumPy array, numbers) is put on the default device; an array of another
    library stays on its device."""

    __slots__ = ()

    def __init__(self, data: Any) -> None:
        if isinstance(data, Tensor):
            data = data.data
        super().__init__(on_default_device(data), requires_grad=True)

    def __repr__(self) -> str:
        return "Parameter(" + super().__repr__().removeprefix("tensor(")


class Module:
    """Base class of every layer and network.

    Assigning a :class:`Parameter` or a :class:`Module` to an attribute registers it, so
    :meth:`parameters` and :meth:`state_dict` find it; :meth:`register_buffer` adds state
    that is saved but not trained (running statistics).  Subclasses implement ``forward``.

    A layer describes itself with :meth:`get_config` (its constructor arguments) and is
    rebuilt by :meth:`from_config`.  The default follows scikit-learn's convention: each
    constructor argument is stored as an attribute of the same name.  A layer that does not
    store them so overrides both.

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
    layer_name: ClassVar[str] = "Module"
    """The name this class is saved under (see :func:`chainrule.nn.registry.register`)."""

    def __init_subclass__(cls, saved: bool = True, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        # A base that is never built itself (Activation, Loss) stays out of the table, so it
        # never takes the name a user's own layer is saved under.
        if saved:
            cls.layer_name = registry.register(cls)

    def __init__(self) -> None:
        object.__setattr__(self, "_parameters", {})
        object.__setattr__(self, "_buffers", {})
        object.__setattr__(self, "_modules", {})
        object.__setattr__(self, "training", True)

    def __setattr__(self, name: str, value: Any) -> None:
        params = self.__dict__.get("_parameters")
        if params is None:
            raise AttributeError(f"{type(self).__name__}: call super().__init__() before "
                                 "assigning attributes")
        modules = self.__dict__["_modules"]
        buffers = self.__dict__["_buffers"]
        if name in buffers:  # assigning to a buffer replaces its array, keeps it a buffer
            if value is not None and (isinstance(value, Tensor) or not is_array(value)):
                raise ConfigError(f"{type(self).__name__}.{name} is a buffer: assign an "
                                  f"array, not {type(value).__name__}")
            buffers[name] = value
            object.__setattr__(self, name, value)
            return
        # Assigning to a name a dict already holds keeps its place (as PyTorch's ordered
        # dicts do): a Sequential's "1" stays the second layer, and a Linear's new weight
        # stays before its bias in parameters() and state_dict().
        if isinstance(value, Parameter):
            modules.pop(name, None)
            params[name] = value
        elif isinstance(value, Module):
            params.pop(name, None)
            modules[name] = value
        else:
            params.pop(name, None)
            modules.pop(name, None)
        object.__setattr__(self, name, value)

    def __delattr__(self, name: str) -> None:
        self._parameters.pop(name, None)
        self._buffers.pop(name, None)
        self._modules.pop(name, None)
        object.__delattr__(self, name)

    def register_buffer(self, name: str, array: Any) -> None:
        """Keep ``array`` as state that is saved and loaded but not trained (a NumPy array is
        put on the default device, as parameters are).

        >>> from chainrule import nn
        >>> m = nn.Module()
        >>> m.register_buffer("count", np.zeros(1))
        >>> [name for name, _ in m.named_buffers()], list(m.state_dict())
        (['count'], ['count'])
        """
        if not isinstance(name, str) or not name.isidentifier():
            raise ConfigError(f"register_buffer: name must be an identifier, got {name!r}")
        if name in self._parameters or name in self._modules:
            raise ConfigError(f"register_buffer: {name!r} is already a parameter or submodule")
        if array is not None:
            if isinstance(array, Tensor) or not is_array(array):
                raise ConfigError(f"register_buffer: {name!r} must be an array, got "
                                  f"{type(array).__name__}")
            array = on_default_device(array)
        self._buffers[name] = array
        object.__setattr__(self, name, array)

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

    def named_parameters(self, recurse: bool = True) -> Iterator[tuple[str, Parameter]]:
        """Every parameter once, with a dotted name such as ``0.weight`` (only this module's
        own with ``recurse=False``)."""
        seen: set[int] = set()
        mods = self.named_modules() if recurse else iter([("", self)])
        for mod_name, mod in mods:
            for name, p in mod._parameters.items():
                if p is not None and id(p) not in seen:
                    seen.add(id(p))
                    yield (f"{mod_name}.{name}" if mod_name else name), p

    def named_buffers(self, recurse: bool = True) -> Iterator[tuple[str, np.ndarray]]:
        """Every buffer, with a dotted name such as ``1.running_mean`` (only this module's
        own with ``recurse=False``)."""
        mods = self.named_modules() if recurse else iter([("", self)])
        for mod_name, mod in mods:
            for name, b in mod._buffers.items():
                if b is not None:
                    yield (f"{mod_name}.{name}" if mod_name else name), b

    def buffers(self) -> list[np.ndarray]:
        """Every buffer, in registration order."""
        return [b for _, b in self.named_buffers()]

    def to(self, *args: Any, dtype: Any = None, device: Any = None,
           recurse: bool = True) -> Module:
        """Move parameters (their data and gradients) and buffers to a device, or convert the
        floating-point ones to a dtype, in place; returns self (PyTorch's ``Module.to``).

        ``to("cuda")``, ``to("float64")``, ``to("cuda", "float64")``, or by keyword.  The
        parameters stay the same objects, so an optimizer made before keeps working (its
        state follows them at its next step).  An unknown device is a ConfigError listing
        the valid ones; a device whose library or hardware is missing a DeviceError.

        >>> from chainrule import nn
        >>> nn.Linear(2, 1, rng=0).to("float64").weight.data.dtype
        dtype('float64')
        >>> nn.Linear(2, 1).to("cpu").device
        'cpu'
        """
        if len(args) > 2:
            raise ConfigError(f"to: takes a device and a dtype, got {len(args)} arguments")
        for arg in args:
            if is_device_name(arg):
                device = arg
            elif dtype is None:
                dtype = arg
            else:
                device = arg  # two dtypes: the first must have been meant as a device
        mods = list(self.modules() if recurse else [self])
        if device is not None:
            where = devices.device(device)  # ConfigError / DeviceError before any move
            for mod in mods:
                mod._move(lambda a: to_device(a, where))
        if dtype is not None:
            dt = float_dtype(dtype)
            for mod in mods:
                mod._move(lambda a: astype_to(a, dt), floating_only=True)
        return self

    def _move(self, convert: Callable[[Any], Any], floating_only: bool = False) -> None:
        """Replace this module's own parameter data, gradients and buffers by ``convert``
        of them (only the floating-point buffers with ``floating_only``)."""
        for p in self._parameters.values():
            if p is None:
                continue
            p.data = convert(p.data)
            if isinstance(p.grad, Tensor):
                p.grad.data = convert(p.grad.data)
            elif p.grad is not None:
                p.grad = convert(p.grad)
        for k, b in self._buffers.items():
            if b is not None and (not floating_only or namespace(b).isdtype(
                    b.dtype, "real floating")):
                self._buffers[k] = convert(b)
                object.__setattr__(self, k, self._buffers[k])

    def cpu(self) -> Module:
        """Move every parameter and buffer to the CPU (NumPy); returns self."""
        return self.to("cpu")

    def cuda(self) -> Module:
        """Move every parameter and buffer to the GPU (CuPy); returns self.  A DeviceError
        says what is missing when there is no usable GPU."""
        return self.to("cuda")

    @property
    def device(self) -> Device:
        """The device of the first parameter (``"cpu"`` for a module without any)."""
        for _, p in self.named_parameters():
            return device_of(p.data)
        return Device("cpu")

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
        """Switch training behaviour (dropout, batch statistics) on or off, recursively;
        returns self."""
        for mod in self.modules():
            object.__setattr__(mod, "training", mode)
        return self

    def eval(self) -> Module:
        """Switch to evaluation behaviour (dropout off, running statistics); returns self."""
        return self.train(False)

    # -- describing the layer ------------------------------------------------------------------
    def get_config(self) -> dict[str, Any]:
        """The constructor arguments that rebuild this layer, as JSON-ready data.

        By default, the attributes named like the constructor's arguments (dtypes written as
        strings; ``rng``, a random source, left out).  Override it (with
        :meth:`from_config`) when the layer stores them otherwise.

        >>> from chainrule import nn
        >>> nn.LeakyReLU(0.2).get_config()
        {'negative_slope': 0.2}
        """
        config: dict[str, Any] = {}
        for p in inspect.signature(type(self).__init__).parameters.values():
            if p.name in ("self", "rng") or p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
                continue  # a random source is not part of what the layer is
            if not hasattr(self, p.name):
                raise ConfigError(
                    f"{type(self).__name__}.get_config: the constructor argument {p.name!r} is "
                    f"not stored as self.{p.name}; store it, or define get_config() and "
                    "from_config() on the class")
            config[p.name] = _jsonable(getattr(self, p.name))
        return config

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> Module:
        """The layer :meth:`get_config` described (weights not set: load them after)."""
        return cls(**config)

    def output_shape(self, input_shape: Shape) -> Shape:
        """The shape of this layer's output for inputs of ``input_shape``.

        ``None`` stands for an unknown rank, and ``None`` inside the tuple for an unknown size
        (the batch).  Raises :class:`ShapeError` when the layer can never run on such inputs,
        so that a model loaded from a file is refused at load instead of at first use, and
        ``model.output_shape((None, 1, 28, 28))`` checks a network before training it.  The
        default keeps the shape (activations, dropout).
        """
        return input_shape

    # -- saving and loading weights -----------------------------------------------------------
    def state_dict(self) -> dict[str, np.ndarray]:
        """A copy of every parameter and buffer as a NumPy array on the host, keyed by dotted
        name (so a model trained on a GPU saves, and loads on a machine without one)."""
        state = {name: host_copy(p.data) for name, p in self.named_parameters()}
        state.update((name, host_copy(b)) for name, b in self.named_buffers())
        return state

    def load_state_dict(self, state: Mapping[str, Any], strict: bool = True) -> None:
        """Copy arrays into the parameters and buffers in place (optimizers keep working).

        With ``strict=True`` (the default) the keys must match exactly.          Shapes must always
        match; values are converted to each parameter's or buffer's dtype and put on its
        device.
        """
        own: dict[str, np.ndarray] = {name: p.data for name, p in self.named_parameters()}
        own.update(self.named_buffers())
        if strict:
            missing = sorted(set(own) - set(state))
            unexpected = sorted(set(state) - set(own))
            if missing or unexpected:
                raise ConfigError(f"load_state_dict: missing keys {_names(missing)}, "
                                  f"unexpected keys {_names(unexpected)}")
        for name, value in state.items():
            if name not in own:
                continue
            target = own[name]
            arr = value.data if isinstance(value, Tensor) else value
            arr = to_numpy(arr) if is_array(arr) else np.asarray(arr)
            if arr.shape != target.shape:
                raise ShapeError(f"load_state_dict: {name} has shape {target.shape} in the "
                                 f"model but {arr.shape} in the state dict")
            if type(target) is np.ndarray:
                target[...] = arr
            else:  # cast on the host, then one copy to the target's device
                arr = arr.astype(dtype_name(target.dtype), copy=False)
                target[...] = to_device(arr, device_of(target))

    _saver: ClassVar[Callable[..., None] | None] = None

    def save(self, path: Any, **metadata: Any) -> None:
        """Deprecated: use ``chainrule.save(model, path, **metadata)``.

        Saving lives above ``nn`` (in :mod:`chainrule.tools.saving`), which sets
        ``Module._saver`` when it is imported; ``import chainrule`` imports it.
        """
        warnings.warn("model.save(path) is deprecated; use chainrule.save(model, path)",
                      DeprecationWarning, stacklevel=2)
        if Module._saver is None:
            raise ConfigError("model.save needs chainrule.tools.saving; call "
                              "chainrule.save(model, path) instead")
        Module._saver(self, path, **metadata)

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

    def summary(self, input_shape: int | Sequence[int | None] | None = None) -> Summary:
        """A Keras-like table of the layers, their parameter counts and the total; with
        ``input_shape`` (one example's shape, e.g. ``(1, 28, 28)``) each layer's output shape
        too, found by running one zero example in evaluation mode without a graph.  Printing
        it gives text; a notebook shows it as an HTML table.

        >>> from chainrule import nn
        >>> nn.Sequential(nn.Linear(3, 2, rng=0), nn.ReLU()).summary((3,)).rows[0]
        LayerRow(name='0', kind='Linear', output_shape=(None, 2), params=8)
        """
        return summarize(self, input_shape)

    def _repr_html_(self) -> str:
        # Notebooks show this; terminals keep the nested __repr__ above.
        return summarize(self)._repr_html_()


def _jsonable(value: Any) -> Any:
    if isinstance(value, np.dtype) or (isinstance(value, type) and issubclass(value, np.generic)):
        return np.dtype(value).name
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, tuple):
        return [_jsonable(v) for v in value]
    return value


def _names(names: list[str], limit: int = 10) -> str:
    shown = ", ".join(names[:limit])
    return f"[{shown}{f', ... ({len(names)} in all)' if len(names) > limit else ''}]"
