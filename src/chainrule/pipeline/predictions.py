"""The predictions file of ``chainrule predict``: the input rows as written, then the
prediction (and, on request, each class's probability), safe to open in a spreadsheet.

>>> spreadsheet_text("=1+1")
"'=1+1"
"""

from __future__ import annotations

import itertools
import os
import re
from collections.abc import Iterator
from typing import Any, TextIO

import numpy as np

from ..data.diagnosis import quote
from ..io.atomic import atomic_write
from ..io.text import escape_controls
from .pipeline import Pipeline

__all__ = ["FORMULA_START", "spreadsheet_text", "write_predictions"]

FORMULA_START = "=+-@\t\r"
"""First characters that make a spreadsheet cell a formula (OWASP's CSV injection list)."""

_PLAIN_NUMBER = re.compile(r"[+-]?[0-9.,]*[0-9][0-9.,]*(?:[eE][+-]?[0-9]+)?\Z")


def spreadsheet_text(cell: str) -> str:
    """``cell`` as a spreadsheet will show it rather than run it: a cell starting with one of
    :data:`FORMULA_START` (``=``, ``+``, ``-``, ``@``, tab, carriage return), which Excel,
    LibreOffice and Google Sheets take for a formula, gets a leading ``'``; a plain number
    such as ``-1.5`` or ``-1,5`` stays as it is.

    >>> spreadsheet_text("=SUM(A1:A9)"), spreadsheet_text("@cmd"), spreadsheet_text("-1.5e3")
    ("'=SUM(A1:A9)", "'@cmd", '-1.5e3')
    """
    if cell and cell[0] in FORMULA_START and not _PLAIN_NUMBER.match(cell):
        return "'" + cell
    return cell


def _csv_field(text: str, delimiter: str) -> str:
    """``text`` as one CSV field: quoted (its quotes doubled) where it holds the delimiter, a
    quote or a line break.  A lone carriage return counts too: Python's csv writer leaves it
    bare when rows end in ``\\n``, and Excel, pandas and chainrule read it as a row's end."""
    if delimiter in text or any(c in text for c in '"\r\n'):
        return '"' + text.replace('"', '""') + '"'
    return text


def _new_name(name: str, taken: set[str], notes: list[str]) -> str:
    """``name`` for a column predict adds, or ``name (chainrule)``, ``name (chainrule 2)``,
    ... when the input already has a column of that name (with a note saying so)."""
    chosen, k = name, 1
    while chosen in taken:
        chosen = f"{name} (chainrule{'' if k == 1 else f' {k}'})"
        k += 1
    if chosen != name:
        notes.append(f"the input already has a column {quote(name)}; that output column is "
                     f"named {quote(chosen)}")
    taken.add(chosen)
    return chosen


def write_predictions(pred: Pipeline, frame: Any, out: np.ndarray,
                      target: str | os.PathLike[str] | TextIO, *, proba: bool = False,
                      delimiter: str = ",", escape: bool = False) -> list[str]:
    """Write what ``chainrule predict`` writes: every column of ``frame`` (the input rows as
    written, :func:`~chainrule.data.tabular.read_frame` with ``raw=True``), then the
    prediction and, with ``proba``, one ``p_<class>`` column per class, from the raw outputs
    ``out`` of those rows.  Returns notes for the user.

    ``target`` is a file name (written atomically: a reader sees the old file or the whole
    new one, and a full disk names the file) or an open text stream.  Every text cell, input
    and header cells included, goes through :func:`spreadsheet_text`; with ``escape`` (for a
    terminal) control characters are written as escapes such as ``\\x1b``.  A column name
    the input already holds gets another name (noted).
    """
    notes: list[str] = []
    header = [str(c) for c in frame.columns]
    taken = set(header)
    added: list[list[str]] = []
    names = [_new_name("prediction", taken, notes)]
    head = pred.head
    if head.is_classifier:
        classes = head.names(out.shape[1])
        added.append([classes[int(c)] for c in head.classes(out)])
        if proba:
            probs = head.probabilities(out)
            for k, cname in enumerate(classes):
                names.append(_new_name(f"p_{cname}", taken, notes))
                added.append([f"{p:.6g}" for p in probs[:, k]])
    else:
        added.append([repr(float(v)) for v in np.ravel(head.values(out))])
    changed = [0]

    def cell(value: Any) -> str:
        text = str(value)
        safe = spreadsheet_text(text)
        changed[0] += safe is not text
        return safe if not escape or safe.isprintable() else escape_controls(safe)

    def line(cells: Iterator[Any]) -> str:
        return delimiter.join(_csv_field(cell(c), delimiter) for c in cells) + "\n"

    def lines() -> Iterator[str]:
        chunk = [line(iter(header + names))]
        raw = frame.to_numpy(dtype=object)
        for r in range(len(raw)):
            chunk.append(line(itertools.chain(raw[r], (col[r] for col in added))))
            if len(chunk) >= 1024:
                yield "".join(chunk)
                chunk.clear()
        yield "".join(chunk)

    if isinstance(target, (str, os.PathLike)):
        atomic_write(target, (text.encode("utf-8") for text in lines()))
    else:
        for text in lines():
            target.write(text)
    if changed[0]:
        notes.append(f"{changed[0]} cell(s) starting with =, +, -, @, tab or carriage return "
                     "were written with a leading ' so that spreadsheets show them as text "
                     "instead of running them as formulas")
    return notes
