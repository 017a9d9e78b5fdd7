"""Small two-dimensional data sets, generated from a seed."""

from __future__ import annotations

import numpy as np


def make_flower(n_samples: int = 400, petals: int = 4, noise: float = 0.2,
                seed: int | None = 1) -> tuple[np.ndarray, np.ndarray]:
    """The seeds' "flower" (planar) data set: two classes of points on a rose curve.

    Each class fills alternate petals of r = a sin(petals * theta) with a = 4; ``noise`` is the
    standard deviation of the Gaussian jitter added to the angle and the radius.  Returns
    ``X`` of shape (n_samples, 2) and ``y`` of shape (n_samples, 1) with values 0 and 1
    (examples as rows; use ``X.T`` and ``y.T`` for the columns layout).

    >>> X, y = make_flower(seed=1)
    >>> X.shape, y.shape, int(y.sum())
    ((400, 2), (400, 1), 200)
    """
    if n_samples < 2:
        raise ValueError(f"make_flower: n_samples must be at least 2, got {n_samples}")
    rng = np.random.default_rng(seed)
    per_class = n_samples // 2
    X = np.zeros((2 * per_class, 2))
    y = np.zeros((2 * per_class, 1))
    radius = 4.0
    for label in range(2):
        rows = slice(label * per_class, (label + 1) * per_class)
        theta = np.linspace(label * 3.12, (label + 1) * 3.12, per_class)
        theta = theta + rng.normal(0.0, noise, per_class)
        r = radius * np.sin(petals * theta) + rng.normal(0.0, noise, per_class)
        X[rows, 0] = r * np.sin(theta)
        X[rows, 1] = r * np.cos(theta)
        y[rows] = label
    return X, y
