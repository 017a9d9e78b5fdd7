"""Small two-dimensional data sets, generated from a seed."""

from __future__ import annotations

import numpy as np

from ..errors import ConfigError


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
    _check_n("make_flower", n_samples)
    _check_noise("make_flower", noise)
    rng = _rng("make_flower", seed)
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


def _check_n(name: str, n_samples: int, minimum: int = 2) -> None:
    if isinstance(n_samples, bool) or not isinstance(n_samples, (int, np.integer)) \
            or n_samples < minimum:
        raise ConfigError(f"{name}: n_samples must be an integer of at least {minimum}, got "
                          f"{n_samples!r}")


def _check_noise(name: str, noise: float, what: str = "noise") -> None:
    if isinstance(noise, bool) or not isinstance(noise, (int, float, np.integer, np.floating)) \
            or not np.isfinite(noise) or noise < 0:
        raise ConfigError(f"{name}: {what} must be a finite number >= 0 (a standard "
                          f"deviation), got {noise!r}")


def _rng(name: str, seed: int | None) -> np.random.Generator:
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, (int, np.integer))
                             or seed < 0):
        raise ConfigError(f"{name}: seed must be a non-negative integer or None, got {seed!r}")
    return np.random.default_rng(seed)


def make_xor(n_samples: int = 400, noise: float = 0.0,
             seed: int | None = 0) -> tuple[np.ndarray, np.ndarray]:
    """Points uniform in [-1, 1]^2, labelled 1 where x1 and x2 have different signs.

    No straight line separates the classes, so a network needs a hidden layer.  ``noise``
    jitters the points after labelling.  Returns ``X`` (n, 2) and integer labels ``y`` (n,).

    >>> X, y = make_xor(8, seed=0)
    >>> X.shape, y.dtype.kind
    ((8, 2), 'i')
    """
    _check_n("make_xor", n_samples)
    _check_noise("make_xor", noise)
    rng = _rng("make_xor", seed)
    X = rng.uniform(-1.0, 1.0, size=(n_samples, 2))
    y = ((X[:, 0] > 0) != (X[:, 1] > 0)).astype(np.int64)
    return X + rng.normal(0.0, noise, X.shape) if noise else X, y


def make_moons(n_samples: int = 400, noise: float = 0.1,
               seed: int | None = 0) -> tuple[np.ndarray, np.ndarray]:
    """Two interleaving half circles (class 0 on top, class 1 below and shifted).

    >>> X, y = make_moons(10, seed=0)
    >>> X.shape, sorted(set(y.tolist()))
    ((10, 2), [0, 1])
    """
    _check_n("make_moons", n_samples)
    _check_noise("make_moons", noise)
    rng = _rng("make_moons", seed)
    n0 = n_samples // 2
    n1 = n_samples - n0
    t0 = np.linspace(0.0, np.pi, n0)
    t1 = np.linspace(0.0, np.pi, n1)
    X = np.concatenate([np.stack([np.cos(t0), np.sin(t0)], axis=1),
                        np.stack([1.0 - np.cos(t1), 0.5 - np.sin(t1)], axis=1)])
    y = np.concatenate([np.zeros(n0, np.int64), np.ones(n1, np.int64)])
    X = X + rng.normal(0.0, noise, X.shape)
    order = rng.permutation(n_samples)
    return X[order], y[order]


def make_circles(n_samples: int = 400, noise: float = 0.05, factor: float = 0.5,
                 seed: int | None = 0) -> tuple[np.ndarray, np.ndarray]:
    """A small circle (class 1, radius ``factor``) inside a large one (class 0, radius 1).

    >>> X, y = make_circles(10, seed=0)
    >>> X.shape, int(y.sum())
    ((10, 2), 5)
    """
    _check_n("make_circles", n_samples)
    _check_noise("make_circles", noise)
    if not 0 < factor < 1:
        raise ConfigError(f"make_circles: factor must be in (0, 1), got {factor}")
    rng = _rng("make_circles", seed)
    n0 = n_samples // 2
    n1 = n_samples - n0
    t0 = np.linspace(0.0, 2 * np.pi, n0, endpoint=False)
    t1 = np.linspace(0.0, 2 * np.pi, n1, endpoint=False)
    X = np.concatenate([np.stack([np.cos(t0), np.sin(t0)], axis=1),
                        factor * np.stack([np.cos(t1), np.sin(t1)], axis=1)])
    y = np.concatenate([np.zeros(n0, np.int64), np.ones(n1, np.int64)])
    X = X + rng.normal(0.0, noise, X.shape)
    order = rng.permutation(n_samples)
    return X[order], y[order]


def make_spirals(n_samples: int = 300, classes: int = 3, turns: float = 1.0,
                 noise: float = 0.2, seed: int | None = 0) -> tuple[np.ndarray, np.ndarray]:
    """``classes`` interleaved spiral arms (the classic "spiral" set); labels 0..classes-1.

    >>> X, y = make_spirals(30, classes=3, seed=0)
    >>> X.shape, [int(c) for c in np.bincount(y)]
    ((30, 2), [10, 10, 10])
    """
    if isinstance(classes, bool) or not isinstance(classes, (int, np.integer)) or classes < 2:
        raise ConfigError(f"make_spirals: classes must be an integer of at least 2, got "
                          f"{classes!r}")
    _check_n("make_spirals", n_samples, classes)
    _check_noise("make_spirals", noise)
    rng = _rng("make_spirals", seed)
    sizes = [n_samples // classes + (1 if k < n_samples % classes else 0)
             for k in range(classes)]
    parts, labels = [], []
    for k, m in enumerate(sizes):
        r = np.linspace(0.0, 1.0, m)
        theta = (np.linspace(k * 2 * np.pi / classes, k * 2 * np.pi / classes
                             + turns * 2 * np.pi, m) + rng.normal(0.0, noise, m))
        parts.append(np.stack([r * np.sin(theta), r * np.cos(theta)], axis=1))
        labels.append(np.full(m, k, np.int64))
    X, y = np.concatenate(parts), np.concatenate(labels)
    order = rng.permutation(n_samples)
    return X[order], y[order]


def make_blobs(n_samples: int = 300, centers: int | np.ndarray = 3, std: float = 1.0,
               box: tuple[float, float] = (-8.0, 8.0),
               seed: int | None = 0) -> tuple[np.ndarray, np.ndarray]:
    """Gaussian clusters: ``centers`` random centres in ``box`` (or the given (k, 2) array),
    each with standard deviation ``std``; labels are the cluster indices.

    >>> X, y = make_blobs(9, centers=3, seed=0)
    >>> X.shape, [int(c) for c in np.bincount(y)]
    ((9, 2), [3, 3, 3])
    """
    rng = _rng("make_blobs", seed)
    _check_noise("make_blobs", std, "std")
    if isinstance(centers, (int, np.integer)):
        if centers < 1:
            raise ConfigError(f"make_blobs: centers must be at least 1, got {centers}")
        c = rng.uniform(box[0], box[1], size=(int(centers), 2))
    else:
        c = np.asarray(centers, dtype=np.float64)
        if c.ndim != 2 or len(c) < 1:
            raise ConfigError(f"make_blobs: centers must be a count or a (k, d) array, got "
                             f"shape {c.shape}")
    k = len(c)
    _check_n("make_blobs", n_samples, k)
    y = np.arange(n_samples, dtype=np.int64) % k
    X = c[y] + rng.normal(0.0, std, size=(n_samples, c.shape[1]))
    order = rng.permutation(n_samples)
    return X[order], y[order]
