"""bench/cnn_profile.py groups chainrule's time by (file, function): every name it looks for
must still exist, or a moved function would silently count as "rest"."""

from __future__ import annotations

import ast
from pathlib import Path

from bench import cnn_profile

SRC = Path(__file__).resolve().parents[2] / "src" / "chainrule"


def test_every_profiled_function_exists_where_the_profile_looks() -> None:
    for (suffix, function) in cnn_profile.CHAINRULE:
        path = SRC / suffix
        assert path.exists(), f"{suffix} is gone: update bench/cnn_profile.py"
        defined = {node.name for node in ast.walk(ast.parse(path.read_text()))
                   if isinstance(node, ast.FunctionDef)}
        assert function in defined, f"{function} is not defined in {suffix}"
