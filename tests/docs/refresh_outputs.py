"""Rewrite a page's ``output`` blocks with what its Python blocks print now (not a test).

    python tests/docs/refresh_outputs.py docs/howto/compile.md [more pages]

Run it from the repository root after a change that moves the numbers, then read the diff
(``git diff docs``) before committing: the tests check the pages against these outputs. An
output block holding ``...`` (a timing, say) is left as it is and its new text printed, to be
edited by hand.
"""

from __future__ import annotations

import doctest
import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from markdown_blocks import ROOT, RUN, read_blocks
from test_code_blocks import FLAGS, run_python


def refresh(page: Path) -> int:
    """Rewrite ``page``'s outputs that differ; returns how many changed."""
    lines = page.read_text().split("\n")
    namespace: dict = {"__name__": "__main__"}
    edits: list[tuple[int, int, list[str]]] = []
    here = os.getcwd()
    sys.path.insert(0, str(ROOT / "examples"))
    with tempfile.TemporaryDirectory() as folder:
        os.chdir(folder)
        try:
            for block in read_blocks(page):
                if block.skip or block.lang not in RUN:
                    continue
                printed = run_python(block, namespace)
                if block.output is None or doctest.OutputChecker().check_output(
                        block.output, printed, FLAGS):
                    continue
                if "..." in block.output:
                    print(f"{block.where}: edit by hand; it now prints:\n{printed}")
                    continue
                start, end = block.output_lines
                indent = lines[start - 1][: len(lines[start - 1]) - len(lines[start - 1].lstrip())]
                new = [indent + line if line else line for line in printed.rstrip("\n").split("\n")]
                edits.append((start, end, new))
        finally:
            os.chdir(here)
    for start, end, new in reversed(edits):
        lines[start:end] = new
    page.write_text("\n".join(lines))
    return len(edits)


if __name__ == "__main__":
    os.environ.setdefault("MPLBACKEND", "Agg")
    for name in sys.argv[1:]:
        print(f"{name}: {refresh((Path.cwd() / name).resolve())} output block(s) rewritten")
