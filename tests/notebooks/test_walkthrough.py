"""The example notebook runs in a real kernel and shows HTML tables and an inline figure."""

from __future__ import annotations

from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")

NOTEBOOK = Path(__file__).resolve().parents[2] / "examples" / "notebooks" / \
    "backprop_walkthrough.ipynb"


def test_walkthrough_executes_and_displays_rich_output(tmp_path):
    nb = nbformat.read(NOTEBOOK, as_version=4)
    assert all(not c.get("outputs") for c in nb.cells if c.cell_type == "code"), \
        "commit the notebook without outputs"
    nbclient.NotebookClient(nb, timeout=300, kernel_name="python3",
                            resources={"metadata": {"path": str(tmp_path)}}).execute()
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    html = [o["data"]["text/html"] for o in outputs if "text/html" in o.get("data", {})]
    assert any("Backward pass" in h and "dJ/dw = -4" in h for h in html)  # explain
    assert any("symmetry" in h for h in html)  # diagnose's findings table
    assert any(o.get("data", {}).get("image/png") for o in outputs)  # an inline figure
    text = "".join(o.get("text", "") for o in outputs)
    assert "parameters: 17" in text  # 2*4 + 4 + 4*1 + 1
