"""A griffe extension for the API reference: chainrule's docstrings, read as Markdown.

chainrule's docstrings carry doctests in running prose (pytest runs them with
--doctest-modules). Markdown would read their ``>>>`` lines as block quotes and their printed
lists as links, so each run of ``>>>`` lines with its output is fenced as ``pycon`` first.
They also name other objects with Sphinx roles (``:class:`Tensor```, ``:func:`~a.b.grad```),
which Markdown would print as they stand; each becomes inline code.
"""

from __future__ import annotations

import re

import griffe

ROLE = re.compile(r":(?:py:)?(?:class|meth|func|mod|data|attr|exc|obj|const):`(~?)([^`]+)`")


def plain_roles(text: str) -> str:
    """Sphinx cross-reference roles as inline code (``~`` keeps the last name only).

    >>> plain_roles("see :func:`~chainrule.grad` and :class:`Tensor`")
    'see `grad` and `Tensor`'
    """
    return ROLE.sub(lambda m: f"`{m.group(2).rsplit('.', 1)[-1] if m.group(1) else m.group(2)}`",
                    text)


def fence_doctests(text: str) -> str:
    """Wrap each doctest run (``>>>`` lines, ``...`` continuations, output) in a fence.

    >>> fence_doctests("Add:\\n\\n>>> 1 + 1\\n2\\n\\nDone.").splitlines()
    ['Add:', '', '```pycon', '>>> 1 + 1', '2', '```', '', 'Done.']
    """
    out: list[str] = []
    lines = text.split("\n")
    i = 0
    while i < len(lines):
        line = lines[i]
        stripped = line.lstrip()
        if stripped.startswith(">>>") and not _inside_fence(out):
            indent = line[: len(line) - len(stripped)]
            out.append(f"{indent}```pycon")
            while i < len(lines) and lines[i].strip():
                out.append(lines[i])
                i += 1
            out.append(f"{indent}```")
            continue
        out.append(line)
        i += 1
    return "\n".join(out)


def _inside_fence(lines: list[str]) -> bool:
    return sum(1 for line in lines if line.lstrip().startswith("```")) % 2 == 1


class DoctestFences(griffe.Extension):
    """Fence the doctests and plain the roles of every object's docstring as it is loaded."""

    def on_object(self, *, obj: griffe.Object, **kwargs: object) -> None:
        if obj.docstring is None:
            return
        text = plain_roles(obj.docstring.value)
        obj.docstring.value = fence_doctests(text) if ">>>" in text else text
