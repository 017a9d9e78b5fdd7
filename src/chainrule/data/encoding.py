"""CSV files in UTF-16 or UTF-32 (Excel's "Unicode text" is UTF-16 with a byte-order mark,
tab-separated): read through a UTF-8 copy.

Everything that reads a CSV file's bytes (the parser, the scans for record ends, the exact
pass that names a bad row) works on UTF-8.  :func:`readable` gives the path to open for a
file: the file itself, or for one that starts with a UTF-16 or UTF-32 byte-order mark, a
UTF-8 copy made once (again when the file changes) in a temporary folder removed at exit.
Messages keep naming the file itself.  A file that looks like UTF-16 without a byte-order
mark (every other byte NUL) is refused with the fix.
"""

from __future__ import annotations

import codecs
import os
import shutil
import tempfile
import threading

from ..errors import DataError

__all__ = ["readable"]

_BOMS = ((codecs.BOM_UTF32_LE, "utf-32"), (codecs.BOM_UTF32_BE, "utf-32"),
         (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16"))
_NAMES = {codecs.BOM_UTF32_LE: "UTF-32 LE", codecs.BOM_UTF32_BE: "UTF-32 BE",
          codecs.BOM_UTF16_LE: "UTF-16 LE", codecs.BOM_UTF16_BE: "UTF-16 BE"}
_lock = threading.Lock()  # the copies are shared by every thread (the playground's requests)
_copies: dict[str, tuple[tuple[int, int], str]] = {}  # path -> ((size, mtime), copy)
_folder: tempfile.TemporaryDirectory[str] | None = None


def readable(name: str) -> str:
    """The path whose bytes are ``name``'s text in UTF-8: ``name`` itself unless it starts
    with a UTF-16 or UTF-32 byte-order mark."""
    with open(name, "rb") as f:
        head = f.read(4096)
    for bom, codec in _BOMS:
        if head.startswith(bom):
            return _copy(name, codec, _NAMES[bom])
    if len(head) >= 4 and head.count(b"\x00") * 3 >= len(head) and (
            head[1::2].count(b"\x00") * 2 >= len(head) // 2 or
            head[0::2].count(b"\x00") * 2 >= len(head) // 2):
        order = "LE" if head[1::2].count(b"\x00") > head[0::2].count(b"\x00") else "BE"
        raise DataError(f"{name}: this looks like UTF-16 {order} text without a byte-order "
                        "mark (every other byte is 0x00); save the file as CSV UTF-8, or as "
                        "UTF-16 with a byte-order mark")
    return name


def _copy(name: str, codec: str, encoding: str) -> str:
    """A UTF-8 copy of ``name`` (read as ``codec``), made once per version of the file."""
    global _folder
    stat = os.stat(name)
    version = (stat.st_size, stat.st_mtime_ns)
    with _lock:
        known = _copies.get(name)
        if known is not None and known[0] == version and os.path.exists(known[1]):
            return known[1]
        if _folder is None:
            _folder = tempfile.TemporaryDirectory(prefix="chainrule-utf8-")
        fd, copy = tempfile.mkstemp(suffix=".csv", dir=_folder.name)
        try:
            with open(name, encoding=codec, newline="") as src, \
                    os.fdopen(fd, "w", encoding="utf-8", newline="") as dst:
                shutil.copyfileobj(src, dst, 1 << 20)
        except UnicodeDecodeError as err:
            os.unlink(copy)
            raise DataError(f"{name}: starts with a {encoding} byte-order mark but is not "
                            f"{encoding} text ({err.reason}); save the file again as CSV "
                            "UTF-8") from None
        _copies[name] = (version, copy)
        return copy
