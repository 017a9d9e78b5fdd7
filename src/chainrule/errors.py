"""Every error type chainrule raises, in one module that imports nothing of the package.

Every error chainrule raises on purpose derives from :class:`ChainruleError`, so callers can
catch "anything chainrule rejected" in one ``except`` clause.  The subclasses also derive from
the matching built-in type (``ValueError``, ``TypeError``) so generic handlers keep working.
"""

from __future__ import annotations


class ChainruleError(Exception):
    """Base class of every error chainrule raises deliberately."""


class ConfigError(ChainruleError, ValueError):
    """An unknown option name or an invalid setting (the message lists the valid ones)."""


class DataError(ChainruleError, ValueError):
    """Data that cannot be used as given: wrong shape or type, missing or non-finite values."""


class ShapeError(ChainruleError, ValueError):
    """Arrays whose shapes do not fit together (layer input, loss target, backward seed)."""


class DTypeError(ChainruleError, TypeError):
    """Operands whose dtypes cannot be combined without silently changing precision."""


class GraphError(ChainruleError, RuntimeError):
    """Misuse of the computation graph, such as a second backward through a freed graph."""


class GradcheckError(ChainruleError, AssertionError):
    """Analytic and numerical gradients disagree (raised by :func:`chainrule.gradcheck`)."""


class LayerIndexError(ConfigError, IndexError):
    """A layer index outside a ``Sequential`` (also an ``IndexError``, as a list's)."""


class ModelFileError(ChainruleError, ValueError):
    """A model or checkpoint file that cannot be written or read: malformed, truncated,
    tampered with, or describing a model chainrule does not know."""


class FileWriteError(ChainruleError, OSError):
    """A file cannot be written (disk full, missing folder, no permission); the message and
    ``filename`` name the file asked for, never a temporary one, and ``errno`` is kept."""


class PlotError(ChainruleError, RuntimeError):
    """Plotting is impossible here (matplotlib missing) or the input cannot be drawn."""


class DistributedError(ChainruleError, RuntimeError):
    """A distributed step cannot go on (a rank failed, or MPI is missing)."""


__all__ = [
    "ChainruleError",
    "ConfigError",
    "DTypeError",
    "DataError",
    "DistributedError",
    "FileWriteError",
    "GradcheckError",
    "GraphError",
    "LayerIndexError",
    "ModelFileError",
    "PlotError",
    "ShapeError",
]
