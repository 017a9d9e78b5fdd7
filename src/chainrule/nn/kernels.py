"""Compiled loops for the conv net layers, by numba when it is installed.

Convolution's gather and scatter (:mod:`chainrule.nn.kernels_conv`), max pooling that keeps
each window's argmax (:mod:`chainrule.nn.kernels_pool`) and batch normalisation in one pass
per statistic (:mod:`chainrule.nn.kernels_norm`) are plain Python loops; :func:`get` compiles
them with numba (``pip install chainrule[fast]``) on first use.  The layers call them on
NumPy arrays only, and keep their array-API formulas for every other array library, for
NumPy without numba, and with the environment variable ``CHAINRULE_NO_NUMBA`` set; the tests
check that both give the same numbers.

numba caches the machine code (``cache=True``) in ``NUMBA_CACHE_DIR`` (by default a folder
under ``~/.cache/chainrule/numba`` named by :func:`sources_digest`), so each kernel compiles
once per machine, dtype and version of the code.  The
kernels are compiled with ``error_model="numpy"`` (a division by zero gives inf, as in NumPy,
instead of raising): without it numba keeps a test in every loop and none of them vectorise.

>>> with disabled():
...     get() is None
True
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import threading
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from . import kernels_conv, kernels_norm, kernels_pool

__all__ = ["available", "disabled", "get", "numba_module", "sources_digest"]

MODULES = (kernels_conv, kernels_pool, kernels_norm)


class _Loader:
    """The compiled kernels, built once (several threads may ask at the same time)."""

    def __init__(self) -> None:
        self.kernels: Any = None
        self.tried = False
        self.off = 0  # > 0 inside disabled()
        self.lock = threading.Lock()

    def get(self) -> Any:
        if self.off:
            return None
        if not self.tried:
            with self.lock:
                if not self.tried:
                    try:
                        self.kernels = _load()
                    finally:
                        self.tried = True
        return self.kernels


_LOADER = _Loader()


def get() -> Any:
    """The compiled kernels (one attribute per name in the modules' ``KERNELS``), or None
    without numba, with ``CHAINRULE_NO_NUMBA`` set, or inside :func:`disabled`."""
    return _LOADER.get()


def available() -> bool:
    """Whether the layers use the compiled kernels on NumPy arrays."""
    return get() is not None


@contextlib.contextmanager
def disabled() -> Iterator[None]:
    """Run the array-API formulas instead of the kernels inside the block (for the tests that
    compare both)."""
    _LOADER.off += 1
    try:
        yield
    finally:
        _LOADER.off -= 1


def sources_digest(root: Path | None = None) -> str:
    """A digest of every source file under ``root`` (by default the package) that mentions
    numba.

    numba checks a cached kernel against the file that defines it only, not against the
    files whose functions it compiles into it (the step kernel inlines the optimizers'
    update rules and the float32 math): after an edit to one of those alone it would load
    the old machine code.  The default cache folder is named by this digest instead, so
    any change to compiled code, in any file, compiles afresh.  Reading the files takes a
    few milliseconds, once, when numba is first needed."""
    root = Path(__file__).resolve().parent.parent if root is None else root
    digest = hashlib.sha256()
    for path in sorted(root.rglob("*.py")):
        text = path.read_bytes()
        if b"numba" in text:
            digest.update(path.relative_to(root).as_posix().encode() + b"\0" + text)
    return digest.hexdigest()[:16]


def numba_module() -> Any:
    """numba, with its cache in the user's cache folder unless NUMBA_CACHE_DIR says where;
    None where it is not installed or CHAINRULE_NO_NUMBA is set.  Every compiled kernel of
    chainrule (these, and the training step's) gets numba here."""
    if os.environ.get("CHAINRULE_NO_NUMBA"):
        return None
    if "NUMBA_CACHE_DIR" not in os.environ:
        os.environ["NUMBA_CACHE_DIR"] = str(
            Path.home() / ".cache" / "chainrule" / "numba" / sources_digest())
    try:
        import numba
    except ImportError:
        return None
    return numba


def _load() -> Any:
    numba = numba_module()
    if numba is None:
        return None
    jit = numba.njit(cache=True, error_model="numpy")
    return SimpleNamespace(**{name: jit(getattr(module, name)) for module in MODULES
                              for name in module.KERNELS})
