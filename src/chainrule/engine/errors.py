"""Deprecated home of the error types; they live in :mod:`chainrule.errors`."""

from ..errors import *  # noqa: F403
from ..errors import __all__  # noqa: F401
