"""A griffe extension for the API reference: doctest examples in docstrings render as code.

chainrule's docstrings carry doctests in running prose (pytest runs them with
--doctest-modules). Markdown would read their ``>>>`` lines as block quotes and their printed
lists as links, so each run of ``>>>`` lines with its output is fenced as ``pycon`` first.
"""

from __future__ import annotations

import griffe


def fence_doctests(text: str) -> str:
    """Wrap each doctest run (``>>>`` lines, ``...`` continuations, output) in a fence.

    >>> print(fence_doctests("Add:\\n\\n>>> 1 + 1\\n2\\n\\nDone."))
    Add:
    <BLANKLINE>
    ```pycon
    >>> 1 + 1
    2
    ```
    <BLANKLINE>
    Done.
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
    """Fence the doctests of every object's docstring as it is loaded."""

    def on_object(self, *, obj: griffe.Object, **kwargs: object) -> None:
        if obj.docstring is not None and ">>>" in obj.docstring.value:
            obj.docstring.value = fence_doctests(obj.docstring.value)
