"""Finding what a user's step function trains: its optimizer, model and loss.

``cr.compile(step)`` is given only a function; the model, loss and optimizer it uses are the
objects its code names (globals and closure cells).  The model is the one module whose
parameters the optimizer owns, the loss a loss module (or a loss function of the table).
"""

from __future__ import annotations

from typing import Any

from .. import nn
from .plan import UnsupportedStepError
from .watch import names_used

__all__ = ["find_optimizer", "model_and_loss"]


def _groups(optimizer: Any) -> list[list[Any]]:
    if optimizer is None:
        return []
    groups = getattr(optimizer, "param_groups", None)
    if groups:
        return [list(g["params"]) for g in groups]
    return [list(getattr(optimizer, "params", []))]


def model_and_loss(step_fn: Any, optimizer: Any, xb: Any, yb: Any) -> tuple[Any, Any]:
    """Find the model and loss a user's step function uses, from what it refers to."""
    refs = _referenced(step_fn)
    owned = {id(p) for g in _groups(optimizer) for p in g}
    models = [v for v in refs if isinstance(v, nn.Module)
              and v.parameters() and all(id(p) in owned for p in v.parameters())
              and not _is_loss_module(v)]
    losses = [v for v in refs if _is_loss_module(v) or _is_loss_function(v)]
    if len(models) != 1 or len(losses) != 1:
        raise UnsupportedStepError("the step function's model and loss could not be found; "
                                   "pass model= and loss_fn= to compile()")
    return models[0], losses[0]


def _is_loss_module(v: Any) -> bool:
    # a built-in loss says so by its base class; a user's own XxxLoss module by its name
    return isinstance(v, nn.losses.Loss) or (
        isinstance(v, nn.Module) and type(v).__name__.endswith("Loss"))


def _is_loss_function(v: Any) -> bool:
    # the functional form of a loss of the table (F.mse_loss: MSELoss.function)
    return any(v is cls.function for cls in nn.losses.LOSSES.values())


def _referenced(step_fn: Any) -> list[Any]:
    """The objects a function names: its globals and closure cells that its code uses."""
    return [value for _, _, value in names_used(step_fn)]


def find_optimizer(step_fn: Any) -> Any:
    found = [v for v in _referenced(step_fn) if hasattr(v, "step")
             and hasattr(v, "zero_grad") and not isinstance(v, nn.Module)]
    return found[0] if len(found) == 1 else None
