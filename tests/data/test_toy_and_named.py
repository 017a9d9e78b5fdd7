"""Toy data sets and load_dataset."""

from __future__ import annotations

import numpy as np
import pytest

from chainrule import data
from chainrule.data import DataError, load_dataset
from conftest import needs_sklearn

TOY = ["xor", "moons", "circles", "spirals", "blobs"]


@pytest.mark.parametrize("name", TOY)
def test_toy_sets_are_seeded_and_well_formed(name: str) -> None:
    make = getattr(data, f"make_{name}")
    X1, y1 = make(n_samples=101, seed=3)
    X2, y2 = make(n_samples=101, seed=3)
    X3, _ = make(n_samples=101, seed=4)
    assert X1.shape == (101, 2) and y1.shape == (101,) and y1.dtype == np.int64
    np.testing.assert_array_equal(X1, X2)
    np.testing.assert_array_equal(y1, y2)
    assert not np.array_equal(X1, X3)
    counts = np.bincount(y1)
    assert counts.min() >= 101 // len(counts) - 1  # balanced classes


def test_toy_sets_have_their_shapes() -> None:
    X, y = data.make_xor(500, seed=0)
    assert np.all((X[:, 0] * X[:, 1] < 0) == (y == 1))
    X, y = data.make_circles(400, noise=0.0, factor=0.3, seed=0)
    r = np.hypot(X[:, 0], X[:, 1])
    np.testing.assert_allclose(r[y == 0], 1.0)
    np.testing.assert_allclose(r[y == 1], 0.3)
    X, y = data.make_blobs(300, centers=np.array([[0.0, 0.0], [10.0, 10.0]]), std=0.5, seed=0)
    assert np.all((X.sum(axis=1) > 10) == (y == 1))
    X, y = data.make_spirals(300, classes=3, seed=0)
    assert sorted(np.bincount(y).tolist()) == [100, 100, 100]
    assert np.hypot(X[:, 0], X[:, 1]).max() < 1.01


def test_bad_sizes_are_rejected() -> None:
    with pytest.raises(ValueError, match="n_samples"):
        data.make_moons(1)
    with pytest.raises(ValueError, match="factor"):
        data.make_circles(10, factor=2)


def test_load_dataset_toy_and_unknown() -> None:
    ds = load_dataset("flower")
    assert ds.X.shape == (400, 2) and ds.y.shape == (400,) and ds.class_names == ["0", "1"]
    ds = load_dataset("spirals", n_samples=30, classes=5, seed=1)
    assert ds.n_classes == 5 and len(ds) == 30
    with pytest.raises(DataError, match=r"unknown data set 'imagenet'.*digits.*wine"):
        load_dataset("imagenet")
    with pytest.raises(DataError, match="load_dataset"):
        load_dataset("moons", colour="red")


@needs_sklearn
@pytest.mark.parametrize(("name", "shape", "k"), [("digits", (1797, 64), 10),
                                                   ("iris", (150, 4), 3),
                                                   ("breast_cancer", (569, 30), 2),
                                                   ("wine", (178, 13), 3)])
def test_sklearn_sets(name: str, shape: tuple[int, int], k: int) -> None:
    ds = load_dataset(name.replace("_", "-"))
    assert ds.X.shape == shape and ds.n_classes == k and len(ds.feature_names) == shape[1]
    assert ds.y.min() == 0 and ds.y.max() == k - 1


def test_sklearn_missing_gives_a_clear_error(monkeypatch) -> None:
    import sys

    monkeypatch.setitem(sys.modules, "sklearn.datasets", None)
    with pytest.raises(DataError, match="pip install scikit-learn"):
        load_dataset("iris")


@pytest.mark.parametrize("make", ["make_flower", "make_xor", "make_moons", "make_circles",
                                  "make_spirals", "make_blobs"])
@pytest.mark.parametrize("kw, field", [({"n_samples": -5}, "n_samples"),
                                       ({"n_samples": 2.5}, "n_samples"),
                                       ({"n_samples": "10"}, "n_samples"),
                                       ({"seed": "a"}, "seed"), ({"seed": -1}, "seed")])
def test_toy_sets_refuse_bad_arguments_by_name(make, kw, field) -> None:
    from chainrule import ConfigError

    with pytest.raises(ConfigError, match=f"{make}: {field}"):
        getattr(data, make)(**kw)


@pytest.mark.parametrize("make, field", [("make_flower", "noise"), ("make_moons", "noise"),
                                         ("make_spirals", "noise"), ("make_blobs", "std")])
def test_toy_sets_refuse_a_negative_or_nan_spread(make, field) -> None:
    from chainrule import ConfigError

    for bad in (-1, float("nan")):
        with pytest.raises(ConfigError, match=field):
            getattr(data, make)(**{field: bad})
