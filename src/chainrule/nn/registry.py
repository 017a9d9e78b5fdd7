"""The name table of layers: every :class:`~chainrule.nn.Module` subclass, by name.

A class is entered when it is defined (``Module.__init_subclass__`` calls :func:`register`),
so a new layer needs no edit here.  Saving writes a layer as ``{"type": name, **config}``
(see :func:`config_of`); loading looks the name up with :func:`get` and calls the class's
``from_config`` (see :func:`from_config`).

>>> from chainrule import nn
>>> get("Linear") is nn.Linear
True
>>> config_of(nn.Sequential(nn.Linear(2, 1, rng=0), nn.Tanh()))["layers"][1]
{'type': 'Tanh'}
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..errors import ConfigError

if TYPE_CHECKING:
    from .module import Module

__all__ = ["LAYERS", "config_of", "from_config", "get", "register"]

LAYERS: dict[str, type[Module]] = {}
"""Every layer class by the name it is saved under."""


def register(cls: type[Module]) -> str:
    """Enter ``cls`` in :data:`LAYERS`; returns the name it is saved under.

    The name is the class name.  A class whose name is already taken by a class from another
    module (a user's own ``Linear``, say) is entered under ``module.QualName`` instead, so it
    never shadows chainrule's layer of that name; redefining a class in the same module (a
    notebook cell run twice) replaces it.
    """
    name = cls.__name__
    old = LAYERS.get(name)
    if old is not None and old.__module__ != cls.__module__:
        name = f"{cls.__module__}.{cls.__qualname__}"
    LAYERS[name] = cls
    return name


def get(name: str) -> type[Module]:
    """The layer class saved as ``name``.

    >>> get("Lineer")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    chainrule.errors.ConfigError: unknown layer type 'Lineer'; known: ...
    """
    cls = LAYERS.get(name) if isinstance(name, str) else None
    if cls is None:
        known = ", ".join(sorted(n for n in LAYERS if n[0] != "_" and "." not in n))
        raise ConfigError(f"unknown layer type {_clip(name)}; known: {known}")
    return cls


def config_of(module: Module) -> dict[str, Any]:
    """``{"type": name, **module.get_config()}``: the module as JSON-ready data."""
    return {"type": type(module).layer_name, **module.get_config()}


def from_config(spec: Any) -> Module:
    """The module :func:`config_of` described (its weights are not set)."""
    if not isinstance(spec, dict) or not isinstance(spec.get("type"), str):
        raise ConfigError(f"a layer description must be an object with a 'type', got "
                          f"{_clip(spec)}")
    config = {k: v for k, v in spec.items() if k != "type"}
    return get(spec["type"]).from_config(config)


def _clip(value: Any, limit: int = 200) -> str:
    """``repr`` (control characters escaped) of at most ``limit`` characters of ``value``."""
    if isinstance(value, str) and len(value) > limit:
        return repr(value[:limit]) + f"... ({len(value)} characters)"
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + f"... ({len(text)} characters)"
