"""Every error type chainrule raises, in one module that imports nothing of the package.

Every error chainrule raises on purpose derives from :class:`ChainruleError`, so callers can
catch "anything chainrule rejected" in one ``except`` clause.  The subclasses also derive from
the matching built-in type (``ValueError``, ``TypeError``) so generic handlers keep working.
"""

from __future__ import annotations

from collections.abc import Callable


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


class SeedError(ShapeError, GraphError):
    """A gradient to start backpropagation from that does not fit its output: missing for an
    output with more than one element, or of another shape.  Both a ``ShapeError`` (a
    ``ValueError``) and a ``GraphError`` (a ``RuntimeError``, which PyTorch raises here)."""


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


class DeviceError(ChainruleError, RuntimeError):
    """A device that is not there (no CuPy, no GPU), or arrays on two devices in one
    operation (the message names both)."""


__all__ = [
    "ChainruleError",
    "ConfigError",
    "DTypeError",
    "DataError",
    "DeviceError",
    "DistributedError",
    "FileWriteError",
    "GradcheckError",
    "GraphError",
    "LayerIndexError",
    "ModelFileError",
    "PlotError",
    "ShapeError",
]


class Option:
    """An argument a message names, as data: the Python keyword (``batch_size``) and,
    where the message suggests one, a value for it (``None``).

    A library message writes ``{batch_size}`` where it names the argument; Python users read
    ``batch_size`` (or ``batch_size=None``), and the command line prints its own flag for the
    same argument (``--batch-size``, ``--batch-size full``) from its option table, so no
    text is rewritten by pattern.

    >>> str(Option("batch_size")), str(Option("batch_size", None))
    ('batch_size', 'batch_size=None')
    """

    NO_VALUE = object()

    def __init__(self, name: str, value: object = NO_VALUE) -> None:
        self.name, self.value = name, value

    @property
    def has_value(self) -> bool:
        return self.value is not Option.NO_VALUE

    def __str__(self) -> str:
        return f"{self.name}={self.value!r}" if self.has_value else self.name

    def __repr__(self) -> str:
        return f"Option({self.name!r}" + (f", {self.value!r})" if self.has_value else ")")


class NamesOptions:
    """A message that names the caller's arguments as data (mixed into a warning or error).

    ``template`` holds ``{key}`` fields; ``options`` maps each key to the :class:`Option` it
    names.  ``str()`` spells them as Python does; :meth:`render` takes another spelling (the
    command line passes one that prints its flags)."""

    template: str
    options: dict[str, Option]

    def _name_options(self, template: str, options: dict[str, Option]) -> str:
        self.template, self.options = template, options
        return self.render(str)

    def render(self, spell: Callable[[Option], str]) -> str:
        """The message with each option written by ``spell``."""
        return self.template.format(**{key: spell(o) for key, o in self.options.items()})

    def __reduce__(self) -> tuple:  # pickled with its options, e.g. to another MPI rank
        return _rebuild, (type(self), self.template, self.options)


def _rebuild(cls: type, template: str, options: dict[str, Option]) -> NamesOptions:
    return cls(template, **options)


class OptionError(NamesOptions, ConfigError):
    """A setting that cannot work, naming the arguments it concerns as data.

    >>> err = OptionError("{loss} on a classification target: use {task}",
    ...                   loss=Option("loss", "mse"), task=Option("task", "regression"))
    >>> str(err)
    "loss='mse' on a classification target: use task='regression'"
    >>> isinstance(err, ConfigError)
    True
    >>> import pickle; str(pickle.loads(pickle.dumps(err))) == str(err)
    True
    """

    def __init__(self, template: str, **options: Option) -> None:
        super().__init__(self._name_options(template, options))


class OptionWarning(NamesOptions, UserWarning):
    """A warning about a value the caller chose, naming the arguments it concerns as data
    (see :class:`NamesOptions`).

    >>> w = OptionWarning("a batch of 64 from 10 rows; pass {full}, or a smaller {bs}",
    ...                   full=Option("batch_size", None), bs=Option("batch_size"))
    >>> str(w)
    'a batch of 64 from 10 rows; pass batch_size=None, or a smaller batch_size'
    >>> w.render(lambda o: "--" + o.name.replace("_", "-"))
    'a batch of 64 from 10 rows; pass --batch-size, or a smaller --batch-size'
    """

    def __init__(self, template: str, **options: Option) -> None:
        super().__init__(self._name_options(template, options))
