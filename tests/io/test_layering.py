"""The file format is a floor: chainrule.io imports NumPy and chainrule.errors only."""

from __future__ import annotations

import ast
from pathlib import Path

import chainrule.io

IO = Path(chainrule.io.__file__).parent


def test_io_imports_only_numpy_errors_and_itself() -> None:
    for path in IO.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.level:
                allowed = node.level == 1 or (node.level == 2 and node.module == "errors")
                assert allowed, f"{path.name} imports from {'.' * node.level}{node.module}"
            elif isinstance(node, ast.ImportFrom | ast.Import):
                names = [node.module] if isinstance(node, ast.ImportFrom) else [
                    a.name for a in node.names]
                for name in names:
                    assert not name.startswith("chainrule") or name == "chainrule.errors", (
                        f"{path.name} imports {name}")
