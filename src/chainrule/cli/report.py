"""The one place where what the library raised or warned becomes what the command says: an
exit status, one error line and one hint line, warnings as one line each with the library's
argument names spelled as this command's flags.

Exit status: :data:`OK`, :data:`BAD_INPUT` (the data, a file, a model, an option the library
refused), :data:`BAD_OPTIONS` (the command line itself), :data:`DIVERGED` (nothing saved),
:data:`INTERRUPTED`.  A bug (anything not a :class:`chainrule.errors.ChainruleError`, an
``OSError``, ``MemoryError`` or Ctrl-C) is re-raised with its traceback.
"""

from __future__ import annotations

import errno
import importlib.util
import os
import sys
from typing import Any

from ..errors import ChainruleError, Option, OptionError, OptionWarning
from ..io.text import escape_controls
from ..job import flag_of

__all__ = ["BAD_INPUT", "BAD_OPTIONS", "DIVERGED", "INTERRUPTED", "OK", "CLIError",
           "exit_status", "need_pandas", "printable", "show_warning", "spell", "usage_error",
           "warn", "warning_text"]

OK, BAD_INPUT, BAD_OPTIONS, DIVERGED, INTERRUPTED = 0, 1, 2, 3, 130

# The hint under each kind of library error (``{cmd}``: the command that ran).
HINTS = {
    "ModelFileError": "is MODEL a .safetensors file written by 'chainrule train'?",
    "DataError": "check the data file; 'chainrule {cmd} --help' shows the options for it",
    "ConfigError": "see 'chainrule {cmd} --help' for the valid options",
    # an OptionError is a ConfigError naming its options: the same hint as before it had them
    "OptionError": "see 'chainrule {cmd} --help' for the valid options",
    "PlotError": "pip install matplotlib, or pass --no-plots",
}


class CLIError(Exception):
    """A problem to report as one line plus a hint, with exit status ``code``."""

    def __init__(self, message: str, hint: str = "", code: int = BAD_INPUT) -> None:
        super().__init__(message)
        self.hint = hint
        self.code = code


def printable(text: Any) -> str:
    """``text`` with terminal control characters escaped and whitespace runs folded.

    >>> printable("a\\x1b[2J  b")
    'a\\\\x1b[2J b'
    """
    return " ".join(escape_controls(str(text)).split())


def warn(message: str) -> None:
    """Print one line of warning on stderr."""
    sys.stderr.write(f"chainrule: warning: {printable(message)}\n")


def spell(option: Option) -> str:
    """A library argument as this command's flag, with the value as one types it; a name no
    flag feeds stays as Python writes it.

    >>> spell(Option("batch_size", None)), spell(Option("validation_split"))
    ('--batch-size full', '--val-split')
    >>> spell(Option("momentum"))
    'momentum'
    """
    try:
        flag = flag_of(option.name)
    except ChainruleError:
        return str(option)
    return f"{flag.name} {flag.spell(option.value)}" if option.has_value else flag.name


def warning_text(warning: Warning | str) -> str:
    """A library warning (or note) as this command says it, on one line: an
    :class:`OptionWarning` with its arguments spelled as flags (:func:`spell`), any other text
    as it is.

    >>> warning_text(OptionWarning("try {lr}", lr=Option("lr", 0.05)))
    'try --lr 0.05'
    """
    text = warning.render(spell) if isinstance(warning, OptionWarning) else str(warning)
    return " ".join(text.split())


def show_warning(message: Warning | str, category: type[Warning], filename: str,
                 lineno: int, file: Any = None, line: str | None = None) -> None:
    """``warnings.showwarning`` for the command: one clean line, no source line."""
    warn(warning_text(message))


def usage_error(prog: str, message: str) -> None:
    """A command line that cannot be parsed: one line, a hint, exit status BAD_OPTIONS."""
    sys.stderr.write(f"{prog}: error: {printable(message)}\n"
                     f"hint: run '{prog} --help' for options and examples\n")
    raise SystemExit(BAD_OPTIONS)


def need_pandas(what: str) -> None:
    """Refuse, saying what to install, where pandas (which reads CSV files) is missing."""
    if importlib.util.find_spec("pandas") is None:
        raise CLIError(f"{what} reads CSV files with pandas, which is not installed",
                       "pip install pandas   (or: pip install 'chainrule[csv]')")


def rank() -> int:
    """This process's MPI rank (needs MPI)."""
    from ..distributed import world

    return int(world().Get_rank())


def _rank_or_zero() -> int:
    try:
        return rank()
    except Exception:  # no MPI at all: this process is the only one
        return 0


def exit_status(err: BaseException, command: str, distributed: bool = False) -> int:
    """Report ``err`` as one line and a hint; the exit status (a bug is re-raised)."""
    def report(message: str, hint: str) -> None:
        if distributed and _rank_or_zero() != 0:
            return  # every rank raised the same error; rank 0 says it once
        sys.stderr.write(f"chainrule: error: {printable(message)[:2000]}\nhint: "
                         f"{printable(hint)}\n")

    if isinstance(err, CLIError):
        report(str(err), err.hint or f"run 'chainrule {command} --help'")
        return err.code
    if isinstance(err, KeyboardInterrupt):
        sys.stderr.write("chainrule: interrupted\n")
        return INTERRUPTED
    if isinstance(err, BrokenPipeError):  # 'chainrule predict ... | head': the reader left
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return OK
    if isinstance(err, MemoryError):
        report("out of memory", "use smaller --layers or --batch-size, or less data")
    elif isinstance(err, OSError) and isinstance(err, ChainruleError):  # names its file
        full = err.errno in (errno.ENOSPC, errno.EFBIG, getattr(errno, "EDQUOT", errno.ENOSPC))
        report(err.strerror or str(err), "free some space, or write to another disk" if full
               else "check the path and permissions")
    elif isinstance(err, OSError):
        where = f": {err.filename}" if getattr(err, "filename", None) else ""
        report(f"{err.strerror or err}{where}", "check the path and permissions")
    elif isinstance(err, ChainruleError):
        # under MPI, an error another rank raised comes as a DistributedError naming it
        kind = getattr(err, "origin", type(err).__name__)
        # an OptionError names its arguments as data: spelled here as this command's flags
        text = err.render(spell) if isinstance(err, OptionError) else str(err)
        report(text, HINTS.get(kind, "run 'chainrule {cmd} --help'").format(cmd=command))
    else:
        raise err
    return BAD_INPUT
