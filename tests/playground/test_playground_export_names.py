"""The exported train.py holds names from the data (columns, classes, the file's name) only as
string literals: no statement, comment or docstring text comes from an uploaded file.

Each hostile name is put in every place a name can come from (both feature columns, the label
column, both class labels and the file's name); the script is compared with the one for the
same configuration with plain names.
"""

from __future__ import annotations

import ast
import io
import os
import subprocess
import sys
import tokenize

import numpy as np
import pytest

from chainrule.errors import DataError
from chainrule.playground.config import parse_config
from chainrule.playground.export import python_code
from chainrule.playground.session import Run
from chainrule.tools.saving import load_with_metadata

MARKER = "PWNED"
CODE = f"__import__('os').system('echo x > {MARKER}')"

HOSTILE = [
    f"b,c\n{CODE}#",  # the red team's header: a quoted line break, then code
    f"x\r\n{CODE}#",
    f"x\u2028{CODE}#", f"x\u2029{CODE}#", f"x\x85{CODE}#", f"x\x0c{CODE}#", f"x\x0b{CODE}#",
    f"x\x1c{CODE}#", f"x\x1d{CODE}#", f"x\x1e{CODE}#", f"x\u000a\u000a{CODE}",
    "'", '"', "'''", '"""', "'''\n" + CODE + "\n'''", '"""\n' + CODE + '\n"""',
    "\\", "back\\slash\\", "\\n\\r\\x00\\u2028", "\\' + " + CODE + " + '",
    "#", "# comment", "x # " + CODE, "\ufeffbom", "é ü ß 😀 中文", "\u202eevil\u202c",
    "\u200bzero\u200dwidth", "\x1b]0;title\x07", "a\tb",
    "x" * 2000, "{0}{name}%s%(x)s", "{__import__('os')}", "); " + CODE + "; (",
    "]; " + CODE + "; [", "}; " + CODE + "; {", CODE, "lambda: " + CODE, "nan", "inf",
    "None", "True", "__builtins__", "def f():\n    " + CODE,
]

# Names the CSV reader itself may refuse (a data error, never code): both outcomes are safe.
# (a lone CR inside quotes, a NUL byte, a tab or "\\'; " that the delimiter sniffing takes for
# the delimiter or an escape).
MAY_BE_REFUSED = ["x\r" + CODE + "#", "x\x00" + CODE, "\t", "\\'; " + CODE + "; '",
                  "a;b;c;d"]


def _cell(text: str) -> str:
    return '"' + text.replace('"', '""') + '"'


def _csv(features: list[str], label: str, classes: list[str], n: int = 60) -> str:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(n, 2))
    rows = [",".join(_cell(c) for c in [*features, label])]
    for (a, b), k in zip(X, (X[:, 0] > 0).astype(int)):
        rows.append(f"{a:.4f},{b:.4f},{_cell(classes[k])}")
    return "\n".join(rows) + "\n"


def _names(h: str) -> dict[str, object]:
    return {"features": [h, "f2 " + h], "label": "label " + h,
            "classes": [h + " A", "B " + h], "csv_name": h[:200] + ".csv"}


PLAIN = {"features": ["f1", "f2"], "label": "label", "classes": ["A", "B"],
         "csv_name": "data.csv"}


def _run(names: dict[str, object], **config: object) -> Run:
    cfg = parse_config({"dataset": "csv", "csv": _csv(names["features"], names["label"],
                                                       names["classes"]),
                        "csv_name": names["csv_name"], "standardize": True,
                        "optimizer": "sgd", "batch_size": 16, "hidden": [3], **config})
    run = Run(cfg)
    run.train(3)
    return run


class _Mask(ast.NodeTransformer):
    """Every constant becomes its type's name: numbers differ too where the classes sort
    differently (a different split, so a different scaler)."""

    def visit_Constant(self, node: ast.Constant) -> ast.Constant:
        return ast.Constant(type(node.value).__name__)

    def visit_UnaryOp(self, node: ast.UnaryOp) -> ast.AST:
        if isinstance(node.operand, ast.Constant) and isinstance(node.operand.value, float):
            return ast.Constant("float")  # a negative number is a minus and a constant
        return self.generic_visit(node)


def _strings(tree: ast.AST) -> list[str]:
    return [n.value for n in ast.walk(tree)
            if isinstance(n, ast.Constant) and isinstance(n.value, str)]


def _comments(code: str) -> list[str]:
    return [t.string for t in tokenize.generate_tokens(io.StringIO(code).readline)
            if t.type == tokenize.COMMENT]


def _check_no_code_from_data(run: Run, plain: str) -> None:
    code = python_code(run)
    tree = ast.parse(code)  # a name that broke out of its literal usually breaks the syntax
    plain_tree = ast.parse(plain)
    # every statement and expression is the same as with plain names: only strings differ
    assert ast.dump(_Mask().visit(ast.parse(code))) == ast.dump(_Mask().visit(ast.parse(plain)))
    assert _comments(code) == _comments(plain)
    assert ast.get_docstring(tree) == ast.get_docstring(plain_tree)
    # and each string that differs is exactly a name the run read from the data
    d = run.data
    allowed = {*d.feature_names, d.target, *d.class_names, run.cfg.csv_name,
               os.path.basename(run.cfg.csv_name), "data.csv"}
    for mine, theirs in zip(_strings(tree), _strings(plain_tree)):
        assert mine == theirs or mine in allowed or run.cfg.csv_name.endswith(mine), \
            repr(mine[:80])


@pytest.fixture(scope="module")
def plain_code() -> str:
    return python_code(_run(PLAIN))


@pytest.mark.parametrize("hostile", HOSTILE, ids=[ascii(h[:24]) for h in HOSTILE])
def test_names_from_data_reach_the_code_only_as_literals(hostile, plain_code):
    run = _run(_names(hostile))
    d = run.data
    # the hostile text did reach the run (the reader may only trim surrounding spaces)
    assert d.feature_names[0] == hostile.strip() or hostile.strip() in d.feature_names[0]
    assert len(d.class_names) == 2 and any(hostile.strip() in c for c in d.class_names)
    _check_no_code_from_data(run, plain_code)


@pytest.mark.parametrize("hostile", MAY_BE_REFUSED, ids=[ascii(h[:12]) for h in MAY_BE_REFUSED])
def test_names_the_reader_may_refuse(hostile, plain_code):
    try:
        run = _run(_names(hostile))
    except DataError as err:
        assert "chainrule-playground-" not in str(err)  # names the upload, not a temp file
        return
    _check_no_code_from_data(run, plain_code)


@pytest.mark.parametrize("csv_name", ["../../x.csv", "\x00.csv", "a\nb.csv", "", ".", "..",
                                      "C:\\Users\\me\\x.csv", "'\"\"\"\\.csv", "\u2028.csv"])
def test_hostile_file_names(csv_name, plain_code):
    _check_no_code_from_data(_run({**PLAIN, "csv_name": csv_name}), plain_code)


def test_a_quoted_header_cell_keeps_its_comma_and_line_break():
    # the names are the reader's, not a split of the header line at commas or line ends
    run = _run({**PLAIN, "features": ["a", f"b,c\n{CODE}#"], "label": "c"})
    assert run.data.feature_names == ["a", f"b,c\n{CODE}#"] and run.data.target == "c"


def test_the_hostile_script_runs_and_trains_without_running_the_names(tmp_path):
    hostile = f"b,c\n{CODE}#\r\n\u2028{CODE}"
    names = _names(hostile)
    names["csv_name"] = "upload.csv"
    run = _run(names)
    code = python_code(run)
    (tmp_path / "train.py").write_text(code, encoding="utf-8")
    (tmp_path / "upload.csv").write_text(run.cfg.csv, encoding="utf-8", newline="")
    done = subprocess.run([sys.executable, "train.py"], cwd=tmp_path, capture_output=True,
                          text=True, timeout=120,
                          env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})
    assert done.returncode == 0, done.stderr
    assert not (tmp_path / MARKER).exists()
    model, meta = load_with_metadata(str(tmp_path / "model.safetensors"))
    for mine, theirs in zip(run.model.parameters(), model.parameters()):
        np.testing.assert_array_equal(mine.data, theirs.data)
    assert meta["preprocessing"]["feature_names"] == run.data.feature_names
    assert meta["preprocessing"]["class_names"] == run.data.class_names
