"""How a pipeline reads rows from a CSV file: the rule ``chainrule predict`` uses."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from chainrule import nn
from chainrule.pipeline import Head, Pipeline
from chainrule.training import tasks

pytest.importorskip("pandas")


def _array_pipeline() -> Pipeline:
    net = nn.Sequential(nn.Linear(2, 3, rng=0))
    return Pipeline([], net, Head(tasks.get("multiclass"), ["a", "b", "c"]), ["u", "v"])


def test_a_pipeline_on_arrays_reads_its_columns_as_numbers_and_keeps_the_text(
        tmp_path: Path) -> None:
    path = tmp_path / "rows.csv"
    path.write_text("v;u;note\n2.5;1;x\n-1;0.1;y\n")
    pipe = _array_pipeline()
    frame, X = pipe.read_rows(path, delimiter=";")
    assert frame["u"].tolist() == ["1", "0.1"]  # as written, for echoing
    assert X.tolist() == [[1.0, 2.5], [0.1, -1.0]]
    assert np.array_equal(pipe.encode(path, delimiter=";"), X)
    codes = pipe.class_codes(X, encoded=True)
    assert np.array_equal(codes, pipe.classes_of(pipe.outputs(X, encoded=True)))
