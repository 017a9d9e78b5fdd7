"""Every code block of the README and the documentation runs, and prints what the page shows.

Each page's Python blocks run in order in one namespace (as a reader typing them would), in a
fresh folder, with the repository's examples/ importable; a block followed by an ``output``
block must print that text. Blocks marked ``<!-- test: skip (reason) -->`` are reported as
skipped with their reason; a shell block without that marker fails. See markdown_blocks.py.
"""

from __future__ import annotations

import contextlib
import doctest
import io
import sys

import pytest
from markdown_blocks import DOCTEST, ROOT, RUN, SHELL, Block, pages, read_blocks

PAGES = pages()
BLOCKS = [(page, block) for page in PAGES for block in read_blocks(page)]
FLAGS = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE


def _id(page) -> str:
    return str(page.relative_to(ROOT))


def test_the_pages_have_code_to_run():
    assert len(PAGES) > 30
    assert sum(b.lang in RUN and b.skip is None for _, b in BLOCKS) > 40


@pytest.mark.parametrize(("page", "block"), [(p, b) for p, b in BLOCKS if b.skip],
                         ids=lambda x: f"{x.lang}:{x.line}" if isinstance(x, Block) else _id(x))
def test_marked_blocks_say_why_they_are_skipped(page, block):
    pytest.skip(f"{block.where}: {block.skip}")


def test_every_shell_block_is_marked():
    unmarked = [b.where for _, b in BLOCKS if b.lang in SHELL and not b.skip]
    assert not unmarked, f"mark these with <!-- test: skip (reason) -->: {unmarked}"


def run_python(block: Block, namespace: dict) -> str:
    """Run one Python block in ``namespace``; returns what it printed."""
    code = compile(block.code, str(block.source or block.page), "exec")
    if block.source is not None:  # a whole example script: run it as `python examples/x.py`
        namespace = {"__name__": "__main__", "__file__": str(block.source)}
    out = io.StringIO()
    argv = sys.argv
    sys.argv = [str(block.source or block.page)]
    try:
        with contextlib.redirect_stdout(out):
            exec(code, namespace)
    finally:
        sys.argv = argv
    return out.getvalue()


def check_output(block: Block, printed: str) -> None:
    checker = doctest.OutputChecker()
    if not checker.check_output(block.output, printed, FLAGS):
        example = doctest.Example(block.code, block.output)
        diff = checker.output_difference(example, printed, FLAGS)
        raise AssertionError(f"{block.where} printed other output:\n{diff}"
                             "(if the new output is right: python tests/docs/refresh_outputs.py "
                             f"{block.page.relative_to(ROOT)})")


def _run_doctest(block: Block, namespace: dict) -> None:
    test = doctest.DocTestParser().get_doctest(block.code, namespace, block.where,
                                               str(block.page), block.line)
    runner = doctest.DocTestRunner(optionflags=FLAGS)
    out = io.StringIO()
    runner.run(test, out=out.write, clear_globs=False)
    assert not runner.failures, out.getvalue()


@pytest.mark.parametrize("page", [p for p in PAGES if any(
    b.lang in RUN | DOCTEST and not b.skip for b in read_blocks(p))], ids=_id)
def test_page_runs(page, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MPLBACKEND", "Agg")
    monkeypatch.syspath_prepend(str(ROOT / "examples"))
    namespace: dict = {"__name__": "__main__"}
    for block in read_blocks(page):
        if block.skip:
            continue
        try:
            if block.lang in RUN:
                printed = run_python(block, namespace)
                if block.output is not None:
                    check_output(block, printed)
            elif block.lang in DOCTEST:
                _run_doctest(block, namespace)
        except AssertionError:
            raise
        except Exception as error:
            raise AssertionError(f"{block.where} raised {type(error).__name__}: {error}") \
                from error
