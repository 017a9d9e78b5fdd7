"""Root conftest: skip doctests of modules whose optional dependency is not installed."""

import importlib.util

collect_ignore = []
if importlib.util.find_spec("sklearn") is None:
    collect_ignore.append("src/chainrule/sklearn.py")
if importlib.util.find_spec("numba") is None:  # the compiled loops
    collect_ignore += ["src/chainrule/training/kernel_loops.py",
                       "src/chainrule/training/vmath.py", "src/chainrule/optim/updates.py"]
