"""Splits, scaling, label and one-hot encoding, and the names chainrule.data.preprocessing
keeps from the modules they live in."""

from __future__ import annotations

import numpy as np
import pytest
from ranks import ThreadRanks

from chainrule.data import (
    DataError,
    LabelEncoder,
    StandardScaler,
    checks,
    labels,
    one_hot,
    preprocessing,
    scaler,
    splits,
    train_test_split,
    train_val_test_split,
)


def test_split_partitions_and_is_seeded() -> None:
    X = np.arange(200.0).reshape(100, 2)
    y = np.arange(100)
    Xtr, Xte, ytr, yte = train_test_split(X, y, 0.3, seed=1)
    assert len(Xte) == 30 and sorted(np.concatenate([ytr, yte]).tolist()) == list(range(100))
    np.testing.assert_array_equal(Xtr[:, 0], 2 * ytr)  # rows stay together
    again = train_test_split(X, y, 0.3, seed=1)
    np.testing.assert_array_equal(again[3], yte)
    assert not np.array_equal(train_test_split(X, y, 0.3, seed=2)[3], yte)


def test_stratified_split_keeps_class_proportions() -> None:
    y = np.array([0] * 90 + [1] * 10)
    X = np.zeros((100, 1))
    (_, ytr), (_, yva), (_, yte) = train_val_test_split(X, y, 0.2, 0.1, stratify=True, seed=0)
    assert np.bincount(yva).tolist() == [18, 2]
    assert np.bincount(yte).tolist() == [9, 1]
    assert np.bincount(ytr).tolist() == [63, 7]
    # one-hot targets stratify by their argmax
    _, _, _, yte1 = train_test_split(X, np.eye(2)[y], 0.1, stratify=True, seed=0)
    assert yte1.sum(axis=0).tolist() == [9.0, 1.0]


def test_split_errors() -> None:
    X, y = np.zeros((5, 1)), np.zeros(5)
    with pytest.raises(DataError, match=r"\[0, 1\)"):
        train_test_split(X, y, 1.5)
    with pytest.raises(DataError, match="5 examples but y has 4"):
        train_test_split(X, y[:4])
    with pytest.raises(DataError, match="none for training"):
        train_val_test_split(X[:3], y[:3], 0.5, 0.4)


def test_scaler_fits_on_train_only_and_round_trips() -> None:
    rng = np.random.default_rng(0)
    Xtr = rng.normal(3.0, 2.0, size=(50, 3))
    Xtr[:, 2] = 7.0  # constant column
    s = StandardScaler().fit(Xtr)
    Z = s.transform(Xtr)
    np.testing.assert_allclose(Z[:, :2].mean(axis=0), 0, atol=1e-12)
    np.testing.assert_allclose(Z[:, :2].std(axis=0), 1)
    assert np.all(Z[:, 2] == 0)
    Xte = rng.normal(size=(5, 3))
    np.testing.assert_allclose(s.transform(Xte), (Xte - Xtr.mean(0)) / np.where(
        Xtr.std(0) > 0, Xtr.std(0), 1))
    np.testing.assert_allclose(s.inverse_transform(s.transform(Xte)), Xte)
    s2 = StandardScaler.from_dict(s.to_dict())
    np.testing.assert_array_equal(s2.transform(Xte), s.transform(Xte))
    with pytest.raises(DataError, match="4 features but 3 were expected"):
        s.transform(np.zeros((2, 4)))
    with pytest.raises(DataError, match="not fitted"):
        StandardScaler().transform(Xte)
    with pytest.raises(DataError, match="invalid scaler"):
        StandardScaler.from_dict({"mean": [0.0], "scale": [0.0]})


def test_label_encoder_and_one_hot() -> None:
    enc = LabelEncoder().fit(["10", "2", "2", "7"])
    assert enc.classes_ == ["2", "7", "10"]  # numeric labels sort as numbers
    assert enc.transform(["7", "10"]).tolist() == [1, 2]
    assert enc.inverse_transform([2, 0]) == ["10", "2"]
    with pytest.raises(DataError, match="'3' at row 1 was not seen"):
        enc.transform(["2", "3"])
    oh = one_hot(np.array([1, 0, 2]), 4)
    np.testing.assert_array_equal(oh, np.eye(4)[[1, 0, 2]])
    with pytest.raises(DataError, match="integer labels"):
        one_hot(np.array([0.5, 1.0]))
    with pytest.raises(DataError, match=r"0\.\.1"):
        one_hot([0, 2], 2)


@pytest.mark.parametrize("magnitude", [1e200, 1e-200, 1e300, 1.0])
def test_standard_scaler_standardises_at_any_magnitude(magnitude) -> None:


    X = np.array([[1.0, -3.0], [2.0, 0.0], [4.0, 3.0]]) * magnitude
    Z = StandardScaler().fit_transform(X)
    # the same numbers as the unit-magnitude data, standardised by hand
    unit = np.array([[1.0, -3.0], [2.0, 0.0], [4.0, 3.0]])
    np.testing.assert_allclose(Z, (unit - unit.mean(0)) / unit.std(0), rtol=1e-12)
    np.testing.assert_allclose(StandardScaler().fit(X).inverse_transform(Z), X, rtol=1e-12)


@pytest.mark.parametrize("codes", [[-1], [2], [0.5], [np.nan], ["a"]])
def test_label_encoder_refuses_codes_that_are_no_class(codes) -> None:


    with pytest.raises(DataError, match=r"0\.\.1"):
        LabelEncoder().fit(["a", "b"]).inverse_transform(codes)


def test_fit_transform_over_ranks_standardises_each_share_with_all_the_statistics() -> None:
    """fit_transform(X, comm) is fit(X, comm) then transform(X): each rank's share comes out
    standardised with the mean and deviation of all the rows, as one process would give."""
    X = np.random.default_rng(3).normal(5.0, 3.0, (30, 2))
    parts = [slice(0, 11), slice(11, 30)]
    shares = ThreadRanks(2).run(
        lambda comm, r: StandardScaler().fit_transform(X[parts[r]], comm=comm))
    whole = StandardScaler().fit_transform(X)
    np.testing.assert_allclose(np.concatenate(shares), whole, rtol=1e-12, atol=1e-14)
    np.testing.assert_array_equal(StandardScaler().fit_transform(X, None), whole)


def test_preprocessing_keeps_every_name_from_its_home() -> None:
    homes = {"check_finite": checks, "check_features": checks, "check_numeric_frame": checks,
             "frame_to_array": checks, "as_array": checks, "train_test_split": splits,
             "train_val_test_split": splits, "StandardScaler": scaler,
             "LabelEncoder": labels, "one_hot": labels, "sorted_labels": labels}
    assert set(homes) | {"DataError"} == set(preprocessing.__all__)
    for name, home in homes.items():
        assert getattr(preprocessing, name) is getattr(home, name), name
        assert name in home.__all__
