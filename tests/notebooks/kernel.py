"""Running an example notebook in a real kernel, and reading its cells (shared by the tests
of each notebook)."""

from __future__ import annotations

from pathlib import Path

NOTEBOOKS = Path(__file__).resolve().parents[2] / "examples" / "notebooks"


def executed(name: str, folder: Path):
    """The notebook ``name`` (committed without outputs) after running it in ``folder``."""
    import nbformat

    nb = nbformat.read(NOTEBOOKS / name, as_version=4)
    assert all(not c.get("outputs") and c.get("execution_count") is None
               for c in nb.cells if c.cell_type == "code"), "commit the notebook without outputs"
    return run(nb, folder)


def run(nb, folder: Path):
    """``nb`` after running it in a real kernel with ``folder`` as its working folder."""
    import nbclient

    nbclient.NotebookClient(nb, timeout=300, kernel_name="python3",
                            resources={"metadata": {"path": str(folder)}}).execute()
    return nb


def cell(nb, marker: str):
    """The one code cell whose source contains ``marker``."""
    (found,) = [c for c in nb.cells if c.cell_type == "code" and marker in c.source]
    return found


def text(c) -> str:
    """What the cell printed."""
    return "".join(o.get("text", "") for o in c.outputs)


def html(c) -> str:
    """The cell's HTML outputs."""
    return "".join(o["data"]["text/html"] for o in c.outputs if "text/html" in o.get("data", {}))
