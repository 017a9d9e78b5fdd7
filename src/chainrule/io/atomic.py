"""Writing a file atomically: readers see the old file or the complete new one, never half.

The data goes to a temporary file beside the target (``<name>.<pid>-<random>.tmp``), is
flushed and ``fsync``-ed, then renamed over the target with ``os.replace``.  On any failure
the temporary file is removed; temporary files left by a process that was killed (its pid no
longer runs) are removed by the next write to the same target.
"""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
from collections.abc import Iterable, Iterator
from typing import Any

from ..errors import ChainruleError, ConfigError, FileWriteError
from .text import printable

__all__ = ["atomic_write", "check_file_name", "write_error", "writes_to"]

_FULL = {errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)}


def atomic_write(path: str | os.PathLike[str], chunks: Iterable[bytes]) -> None:
    """Write ``chunks`` to ``path`` atomically.

    Any failure to write (a full disk, a missing folder, no permission) raises
    :class:`~chainrule.errors.FileWriteError`, an ``OSError`` naming ``path`` (not the
    temporary file) with the original ``errno``.
    """
    target = check_file_name(path, "write to", ConfigError)
    _remove_stale(target)
    tmp = f"{target}.{os.getpid()}-{secrets.token_hex(4)}.tmp"
    try:
        with open(tmp, "xb") as f:
            for chunk in chunks:
                f.write(chunk)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, target)
    except BaseException as err:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        if not isinstance(err, OSError):
            raise
        # name the file asked for, not the temporary one (a missing folder, no permission)
        raise write_error(err, target) from None


def write_error(err: OSError, path: str) -> FileWriteError:
    """``err``, raised while writing ``path``, as a :class:`~chainrule.errors.FileWriteError`
    naming ``path`` (the error of a failed write names no file), its ``errno`` kept.

    >>> write_error(OSError(28, "No space left on device"), "o/history.csv")
    FileWriteError(28, 'disk full: no space left to write o/history.csv')
    """
    if isinstance(err, FileWriteError):
        return err
    if err.errno in _FULL:
        return FileWriteError(err.errno, f"disk full: no space left to write {path}", path)
    return FileWriteError(err.errno, f"cannot write {path}: {err.strerror or err}", path)


@contextlib.contextmanager
def writes_to(path: str | os.PathLike[str]) -> Iterator[None]:
    """Turn an ``OSError`` of the code inside (which writes ``path``) into a
    :class:`~chainrule.errors.FileWriteError` naming ``path``."""
    try:
        yield
    except OSError as err:
        raise write_error(err, os.fspath(path)) from None


def check_file_name(path: Any, action: str, error: type[ChainruleError]) -> str:
    """``path`` (a str or an ``os.PathLike`` giving one) as a str; ``error`` naming the
    ``action`` (e.g. "read", "write to") otherwise: another type (an int would be taken for an
    open file descriptor), an empty name, or one holding a NUL character (no file system
    allows it).

    >>> check_file_name("a\\0b", "read", ConfigError)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    chainrule.errors.ConfigError: cannot read 'a\\x00b': a file name cannot hold a NUL ...
    """
    name = os.fspath(path) if isinstance(path, (str, os.PathLike)) else path
    if not isinstance(name, str):
        raise error(f"cannot {action} {printable(path, 80)}: a file name must be a str or "
                    f"os.PathLike, got {type(path).__name__}")
    if not name:
        raise error(f"cannot {action} '': the file name is empty")
    if "\0" in name:
        raise error(f"cannot {action} {printable(name, 200)}: a file name cannot hold a NUL "
                    "character (\\0)")
    return name


def _remove_stale(target: str) -> None:
    folder, base = os.path.split(target)
    try:
        names = os.listdir(folder or ".")
    except OSError:
        return
    prefix = base + "."
    for name in names:
        if not (name.startswith(prefix) and name.endswith(".tmp")):
            continue
        pid_text = name[len(prefix):-4].partition("-")[0]
        if not pid_text.isdigit() or _alive(int(pid_text)):
            continue
        with contextlib.suppress(OSError):
            os.unlink(os.path.join(folder, name))


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError, OSError):
        return True  # someone else's process (or unknowable): leave its file alone
    return True
