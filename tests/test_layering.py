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


def _type_only(tree: ast.Module) -> set[int]:
    """Ids of import nodes under ``if TYPE_CHECKING:``: they never run, so they make no cycle."""
    hidden = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            hidden.update(id(n) for stmt in node.body for n in ast.walk(stmt))
    return hidden


def _imports(name: str, path: Path) -> list[tuple[str, list[str]]]:
    """(imported module, names) for every import in the file, relative ones resolved.

    Imports inside functions count (a lazy import still makes the cycle, only later), and so
    does a module named by a string (``importlib.import_module("chainrule.plots")``, a table
    of lazy attributes).  Imports under ``if TYPE_CHECKING:`` do not: they never run."""
    tree = ast.parse(path.read_text())
    hidden = _type_only(tree)
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    modules = _modules()
    found = []
    for node in ast.walk(tree):
        if id(node) in hidden:
            continue
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
            subs = [n for n in names if f"{mod}.{n}" in modules]
            # `from . import ops` needs the submodule chainrule.<pkg>.ops, not what the
            # package's __init__ defines; any other name is read from the __init__.
            if len(subs) < len(names):
                found.append((mod, [n for n in names if n not in subs]))
            found.extend((f"{mod}.{n}", []) for n in subs)
        elif (isinstance(node, ast.Constant) and isinstance(node.value, str)
              and node.value in modules and node.value.startswith("chainrule.")):
            found.append((node.value, []))
    return [(m, n) for m, n in found if m == "chainrule" or m.startswith("chainrule.")]


def _owner(target: str) -> str:
    """The module a dotted import name lives in (``chainrule.nn.Linear`` -> ``chainrule.nn``)."""
    while target not in ALL and "." in target:
        target = target.rsplit(".", 1)[0]
    return target


def _area(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


ALL = _modules()
EDGES = {name: _imports(name, path) for name, path in ALL.items()}


def _runs(importer: str, target: str) -> set[str]:
    """The modules importing ``target`` from ``importer`` runs: the target and every package
    above it that the importer is not already inside (``import chainrule.training.metrics``
    from ``chainrule.plots`` runs ``chainrule/training/__init__.py`` first)."""
    target = _owner(target)
    parts = target.split(".")
    ran = {target}
    for i in range(1, len(parts)):
        package = ".".join(parts[:i])
        if not (importer == package or importer.startswith(package + ".")):
            ran.add(package)
    return ran


GRAPH = {name: set().union(*(_runs(name, t) for t, _ in imps)) - {name}
         for name, imps in EDGES.items()}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found = []
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def test_importing_a_submodule_runs_its_packages():
    assert _runs("chainrule.plots", "chainrule.training.metrics") == {
        "chainrule.training", "chainrule.training.metrics"}
    assert _runs("chainrule.training.loop", "chainrule.training.metrics") == {
        "chainrule.training.metrics"}


def test_the_cycle_finder_finds_a_lazy_loop():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert _cycles(graph) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []


# Import circles still being taken apart; each entry is one strongly connected component.
# The list may only shrink: a new circle fails, and so does an entry that is gone.
KNOWN_CYCLES: list[set[str]] = [
]


def test_no_import_circle():
    found = [set(c) for c in _cycles(GRAPH)]
    new = [sorted(c) for c in found if c not in KNOWN_CYCLES]
    gone = [sorted(c) for c in KNOWN_CYCLES if c not in found]
    assert not new, f"import circles (lazy imports count; break them by moving code): {new}"
    assert not gone, f"these circles are gone or changed: update KNOWN_CYCLES: {gone}"

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
    bad = [(m, t) for m, targets in GRAPH.items()
           if _area(m) not in {"cli", "__main__"} for t in targets if _area(t) == "cli"]
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


def test_data_imports_only_errors_and_io():
    # Reading and preparing data needs NumPy and the error types, nothing of training or MPI:
    # which rows a rank owns (shard_range) lives in data, and distributed imports it there.
    bad = [(m, t) for m, imps in EDGES.items() if _area(m) == "data" for t, _ in imps
           if _area(t) not in {"data", "errors", "io"}]
    assert not bad, f"data must import only chainrule.errors and chainrule.io: {bad}"


# Every area of the package and its floor: an area imports only areas on lower floors, or
# beside it on its own floor (no module circle is still checked above).  docs/guide/layout.md
# lists these floors in words (tests/docs/test_layout_page.py checks that the two agree); a new
# area must be placed here.
FLOORS = {
    "errors": 0, "version": 0,
    "engine": 1, "io": 1,
    "nn": 2, "optim": 2, "data": 2,
    "functional": 2,
    "distributed": 3, "textbook": 3,
    "tools": 4, "training": 4,
    "plots": 5, "pipeline": 5, "playground": 5, "sklearn": 5,
    "predictor": 6, "job": 6, "jobdata": 6, "runs": 6, "onnx": 6, "text": 6,
    "workflow": 7,
    "cli": 8, "tables": 8,
    "__main__": 9,
}


def test_every_area_has_a_floor():
    areas = {_area(m) for m in ALL} - {""}
    assert areas <= set(FLOORS), f"place these in FLOORS: {sorted(areas - set(FLOORS))}"


def test_imports_point_down_the_floors():
    bad = sorted({(m, t) for m, targets in GRAPH.items() if _area(m) for t in targets
                  if _area(t) and FLOORS[_area(t)] > FLOORS[_area(m)]})
    assert not bad, f"imports that point up a floor: {bad}"


def test_nothing_inside_imports_the_top_level_package():
    # `chainrule/__init__.py` is the users' facade over every area (some lazily); a module
    # that imported it would sit below everything and above everything at once.
    bad = sorted(m for m, targets in GRAPH.items() if "chainrule" in targets)
    assert not bad, f"import the module that defines the name instead: {bad}"


def _imports_numpy(path: Path) -> list[int]:
    def names(node: ast.AST) -> list[str]:
        if isinstance(node, ast.Import):
            return [a.name for a in node.names]
        return [node.module or ""] if isinstance(node, ast.ImportFrom) else []

    return [node.lineno for node in ast.walk(ast.parse(path.read_text()))
            if any(n.split(".")[0] == "numpy" for n in names(node))]


def test_primitives_reach_numpy_only_through_the_backend_seam():
    # Every file that defines a primitive takes its array library from its inputs through
    # chainrule.engine.backend (``namespace(...)``): the one place where NumPy, CuPy or another
    # array API library stands in.  None imports NumPy, nor backend's ``host`` (NumPy itself,
    # for host-side code).
    primitive_files = [(name, path) for name, path in ALL.items()
                       if "Primitive(" in path.read_text() and name not in {
                           "chainrule.engine.primitive", "chainrule.engine.backend"}]
    assert len(primitive_files) >= 10, primitive_files  # the engine's ops and nn's layers
    bad = [(name, _imports_numpy(path)) for name, path in primitive_files
           if _imports_numpy(path)]
    assert not bad, f"import the array library from chainrule.engine.backend instead: {bad}"
    for name, path in primitive_files:
        text = path.read_text()
        assert "namespace(" in text or "to_device(" in text, \
            f"{name} defines a primitive but never asks its inputs' namespace()"
        tree = ast.parse(text)
        hosts = [n.lineno for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)
                 and (n.module or "").endswith("backend") and any(a.name == "host"
                                                                   for a in n.names)]
        assert not hosts, f"{name} imports backend.host (NumPy) in a primitive file: {hosts}"
