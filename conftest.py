"""Root conftest: skip doctests of modules whose optional dependency is not installed."""

import importlib.util

collect_ignore = []
if importlib.util.find_spec("sklearn") is None:
    collect_ignore.append("src/chainrule/sklearn.py")
if importlib.util.find_spec("numba") is None:  # the step kernel's compiled loops
    collect_ignore += [f"src/chainrule/training/{name}.py"
                       for name in ("kernel_loops", "updates", "vmath")]
