"""scikit-learn's own MLP tests (``sklearn/neural_network/tests/test_mlp.py`` of the installed
scikit-learn), run against :mod:`chainrule.sklearn`.

The test module is read from scikit-learn's installation at test time (it is not copied
here); its one ``from sklearn.neural_network import MLPClassifier, MLPRegressor`` is pointed at
``chainrule.sklearn`` before the module runs, so every test, parametrisation included, builds
chainrule's estimators.  Tests of something chainrule does not offer are skipped below, each
with its reason.
"""

from __future__ import annotations

import ast
import types
from pathlib import Path

import pytest

sklearn = pytest.importorskip("sklearn")

SUITE = Path(sklearn.__file__).parent / "neural_network" / "tests" / "test_mlp.py"
if not SUITE.is_file():
    pytest.skip(f"scikit-learn's tests are not installed ({SUITE})", allow_module_level=True)

# Test name -> why it cannot pass against chainrule (see the module docstring).
NOT_OFFERED: dict[str, str] = {}


def _load_suite() -> types.ModuleType:
    """scikit-learn's test module with its MLP import pointed at chainrule.sklearn."""
    tree = ast.parse(SUITE.read_text(encoding="utf-8"), str(SUITE))
    imports = [node for node in tree.body if isinstance(node, ast.ImportFrom)
               and node.module == "sklearn.neural_network"]
    if len(imports) != 1 or {a.name for a in imports[0].names} != {"MLPClassifier",
                                                                   "MLPRegressor"}:
        raise RuntimeError(f"{SUITE} no longer imports exactly MLPClassifier and MLPRegressor "
                           "from sklearn.neural_network; update this shim")
    imports[0].module = "chainrule.sklearn"
    module = types.ModuleType("sklearn_test_mlp_on_chainrule")
    module.__file__ = str(SUITE)
    exec(compile(tree, str(SUITE), "exec"), module.__dict__)
    return module


@pytest.fixture
def global_random_seed() -> int:
    """scikit-learn's fixture of the same name, at its default seed."""
    return 42


_suite = _load_suite()
for _name, _test in vars(_suite).items():
    if _name.startswith("test_") and callable(_test):
        if _name in NOT_OFFERED:
            _test = pytest.mark.skip(reason=NOT_OFFERED[_name])(_test)
        globals()[_name] = _test
