"""The feature scaler of ``chainrule train`` (chainrule.pipeline.scaling): a table's 0/1
columns stay 0/1, every other column is standardised; the scaler is an ordinary one in the
model file.  Checked on ISLP's Wage table (one-hot education, race, marital status...)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from chainrule.data.scaler import StandardScaler
from chainrule.pipeline import scaling
from chainrule.workflow import Predictor, TrainConfig, train

pd = pytest.importorskip("pandas")


def test_only_columns_of_zeros_and_ones_are_kept_as_they_are():
    X = np.array([[0.0, 1.0, 5.0, 0.5, 1.0],
                  [1.0, 1.0, 7.0, 1.0, 1.0],
                  [0.0, 0.0, 9.0, 0.0, 1.0]])
    assert scaling.binary_columns(X).tolist() == [True, True, False, False, True]
    s = scaling.fit_scaler(X)
    plain = StandardScaler().fit(X)
    keep = scaling.binary_columns(X)
    np.testing.assert_array_equal(s.transform(X)[:, keep], X[:, keep])
    np.testing.assert_allclose(s.transform(X)[:, ~keep], plain.transform(X)[:, ~keep])
    again = StandardScaler.from_dict(s.to_dict())
    np.testing.assert_array_equal(again.transform(X), s.transform(X))
    np.testing.assert_allclose(scaling.fit_scaler(X, keep_binary=False).transform(X),
                               plain.transform(X))


def test_a_rank_of_a_run_under_mpi_agrees_on_the_binary_columns():
    class TwoRanks:
        """A communicator whose other rank holds a 2 in the first column."""

        def sum(self, values):
            return values + np.array([1.0, 0.0])

    X = np.array([[0.0, 1.0], [1.0, 0.0]])
    assert scaling.binary_columns(X, TwoRanks()).tolist() == [False, True]


def _wage() -> Path:
    spec = importlib.util.find_spec("ISLP")
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("needs ISLP's data files (pip install --no-deps ISLP)")
    return Path(next(iter(spec.submodule_search_locations))) / "data" / "Wage.csv"


def test_a_tables_one_hot_columns_reach_the_network_as_zeros_and_ones(tmp_path):
    result = train(TrainConfig(data=str(_wage()), target="wage", drop=["logwage"],
                               epochs=3, plots=False, out=str(tmp_path / "run")))
    pred = Predictor.load(result.path)
    names = pred.feature_names
    scaler = next(s for s in pred.steps if isinstance(s, StandardScaler))
    stats = dict(zip(names, zip(scaler.mean_, scaler.scale_)))
    one_hot = [n for n in names if "=" in n]
    assert len(one_hot) == 20  # maritl 5, race 4, education 5, jobclass, health, insurance 2
    assert all(stats[n] == (0.0, 1.0) for n in one_hot)
    frame = pd.read_csv(_wage())
    for column in ("year", "age"):  # numbers: standardised with the training rows' numbers
        train_rows = frame[column].to_numpy(float)[result.rows["train"]]
        assert stats[column][0] == pytest.approx(train_rows.mean())
        assert stats[column][1] == pytest.approx(train_rows.std())
    Z = pred.features(pred.encode(frame))  # what the network reads
    at = [names.index(n) for n in one_hot]
    assert set(np.unique(Z[:, at])) == {0.0, 1.0}
    assert abs(Z[result.rows["train"], names.index("age")].mean()) < 1e-9


def test_info_says_which_columns_went_in_unscaled(tmp_path, capsys):
    from chainrule.cli import app

    result = train(TrainConfig(data=str(_wage()), target="wage", drop=["logwage"],
                               epochs=2, plots=False, out=str(tmp_path / "run")))
    capsys.readouterr()
    assert app.main(["info", str(result.path)]) == 0
    line = next(s for s in capsys.readouterr().out.splitlines() if s.startswith("scaling:"))
    assert "standardised (training mean and std); 20 columns as they are (0/1 columns)" in line
