"""The code blocks of the documentation's Markdown pages, read as data for the tests.

A page's fenced blocks are found by their fences (indented ones inside lists and admonitions
too); ``--8<-- "path"`` lines (pymdownx.snippets, paths from the repository root) are replaced
by the file they name, as the site build does. What each block is for comes from its language:

- ``python``: run, in one namespace per page, in page order; a block followed by an
  ``output`` block must print that text (doctest's rules: ``...`` stands for any text,
  runs of whitespace are equal);
- ``pycon``: run as a doctest;
- ``bash``, ``console``, ``sh``, ``shell``: not run; each must carry a skip marker;
- anything else (``output``, ``text``, ``csv``, ``json``, ``dot``): shown, not run.

A skip marker is an HTML comment on the line above the fence, visible in the page's source:
``<!-- test: skip (the reason) -->``. It may mark a Python block too (a training run of
minutes, a GPU), and the test then reports it as skipped with that reason. A Python block
that needs a package the test extra does not install says so the same way,
``<!-- test: needs (mnist) -->``, and runs where the module can be imported.
"""

from __future__ import annotations

import importlib.util
import re
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
RUN = {"python", "py"}
DOCTEST = {"pycon"}
SHELL = {"bash", "console", "sh", "shell"}
FENCE = re.compile(r"^(?P<indent>\s*)(?P<fence>`{3,}|~{3,})\s*(?P<info>[^`]*)$")
SKIP = re.compile(r"^\s*<!--\s*test:\s*skip\s*\((?P<reason>.+)\)\s*-->\s*$")
NEEDS = re.compile(r"^\s*<!--\s*test:\s*needs\s*\((?P<modules>[\w., ]+)\)\s*-->\s*$")
SNIPPET = re.compile(r'^\s*-{1,}8<-{1,}\s+"(?P<path>[^"]+)"\s*$')


@dataclass
class Block:
    """One fenced block: where it is, its language, its text, and how the tests treat it."""

    page: Path
    line: int
    lang: str
    code: str
    skip: str | None = None
    output: str | None = None
    output_lines: tuple[int, int] | None = None  # the output block's body, 0-based [start, end)
    source: Path | None = None  # the file a snippet line brought in, if the block is one

    @property
    def where(self) -> str:
        return f"{self.page.relative_to(ROOT)}:{self.line}"


def _language(info: str) -> str:
    info = info.strip()
    if info.startswith("{"):
        match = re.search(r"\.([\w+-]+)", info)
        return match.group(1).lower() if match else ""
    return info.split()[0].lower() if info else ""


def _expand(code: str) -> tuple[str, Path | None]:
    lines = code.split("\n")
    paths = [SNIPPET.match(line) for line in lines]
    if not any(paths):
        return code, None
    out = []
    for line, match in zip(lines, paths):
        out.append((ROOT / match.group("path")).read_text() if match else line)
    only = [m for m in paths if m]
    source = ROOT / only[0].group("path") if len(only) == 1 and len(lines) == 1 else None
    return "\n".join(out), source


def read_blocks(page: Path) -> list[Block]:
    """Every fenced block of ``page``, outputs attached to the Python block they follow."""
    lines = page.read_text().split("\n")
    blocks: list[Block] = []
    i = 0
    while i < len(lines):
        match = FENCE.match(lines[i])
        if not match:
            i += 1
            continue
        indent, fence = match.group("indent"), match.group("fence")
        start = i
        body: list[str] = []
        i += 1
        while i < len(lines) and not (lines[i].strip().startswith(fence)
                                      and lines[i].strip().strip(fence[0]) == ""):
            body.append(lines[i][len(indent):] if lines[i].startswith(indent) else lines[i])
            i += 1
        i += 1
        above = next((lines[k] for k in range(start - 1, -1, -1) if lines[k].strip()), "")
        skip = SKIP.match(above)
        needs = NEEDS.match(above)
        reason = skip.group("reason") if skip else None
        if needs:
            missing = [m.strip() for m in needs.group("modules").split(",")
                       if importlib.util.find_spec(m.strip()) is None]
            reason = f"needs {', '.join(missing)}, which is not installed" if missing else None
        code, source = _expand("\n".join(body))
        block = Block(page, start + 1, _language(match.group("info")), code + "\n", reason,
                      source=source)
        if block.lang == "output":
            previous = blocks[-1] if blocks else None
            if previous is None or previous.lang not in RUN or previous.output is not None:
                raise ValueError(f"{block.where}: an output block must follow a Python block")
            previous.output = block.code
            previous.output_lines = (start + 1, i - 1)
            continue
        blocks.append(block)
    return blocks


def pages() -> list[Path]:
    """The README and every Markdown page of the site."""
    return [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
