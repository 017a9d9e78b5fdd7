"""The census first names the PyPI package ``names`` ships: a real list of about 5,100 words to
learn from, offline (``pip install names``; never downloaded at run time).

Its files ``dist.female.first`` and ``dist.male.first`` hold lines of ``NAME freq cumfreq
rank``.
"""

from __future__ import annotations

import os
from pathlib import Path

from ..errors import DataError

__all__ = ["census_first_names"]


def census_first_names() -> list[str]:
    """Every distinct first name of the census lists, lower case, sorted; a DataError saying
    what to install when the ``names`` package is missing."""
    try:
        import names
    except ImportError:
        raise DataError("the census first names come with the PyPI package 'names': "
                        "pip install names") from None
    folder = Path(os.path.dirname(names.__file__))
    found = set()
    for part in ("dist.female.first", "dist.male.first"):
        for line in (folder / part).read_text(encoding="ascii").splitlines():
            if line.strip():
                found.add(line.split()[0].lower())
    return sorted(found)
