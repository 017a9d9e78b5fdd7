"""Statistics of shares of the rows combined into those of all rows (chainrule.data.combine),
with ranks simulated by threads that meet at each gather (tests/data/ranks.py);
tests/distributed runs real MPI."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from ranks import ThreadRanks

from chainrule.data.combine import (
    MEDIAN_QUANTILES,
    agreed_mean_std,
    agreed_median,
    combine_moments,
    mean_std,
    moments,
)
from chainrule.data.preprocessing import StandardScaler


def _shares(n: int, size: int) -> list[slice]:
    cuts = np.linspace(0, n, size + 1).astype(int)
    return [slice(a, b) for a, b in itertools.pairwise(cuts)]


@pytest.mark.parametrize("cuts", [[5, 5], [1, 99], [0, 40, 60], [33, 0, 34, 33]])
def test_chan_combination_equals_the_whole_columns(cuts: list[int]) -> None:
    rng = np.random.default_rng(1)
    X = rng.normal(1e6, 3.0, size=(sum(cuts), 3))  # a large mean: naive sums would cancel
    edges = np.cumsum([0, *cuts])
    n, mean, m2 = combine_moments(moments(X[a:b]) for a, b in itertools.pairwise(edges))
    assert n == len(X)
    np.testing.assert_allclose(mean, X.mean(axis=0), rtol=1e-14)
    np.testing.assert_allclose(m2 / n, X.var(axis=0), rtol=1e-10)


def test_agreed_mean_std_over_three_ranks() -> None:
    rng = np.random.default_rng(2)
    X = rng.normal(size=(50, 4)) * [1, 10, 100, 0]
    parts = _shares(len(X), 3)
    out = ThreadRanks(3).run(lambda comm, r: agreed_mean_std(X[parts[r]], comm))
    for mean, std, n in out:
        assert n == 50
        np.testing.assert_allclose(mean, X.mean(axis=0), rtol=1e-12, atol=1e-15)
        np.testing.assert_allclose(std, X.std(axis=0), rtol=1e-12, atol=1e-15)


def _ordinary_columns() -> np.ndarray:
    rng = np.random.default_rng(5)
    return np.column_stack([rng.normal(size=200), rng.normal(1e6, 3.0, 200),
                            rng.exponential(1e-3, 200), rng.normal(size=200) * 1e100,
                            rng.uniform(-7.0, 11.0, 200), np.full(200, 0.1)])


def test_ordinary_columns_get_exactly_np_mean_and_np_std() -> None:
    """One process: bit for bit np.mean/np.std (a --standardize run's scaler is the one it
    always was); before, each column was divided by its largest |x|, which is not exact."""
    X = _ordinary_columns()
    for mean, std, n in (agreed_mean_std(X), mean_std(X)):
        assert n == len(X)
        np.testing.assert_array_equal(mean, np.mean(X, axis=0))
        np.testing.assert_array_equal(std, np.std(X, axis=0))
    scaler = StandardScaler().fit(X)
    np.testing.assert_array_equal(scaler.mean_, X.mean(axis=0))
    np.testing.assert_array_equal(scaler.scale_, X.std(axis=0))


@pytest.mark.parametrize("power", [1000, -1000])
def test_extreme_columns_move_exactly_with_a_power_of_two(power: int) -> None:
    """Columns whose squares overflow (or vanish) get the statistics of the same numbers at
    ordinary scale times 2**power, exactly, beside an ordinary column that is left alone."""
    X = _ordinary_columns()
    factor = np.where(np.arange(X.shape[1]) % 2 == 0, 2.0**power, 1.0)
    moved = X * factor
    want_mean, want_std = np.mean(X, axis=0) * factor, np.std(X, axis=0) * factor
    mean, std, _ = mean_std(moved)
    np.testing.assert_array_equal(mean, want_mean)
    np.testing.assert_array_equal(std, want_std)


def test_plus_minus_1e308_columns_over_two_ranks() -> None:
    X = np.array([[1e308, 1.0], [-1e308, 2.0], [1e308, 4.0], [-1e308, 8.0]])
    out = ThreadRanks(2).run(lambda comm, r: agreed_mean_std(X[2 * r:2 * r + 2], comm))
    for mean, std, n in out:
        assert n == 4
        np.testing.assert_array_equal(mean, [0.0, 3.75])
        assert std[0] == 1e308
        assert std[1] == pytest.approx(np.std(X[:, 1]), rel=1e-15)


def test_medians_are_exact_while_small_and_close_beyond() -> None:
    rng = np.random.default_rng(3)
    v = rng.exponential(size=4001)
    v[rng.choice(len(v), 50, replace=False)] = np.nan
    parts = _shares(len(v), 3)
    exact = ThreadRanks(3).run(lambda comm, r: agreed_median(v[parts[r]], comm))
    assert exact == [float(np.nanmedian(v))] * 3
    approx = ThreadRanks(3).run(lambda comm, r: agreed_median(v[parts[r]], comm,
                                                              exact_limit=100))
    present = np.sort(v[~np.isnan(v)])
    assert len(set(approx)) == 1  # every rank the same
    position = np.searchsorted(present, approx[0])  # rank of the answer among all values
    assert abs(position - len(present) / 2) <= len(present) / (MEDIAN_QUANTILES - 1) + 1
    assert agreed_median(np.array([np.nan])) is None


def test_a_rank_without_present_values_still_takes_part() -> None:
    v = np.array([np.nan, np.nan, 1.0, 2.0, 10.0])
    parts = [slice(0, 2), slice(2, 5)]
    for limit in (10, 1):
        out = ThreadRanks(2).run(lambda comm, r, limit=limit: agreed_median(
            v[parts[r]], comm, exact_limit=limit))
        assert out == [2.0, 2.0]


def test_a_table_encoder_fitted_on_shares_equals_one_fitted_on_all_rows() -> None:
    pd = pytest.importorskip("pandas")
    from chainrule.data.columns import TableEncoder, infer_columns

    rng = np.random.default_rng(4)
    n = 60
    frame = pd.DataFrame({
        "x": rng.normal(size=n), "k": rng.integers(0, 5, n).astype(float),
        "c": rng.choice(["a", "b", "c"], n),
        "d": pd.date_range("2020-01-01", periods=n, freq="D").strftime("%Y-%m-%d"),
        "y": rng.integers(0, 2, n)})
    frame.loc[55, "x"] = np.nan  # missing only in the last rank's share
    frame.loc[2, "c"] = None  # a missing category only in the first
    frame.loc[30:, "c"] = frame.loc[30:, "c"].replace("c", "zz")  # 'zz' only past row 30
    plans = infer_columns(frame, "y")
    whole = TableEncoder(plans).fit(frame).to_dict()
    parts = _shares(n, 3)
    shares = ThreadRanks(3).run(
        lambda comm, r: TableEncoder(plans).fit(frame.iloc[parts[r]], comm=comm).to_dict())
    assert all(s == whole for s in shares)
    col = {c["name"]: c for c in whole["columns"]}
    assert col["x"]["missing_indicator"] and col["c"]["missing_category"]
    assert "zz" in col["c"]["categories"]
    assert col["x"]["median"] == [float(np.nanmedian(frame["x"]))]


@pytest.mark.parametrize("gather_bytes", [1, 800, 1 << 22])
def test_medians_of_many_columns_take_few_gathers_and_equal_numpys(
        gather_bytes: int, monkeypatch: pytest.MonkeyPatch) -> None:
    from chainrule.data import combine

    monkeypatch.setattr(combine, "GATHER_BYTES", gather_bytes)
    rng = np.random.default_rng(4)
    X = rng.normal(size=(60, 300))
    X[rng.random(X.shape) < 0.2] = np.nan
    X[:, 7] = np.nan  # a column with no value: None
    X[:25, 9] = np.nan  # present on the last ranks only
    ranks = ThreadRanks(3)
    gathers = [0] * 3

    def medians(comm, rank):
        real = comm.gather

        def counting(value):
            gathers[rank] += 1
            return real(value)

        comm.gather = counting
        return combine.agreed_medians(X[_shares(60, 3)[rank]], comm)

    got = ranks.run(medians)
    want = [None if np.isnan(X[:, j]).all() else float(np.nanmedian(X[:, j]))
            for j in range(X.shape[1])]
    assert got == [want] * 3
    per_gather = max(1, gather_bytes // (8 * 60))
    assert gathers == [1 + -(-299 // per_gather)] * 3  # the counts, then the column groups
