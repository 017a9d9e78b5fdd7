"""A column that counts up by one from row to row is a row counter (dropped) unless it is a
cycle whose every value fills many rows, such as the hour of day in hourly data."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from chainrule.data.kinds import infer_columns

pd = pytest.importorskip("pandas")


def test_the_hour_of_day_in_hourly_rows_is_a_number_not_a_counter():
    frame = pd.DataFrame({"hr": np.tile(np.arange(24), 100), "x": np.arange(2400) % 7 * 0.5})
    plans = {p.name: p for p in infer_columns(frame)}
    assert plans["hr"].kind == "numeric"
    short = frame.iloc[:240]  # 10 rows per value: still a counter
    assert {p.name: p for p in infer_columns(short)}["hr"].kind == "dropped"


def test_bikeshare_keeps_its_hour():
    spec = importlib.util.find_spec("ISLP")
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("needs ISLP's data files (pip install --no-deps ISLP)")
    path = Path(next(iter(spec.submodule_search_locations))) / "data" / "Bikeshare.csv"
    plans = {p.name: p for p in infer_columns(pd.read_csv(path), "bikers")}
    assert plans["hr"].kind == "numeric"
