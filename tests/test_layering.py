"""The import graph points down: errors <- engine <- nn, optim <- training <- cli, sklearn.

Every import in the package is read from the source (lazy imports inside functions count
too), so a cycle hidden by an import-on-use fails here."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "chainrule"
PRIVATE_SLOTS = {"_parents", "_saved", "_op", "_args", "_retain", "_backward"}


def _modules() -> dict[str, Path]:
    out = {}
    for path in SRC.rglob("*.py"):
        parts = list(path.relative_to(SRC.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


def _imports(name: str, path: Path) -> list[tuple[str, list[str]]]:
    """(imported module, names) for every import in the file, relative ones resolved."""
    tree = ast.parse(path.read_text())
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.extend((a.name, []) for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            names = [a.name for a in node.names]
            found.append((mod, names))
            # `from . import ops` imports the submodule chainrule.<pkg>.ops
            found.extend((f"{mod}.{n}", []) for n in names if f"{mod}.{n}" in _modules())
    return [(m, n) for m, n in found if m == "chainrule" or m.startswith("chainrule.")]


def _area(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


ALL = _modules()
EDGES = {name: _imports(name, path) for name, path in ALL.items()}

# area -> the areas of the package it may import (besides itself)
ALLOWED = {
    "errors": set(),
    "engine": {"errors"},
    "io": {"errors"},
}


@pytest.mark.parametrize("area", sorted(ALLOWED))
def test_low_layers_import_only_what_is_below_them(area):
    bad = [(m, target) for m, imps in EDGES.items() if _area(m) == area
           for target, _ in imps if _area(target) not in ALLOWED[area] | {area}]
    assert not bad, f"{area} must import only {sorted(ALLOWED[area])}: {bad}"


def test_nn_does_not_import_io_tools_or_training():
    bad = [(m, t) for m, imps in EDGES.items() if _area(m) == "nn" for t, _ in imps
           if _area(t) in {"io", "tools", "training", "cli", "sklearn", "data"}]
    assert not bad, bad


def test_nothing_imports_the_command_line():
    bad = [(m, t) for m, imps in EDGES.items() if m not in {"chainrule.cli", "chainrule.__main__"}
           for t, _ in imps if t == "chainrule.cli"]
    assert not bad, bad


def test_no_private_engine_name_is_imported_outside_the_engine():
    bad = [(m, t, n) for m, imps in EDGES.items() if _area(m) != "engine" for t, names in imps
           if _area(t) == "engine" for n in names if n.startswith("_")]
    assert not bad, bad


def test_no_private_tensor_slot_is_touched_outside_the_engine():
    bad = []
    for name, path in ALL.items():
        if _area(name) == "engine":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Attribute) and node.attr in PRIVATE_SLOTS:
                bad.append((name, node.attr, node.lineno))
    assert not bad, bad


def test_import_chainrule_stays_numpy_only():
    import subprocess
    import sys

    code = ("import sys, chainrule; heavy = {'pandas', 'matplotlib', 'scipy', 'sklearn', "
            "'torch', 'jax', 'onnx', 'tqdm', 'numba', 'sympy', 'mpi4py'}; "
            "print(sorted(heavy & {m.split('.')[0] for m in sys.modules}))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.strip()
    assert out == "[]"


def test_onnx_export_does_not_import_the_training_workflow():
    # A model file's preprocessing is read by chainrule.predictor; the workflow that trains
    # from a CSV file sits above both.
    bad = [(m, t) for m, imps in EDGES.items() if _area(m) == "onnx" for t, _ in imps
           if t in {"chainrule.workflow", "chainrule.cli"}]
    assert not bad, bad
