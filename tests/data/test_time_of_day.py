"""Date-time columns keep the time of day (hour, minute) where the column has one; a column
of plain dates stays year, month, day, weekday, and model files written before keep reading
as they did.  Checked against pandas' own date parts, on matplotlib's Stocks.csv (dates) and
on timestamps."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from chainrule.data.columns import TableEncoder, infer_columns
from chainrule.errors import DataError

pd = pytest.importorskip("pandas")


def _stamps(n: int = 60, seed: int = 0) -> object:
    rng = np.random.default_rng(seed)
    when = pd.Timestamp("2021-03-01") + pd.to_timedelta(rng.integers(0, 60 * 24 * 90, n),
                                                        "min")
    text = [t.strftime("%Y-%m-%d %H:%M") for t in when]
    text[3] = None  # a missing cell
    return pd.DataFrame({"at": text, "x": rng.normal(size=n)})


def test_timestamps_keep_hour_and_minute_as_pandas_reads_them() -> None:
    frame = _stamps()
    enc = TableEncoder(infer_columns(frame)).fit(frame)
    names = enc.feature_names
    assert names[:7] == ["at.year", "at.month", "at.day", "at.weekday", "at.hour",
                         "at.minute", "at (missing)"]
    X = enc.transform(frame)
    d = pd.to_datetime(frame["at"], format="%Y-%m-%d %H:%M")
    ok = d.notna().to_numpy()
    want = np.column_stack([d.dt.year, d.dt.month, d.dt.day, d.dt.day_of_week, d.dt.hour,
                            d.dt.minute])[ok]
    np.testing.assert_array_equal(X[ok, :6], want)
    med = np.median(want, axis=0)  # the missing cell: each part's training median
    np.testing.assert_array_equal(X[~ok, :6], med[None, :])
    row = enc.describe()[0]
    assert row["used_as"].startswith("6 numbers (year, month, day, weekday, hour, minute)")


def test_round_trip_keeps_the_time_of_day() -> None:
    frame = _stamps()
    enc = TableEncoder(infer_columns(frame)).fit(frame)
    d = enc.to_dict()
    assert d["columns"][0]["time_of_day"] is True and len(d["columns"][0]["median"]) == 6
    again = TableEncoder.from_dict(d)
    assert again.feature_names == enc.feature_names
    np.testing.assert_array_equal(again.transform(frame), enc.transform(frame))


def _stocks() -> Path:
    mpl = pytest.importorskip("matplotlib")
    path = Path(mpl.get_data_path()) / "sample_data" / "Stocks.csv"
    if not path.is_file():
        pytest.skip("matplotlib's sample data is not installed")
    return path


def test_plain_dates_of_a_real_file_stay_four_parts_and_write_no_new_key() -> None:
    frame = pd.read_csv(_stocks(), skiprows=1)  # the first line is a comment
    plans = infer_columns(frame, "IBM")
    assert {p.name: p.kind for p in plans}["Date"] == "datetime"
    enc = TableEncoder(plans).fit(frame)
    assert [n for n in enc.feature_names if n.startswith("Date")] == \
        ["Date.year", "Date.month", "Date.day", "Date.weekday"]
    date = next(c for c in enc.to_dict()["columns"] if c["name"] == "Date")
    assert "time_of_day" not in date  # the model file reads as before this existed
    X = enc.transform(frame)
    d = pd.to_datetime(frame["Date"])
    j = enc.feature_names.index("Date.year")
    np.testing.assert_array_equal(X[:, j:j + 4], np.column_stack(
        [d.dt.year, d.dt.month, d.dt.day, d.dt.day_of_week]))


def test_midnight_everywhere_is_no_time_of_day() -> None:
    frame = pd.DataFrame({"at": [f"2020-01-{d:02d} 00:00" for d in range(1, 31)]})
    enc = TableEncoder(infer_columns(frame)).fit(frame)
    assert enc.feature_names == ["at.year", "at.month", "at.day", "at.weekday"]


def test_a_file_written_before_reads_four_parts_and_bad_fields_are_refused() -> None:
    old = {"columns": [{"name": "at", "kind": "datetime", "median": [2020.0, 1.0, 2.0, 3.0]}]}
    assert TableEncoder.from_dict(old).feature_names == ["at.year", "at.month", "at.day",
                                                         "at.weekday"]
    timed = {"columns": [{**old["columns"][0], "time_of_day": True}]}
    with pytest.raises(DataError, match="needs 6 median"):
        TableEncoder.from_dict(timed)
    for bad in ({"name": "x", "kind": "numeric", "median": [1.0], "time_of_day": True},
                {**old["columns"][0], "time_of_day": "yes"}):
        with pytest.raises(DataError, match="time_of_day must be true or false"):
            TableEncoder.from_dict({"columns": [bad]})
