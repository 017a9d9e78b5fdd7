"""Column typing and the target read from shares of the rows (one share per simulated rank,
tests/data/ranks.py) give every rank what one process reading the whole table gives: the same
plans (kinds and reasons, counts included), task and class names, and in rank order the same
``y`` and ``keep``.  The expected values are always the single-process results on the whole
table; a few kinds are also checked by hand, so the tables exercise what they claim to."""

from __future__ import annotations

import datetime
import itertools
from typing import Any

import numpy as np
import pytest

pd = pytest.importorskip("pandas")

from ranks import GatherError, ThreadRanks  # noqa: E402

from chainrule.data.columns import infer_columns, prepare_target  # noqa: E402
from chainrule.data.tabular import record_number  # noqa: E402
from chainrule.errors import DataError  # noqa: E402

N = 60
SPLITS = [[60], [30, 30], [1, 59], [0, 60], [59, 1], [20, 20, 20], [0, 1, 59], [25, 0, 35],
          [12, 12, 12, 12, 12], [0, 1, 0, 58, 1], [10, 0, 30, 1, 19]]
TARGETS = ["y_text", "y_codes", "y_float", "y_many", "y_numeric_text", "y_mixed"]


def _restarting_counter(ones: int) -> list[int]:
    """1..10 six times: 54 of the 59 steps go up by one (0.915 >= 0.9); with ``ones=53`` one
    step is a two instead (0.898 < 0.9)."""
    v = list(range(1, 11)) * 6
    if ones == 53:
        v[-1] = 11
    return v


def _table(cuts: list[int]) -> Any:
    """A table of every column kind; ``per_share*`` columns are constant within each share
    of ``cuts`` and differ between shares."""
    rng = np.random.default_rng(7)
    share_of_row = np.repeat(np.arange(len(cuts)), cuts)
    repeat = rng.permutation(N)
    repeat[-1] = repeat[0]  # one value twice: in the first and the last row
    days = [datetime.date(2020, 1, 1) + datetime.timedelta(days=int(d)) for d in
            rng.integers(0, 900, N)]
    t = pd.DataFrame({
        "id": rng.permutation(np.arange(1000, 1000 + N)),
        "id_repeat": repeat,
        "counter": _restarting_counter(54),
        "near_counter": _restarting_counter(53),
        "per_share": share_of_row.astype(float),
        "per_share_int": share_of_row * 3,
        "constant": np.full(N, 2.5),
        "x": rng.normal(size=N),
        "grade": rng.integers(1, 4, N),
        "flag": rng.random(N) < 0.5,
        "flag_missing": pd.Series([bool(b) if i % 7 else None for i, b in
                                   enumerate(rng.random(N) < 0.5)], dtype=object),
        "day": pd.Series([d if i % 9 else None for i, d in enumerate(days)], dtype=object),
        "day_text": [d.isoformat() for d in days],
        "comment": [f"the bird number {i} looked healthy and was measured twice" for i in
                    range(N)],
        "code": [f"S{i:04d}" for i in rng.permutation(N)],
        "mostly_distinct": [f"K{i % 45}" for i in range(N)],
        "numbers_as_text": pd.Series([f"{v:.2f}" for v in rng.normal(size=N)], dtype="str"),
        "yes_no": rng.choice(["yes", "no", "Y"], N),
        "island": [None if i % 11 == 0 else s for i, s in
                   enumerate(rng.choice(["Torgersen", "Biscoe", "Dream"], N))],
        "early_text": [f"c{i % 3}" if i < 8 else None for i in range(N)],
        "late_numbers": [float(i) if i > 50 else np.nan for i in range(N)],
        "nothing": np.full(N, np.nan),
        "y_text": [None if i % 13 == 0 else s for i, s in
                   enumerate(rng.choice(["adelie", "gentoo", "chinstrap"], N))],
        "y_codes": rng.integers(0, 4, N),
        "y_float": np.where(rng.random(N) < 0.1, np.nan, rng.normal(100, 20, N)),
        "y_many": np.arange(N) % 30,  # 30 values over all rows, at most 20 in a share of 20
        "y_numeric_text": pd.Series([f"{i % 3}.0" for i in range(N)], dtype="str"),
        "y_mixed": pd.Series([f"{i % 3}.0" for i in range(N - 1)] + ["none of them"],
                             dtype="str"),
    })
    t.attrs.update(chainrule_first_record=2, chainrule_first_row=0)  # record = row + 2
    return t


def _shares(frame: Any, cuts: list[int], nan_missing: bool) -> list[Any]:
    """Contiguous shares of ``frame``; with ``nan_missing``, a share's column with no present
    value is float64 NaN, as the parser may read it whatever the column's type."""
    edges = np.cumsum([0, *cuts])
    out = []
    for a, b in itertools.pairwise(edges):
        share = frame.iloc[a:b].copy()
        share.attrs = dict(frame.attrs)
        if nan_missing and len(share):
            for c in share.columns[share.isna().all()]:
                share[c] = np.full(len(share), np.nan)
        out.append(share)
    return out


def _check_shares_equal_whole(frame: Any, cuts: list[int], nan_missing: bool, target: str,
                              **typing: Any) -> None:
    whole_plans = infer_columns(frame, target, **typing)
    whole = prepare_target(frame, target)
    parts = _shares(frame, cuts, nan_missing)

    def rank(comm: Any, r: int) -> tuple[list, Any]:
        return (infer_columns(parts[r], target, comm=comm, **typing),
                prepare_target(parts[r], target, comm=comm))

    out = ThreadRanks(len(cuts)).run(rank)
    for plans, t in out:
        assert plans == whole_plans
        assert (t.name, t.task, t.class_names) == (whole.name, whole.task, whole.class_names)
    np.testing.assert_array_equal(np.concatenate([t.keep for _, t in out]), whole.keep)
    y = np.concatenate([t.y for _, t in out])
    assert y.dtype == whole.y.dtype
    np.testing.assert_array_equal(y, whole.y)


@pytest.mark.parametrize("nan_missing", [False, True])
@pytest.mark.parametrize("cuts", SPLITS, ids=lambda c: "-".join(map(str, c)))
def test_every_rank_types_the_columns_as_the_whole_table(cuts: list[int],
                                                         nan_missing: bool) -> None:
    frame = _table(cuts)
    for target in TARGETS:
        _check_shares_equal_whole(frame, cuts, nan_missing, target)
    _check_shares_equal_whole(frame, cuts, nan_missing, "y_text", categorical=["grade"],
                              drop=["x"])
    _check_shares_equal_whole(frame, cuts, nan_missing, "y_text",
                              features=["id", "code", "comment", "counter", "x"])


def test_the_table_holds_the_kinds_it_claims() -> None:
    # What the rules say of the whole table, worked out by hand from the columns above.
    plans = {p.name: p for p in infer_columns(_table([30, 30]), "y_text")}
    expected = {
        "id": ("dropped", "identifier-like: whole numbers, every value distinct"),
        "id_repeat": ("numeric", "numbers"),  # one repeat: not an identifier
        "counter": ("dropped", "identifier-like: counts up by one"),
        "near_counter": ("numeric", "numbers"),
        "per_share": ("numeric", "numbers"), "per_share_int": ("numeric", "numbers"),
        "constant": ("dropped", "constant"), "x": ("numeric", "numbers"),
        "grade": ("numeric", "numbers"), "flag": ("boolean", "true/false"),
        "flag_missing": ("boolean", "true/false"), "day": ("datetime", "dates"),
        "day_text": ("datetime", "dates"), "comment": ("dropped", "free text: every value"),
        "code": ("dropped", "identifier-like: every value distinct"),
        "mostly_distinct": ("dropped", "identifier-like: 45 distinct values in 60 rows"),
        "numbers_as_text": ("numeric", "numbers"), "yes_no": ("boolean", "true/false"),
        "island": ("categorical", "text, 3 categories"),
        "early_text": ("categorical", "text, 3 categories"),
        "late_numbers": ("numeric", "numbers"), "nothing": ("dropped", "every value is"),
    }
    for name, (kind, reason) in expected.items():
        assert (plans[name].kind, plans[name].reason[:len(reason)]) == (kind, reason), name
    assert {p.name: p.kind for p in infer_columns(_table([60]), "y_text")}["per_share"] == \
        "dropped"  # one share: one value
    tasks = {t: prepare_target(_table([60]), t) for t in TARGETS}
    assert {t: v.task for t, v in tasks.items()} == {
        "y_text": "classification", "y_codes": "classification", "y_float": "regression",
        "y_many": "regression", "y_numeric_text": "classification",
        "y_mixed": "classification"}
    assert tasks["y_numeric_text"].class_names == ["0", "1", "2"]  # read as numbers
    assert tasks["y_mixed"].class_names == ["0.0", "1.0", "2.0", "none of them"]  # as text


def test_the_first_cells_decide_dates_across_the_shares() -> None:
    # 100 missing cells, dates, then cells with digits and a dash that are not dates: 10 of
    # the 400 present among the first 500 cells (2.5%) is still dates, 40 (10%) is not.  No
    # single share sees the first 500 cells, and a share of missing cells counts among them.
    for junk_from in (490, 460):
        days = pd.date_range("2001-01-01", periods=700, freq="D").strftime("%Y-%m-%d")
        cells = [None if i < 100 else d if i < junk_from else f"{i}-x" for i, d in
                 enumerate(days)]
        frame = pd.DataFrame({"d": cells, "x": np.arange(700.0) % 7,
                              "y": np.arange(700) % 2})
        whole = infer_columns(frame, "y")
        assert whole[0].kind == ("datetime" if junk_from == 490 else "dropped")
        for cuts in ([200, 200, 300], [0, 470, 1, 29, 200], [700, 0], [100, 600],
                     [50, 50, 0, 600]):
            _check_shares_equal_whole(frame, cuts, True, "y")


@pytest.mark.parametrize("cuts", [[20, 20, 20], [0, 45, 15], [40, 0, 20]])
def test_an_error_in_one_cell_is_raised_on_its_rank_only(cuts: list[int]) -> None:
    frame = _table(cuts)
    frame["y_float"] = frame["y_float"].astype(object)
    frame.loc[47, "y_float"] = "inf"  # record 49
    frame["y_float"] = frame["y_float"].astype(str).replace("nan", None)
    with pytest.raises(DataError) as whole:
        prepare_target(frame, "y_float")
    assert f"row {record_number(frame, 47)}" in str(whole.value)
    _check_raised_on(frame, cuts, 47, str(whole.value), lambda f, c: prepare_target(
        f, "y_float", comm=c))
    known = ["adelie", "gentoo"]  # chinstrap unseen: an error on each rank that holds it
    with pytest.raises(DataError) as unseen:
        prepare_target(frame, "y_text", class_names=known)
    first = int(np.flatnonzero(frame["y_text"] == "chinstrap")[0])
    edges = np.cumsum([0, *cuts])
    parts = _shares(frame, cuts, False)
    out = ThreadRanks(len(cuts)).outcomes(
        lambda c, r: prepare_target(parts[r], "y_text", class_names=known, comm=c))
    for r, (a, b) in enumerate(itertools.pairwise(edges)):
        holds = bool((frame["y_text"].iloc[a:b] == "chinstrap").any())
        assert isinstance(out[r], DataError) == holds
        if a <= first < b:
            assert str(out[r]) == str(unseen.value)


def _check_raised_on(frame: Any, cuts: list[int], row: int, message: str, fn: Any) -> None:
    """Only the rank whose share holds ``row`` raises ``message``; the others return."""
    parts = _shares(frame, cuts, False)
    out = ThreadRanks(len(cuts)).outcomes(lambda c, r: fn(parts[r], c))
    edges = np.cumsum([0, *cuts])
    for r, (a, b) in enumerate(itertools.pairwise(edges)):
        if a <= row < b:
            assert isinstance(out[r], DataError) and str(out[r]) == message
        else:
            assert not isinstance(out[r], BaseException), out[r]


@pytest.mark.parametrize("cuts", [[30, 30], [0, 60], [10, 0, 50], [20, 30, 10]])
def test_errors_about_the_whole_table_are_raised_on_every_rank(cuts: list[int]) -> None:
    frame = _table(cuts)
    frame["y_none"] = pd.Series([None] * N, dtype=object)
    words = [str(i) for i in range(N)]
    words[5], words[40], words[55] = "1_0", "abc", "xyz"  # float() reads "1_0": not named
    frame["y_words"] = pd.Series(words, dtype="str")
    calls = [lambda f, c: prepare_target(f, "y_none", comm=c),
             lambda f, c: prepare_target(f, "y_mixed", task="regression", comm=c),
             lambda f, c: prepare_target(f, "y_words", task="regression", comm=c),
             lambda f, c: infer_columns(f, "y_text", features=["id", "constant"], drop=["id"],
                                        comm=c)]
    for call in calls:
        with pytest.raises(DataError) as whole:
            call(frame, None)
        for nan_missing in (False, True):
            parts = _shares(frame, cuts, nan_missing)
            out = ThreadRanks(len(cuts)).outcomes(
                lambda c, r, call=call, parts=parts: call(parts[r], c))
            assert [str(e) if isinstance(e, DataError) else e for e in out] == \
                [str(whole.value)] * len(cuts)


def test_whole_numbers_on_one_share_and_decimals_on_another_are_decimals() -> None:
    # The parser agrees one type per column; should a share still hold int64 where the
    # others hold float64, the column is typed as the float64 whole table.
    frame = pd.DataFrame({"k": np.arange(40.0), "x": np.arange(40.0) % 3, "y": [0, 1] * 20})
    parts = [frame.iloc[:25].astype({"k": np.int64}), frame.iloc[25:]]
    out = ThreadRanks(2).run(lambda c, r: infer_columns(parts[r], "y", comm=c))
    assert out == [infer_columns(frame, "y")] * 2
    assert out[0][0].kind == "numeric"  # float columns are never identifiers


def test_number_columns_read_in_blocks_type_as_pandas_number_types() -> None:
    # NumPy number columns are read in blocks of columns; pandas' own Int64/Float64 column
    # by column: both give the same plans.
    frame = _table([60])[["id", "counter", "near_counter", "constant", "grade", "x",
                          "late_numbers", "y_codes"]]
    extension = frame.astype({c: "Int64" if frame[c].dtype.kind == "i" else "Float64"
                              for c in frame.columns})
    assert infer_columns(extension, "y_codes") == infer_columns(frame, "y_codes")


def test_gathers_that_do_not_match_fail_instead_of_hanging() -> None:
    ranks = ThreadRanks(2, timeout=1.0)
    out = ranks.outcomes(lambda c, r: c.gather(r) if r == 0 else None)
    assert isinstance(out[0], GatherError) and out[1] is None


def test_shares_of_random_tables_type_as_the_whole_table() -> None:
    hypothesis = pytest.importorskip("hypothesis")
    st = pytest.importorskip("hypothesis.strategies")

    @st.composite
    def tables(draw: Any) -> tuple[Any, list[int], bool]:
        n = draw(st.integers(0, 45))
        columns: dict[str, Any] = {}
        for k in range(draw(st.integers(1, 4))):
            kind = draw(st.sampled_from(["int", "float", "text", "bool", "date"]))
            small = draw(st.booleans())
            if kind == "int":
                values = draw(st.lists(st.integers(0, 3 if small else 10**6), min_size=n,
                                       max_size=n))
                if draw(st.booleans()):  # a counter with some jumps
                    values = list(np.cumsum([1 if v % 9 else v for v in values]))
                col: Any = np.array(values, dtype=np.int64)
            elif kind == "float":
                col = np.array(draw(st.lists(st.sampled_from([0.5, 1.5, np.nan]) if small else
                                             st.floats(-5, 5) | st.just(np.nan), min_size=n,
                                             max_size=n)), dtype=np.float64)
            elif kind == "text":
                words = st.sampled_from(["a", "b", "1", "2.5", "yes", "no", "2020-01-0", None])
                col = pd.Series(draw(st.lists(words if small else st.text("ab-1", max_size=4)
                                              | st.none(), min_size=n, max_size=n)),
                                dtype="str")
            elif kind == "bool":
                col = pd.Series(draw(st.lists(st.sampled_from([True, False, None]),
                                              min_size=n, max_size=n)), dtype=object)
            else:
                col = pd.Series([None if d is None else datetime.date(2020, 1, 1 + d) for d in
                                 draw(st.lists(st.integers(0, 27) | st.none(), min_size=n,
                                               max_size=n))], dtype=object)
            columns[f"c{k}"] = col
        columns["y"] = draw(st.lists(st.sampled_from(["1", "2", "3.5", "x", None]) |
                                     st.integers(0, 30).map(str), min_size=n, max_size=n))
        size = draw(st.sampled_from([1, 2, 3, 5]))
        cut = sorted(draw(st.lists(st.integers(0, n), min_size=size - 1, max_size=size - 1)))
        cuts = [b - a for a, b in itertools.pairwise([0, *cut, n])]
        frame = pd.DataFrame(columns)
        frame["y"] = pd.Series(columns["y"], dtype="str")
        return frame, cuts, draw(st.booleans())

    @hypothesis.settings(max_examples=80, deadline=None)
    @hypothesis.given(tables())
    def check(case: tuple[Any, list[int], bool]) -> None:
        frame, cuts, nan_missing = case
        parts = _shares(frame, cuts, nan_missing)
        for fn in (lambda f, c: infer_columns(f, "y", comm=c),
                   lambda f, c: prepare_target(f, "y", comm=c)):
            try:
                whole = fn(frame, None)
            except DataError as err:
                whole = err
            out = ThreadRanks(len(cuts)).outcomes(lambda c, r, fn=fn: fn(parts[r], c))
            if isinstance(whole, DataError):
                assert [str(e) for e in out] == [str(whole)] * len(cuts)
            elif isinstance(whole, list):
                assert out == [whole] * len(cuts)
            else:
                assert all(t.task == whole.task and t.class_names == whole.class_names
                           for t in out)
                np.testing.assert_array_equal(np.concatenate([t.y for t in out]), whole.y)
                np.testing.assert_array_equal(np.concatenate([t.keep for t in out]),
                                              whole.keep)

    check()
