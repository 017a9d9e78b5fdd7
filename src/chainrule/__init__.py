"""chainrule: neural networks trained by backpropagation, on NumPy arrays.

>>> import chainrule as cr
>>> w = cr.tensor(2.0, requires_grad=True)
>>> b = cr.tensor(8.0, requires_grad=True)
>>> J = 0.5 * (w * -2.0 + b - 2.0) ** 2
>>> J.backward()
>>> float(J.item()), float(w.grad), float(b.grad)
(2.0, -4.0, 2.0)
"""

from . import nn, optim
from .engine import (
    Primitive,
    Tensor,
    abs,
    astype,
    clip,
    concatenate,
    enable_grad,
    exp,
    grad,
    is_grad_enabled,
    leaky_relu,
    linear,
    log,
    log_softmax,
    logsumexp,
    manual_seed,
    matmul,
    maximum,
    minimum,
    no_grad,
    relu,
    reshape,
    sigmoid,
    softmax,
    sqrt,
    stack,
    tanh,
    tensor,
    transpose,
    where,
)
from .engine.devices import Device, get_default_device, set_default_device
from .errors import (
    ChainruleError,
    ConfigError,
    DataError,
    DeviceError,
    DistributedError,
    DTypeError,
    FileWriteError,
    GradcheckError,
    GraphError,
    LayerIndexError,
    ModelFileError,
    PlotError,
    SeedError,
    ShapeError,
)
from .tools import gradcheck
from .tools.gradcheck import gradgradcheck
from .tools.saving import load, save
from .version import __version__ as __version__

# Heavier parts load on first use, so `import chainrule` stays fast.
_LAZY = {
    "data": ("chainrule.data", None),
    "plots": ("chainrule.plots", None),
    "textbook": ("chainrule.textbook", None),
    "tools": ("chainrule.tools", None),
    "training": ("chainrule.training", None),
    "fit": ("chainrule.training", "fit"),
    "train": ("chainrule.tables", "train"),
    "compile": ("chainrule.training.compiled", "compile"),
    "export_onnx": ("chainrule.onnx", "export_onnx"),
    "onnx": ("chainrule.onnx", None),
    "evaluate": ("chainrule.training", "evaluate"),
    "explain": ("chainrule.tools.explain", "explain"),
    "diagnose": ("chainrule.tools.diagnose", "diagnose"),
    "functional": ("chainrule.functional", None),
}


def __getattr__(name: str) -> object:
    if name not in _LAZY:
        raise AttributeError(f"module 'chainrule' has no attribute {name!r}")
    import importlib

    module_name, attr = _LAZY[name]
    module = importlib.import_module(module_name)
    value = module if attr is None else getattr(module, attr)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    """Every public name, the lazily loaded ones included, so completion finds them."""
    return sorted(set(__all__) | set(_LAZY))

__all__ = [
    "ChainruleError",
    "ConfigError",
    "DTypeError",
    "DataError",
    "Device",
    "DeviceError",
    "DistributedError",
    "FileWriteError",
    "GradcheckError",
    "GraphError",
    "LayerIndexError",
    "ModelFileError",
    "PlotError",
    "Primitive",
    "SeedError",
    "ShapeError",
    "Tensor",
    "abs",
    "astype",
    "clip",
    "concatenate",
    "enable_grad",
    "exp",
    "get_default_device",
    "grad",
    "gradcheck",
    "gradgradcheck",
    "is_grad_enabled",
    "leaky_relu",
    "linear",
    "load",
    "log",
    "log_softmax",
    "logsumexp",
    "manual_seed",
    "matmul",
    "maximum",
    "minimum",
    "nn",
    "no_grad",
    "optim",
    "relu",
    "reshape",
    "save",
    "set_default_device",
    "sigmoid",
    "softmax",
    "sqrt",
    "stack",
    "tanh",
    "tensor",
    "transpose",
    "where",
]
