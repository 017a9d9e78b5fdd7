"""``chainrule train --json`` carries the ``model:`` line: with the default network, whether it
was kept alone or averaged with a linear model (chainrule.pipeline.blend), with both
validation losses."""

from __future__ import annotations

import json

import numpy as np
import pytest

from chainrule.cli.app import main

pytest.importorskip("pandas")


def test_train_json_says_which_model_was_kept(tmp_path, capsys) -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(300, 3))
    y = x @ np.array([2.0, -1.0, 0.5]) + 0.1 * rng.normal(size=300)  # a linear target
    rows = ["a,b,c,y"] + [",".join(f"{v:.6f}" for v in (*r, t)) for r, t in zip(x, y)]
    (tmp_path / "lin.csv").write_text("\n".join(rows) + "\n")
    capsys.readouterr()
    assert main(["train", "--data", str(tmp_path / "lin.csv"), "--target", "y", "--epochs",
                 "20", "--no-plots", "--seed", "0", "--out", str(tmp_path / "run"),
                 "--json"]) == 0
    got = json.loads(capsys.readouterr().out)
    assert "ridge regression" in got["model"] and "validation" in got["model"]
    assert got["model"].startswith(("the network averaged", "the network alone"))
