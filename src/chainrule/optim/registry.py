"""The optimizers by name, so ``fit(optimizer="adam")``, the command line and the
scikit-learn face build them from one table.

LBFGS is left out: it needs ``step(closure)``, which a training loop that calls ``step()``
cannot give; build it by class.

>>> from chainrule import optim
>>> optim.get("adam")
<class 'chainrule.optim.optimizers.Adam'>
>>> optim.get("adamax")
Traceback (most recent call last):
    ...
chainrule.errors.ConfigError: unknown optimizer 'adamax'; choose one of adam, adamw, rmsprop, sgd
"""

from __future__ import annotations

from ..errors import ConfigError
from .optimizer import Optimizer
from .optimizers import SGD, Adam, AdamW, RMSprop

__all__ = ["OPTIMIZERS", "get"]

OPTIMIZERS: dict[str, type[Optimizer]] = {
    "sgd": SGD,
    "adam": Adam,
    "adamw": AdamW,
    "rmsprop": RMSprop,
}


def get(name: str) -> type[Optimizer]:
    """The optimizer class called ``name`` (any case; see :data:`OPTIMIZERS`).

    Args:
        name: ``"sgd"``, ``"adam"``, ``"adamw"`` or ``"rmsprop"``, in any case.

    Returns:
        The optimizer class.

    Raises:
        ConfigError: An unknown name (the message lists the valid ones).
    """
    key = name.lower() if isinstance(name, str) else name
    try:
        return OPTIMIZERS[key]
    except (KeyError, TypeError):
        raise ConfigError(f"unknown optimizer {name!r}; choose one of "
                          f"{', '.join(sorted(OPTIMIZERS))}") from None
