"""The general L-layer network and the delta recursion (the fifth seed), in the columns layout.

With a[0] = x and, for l = 1..L,

    z[l] = W[l] a[l-1] + b[l]        W[l] (n[l], n[l-1]), b[l] (n[l], 1)
    a[l] = g[l](z[l])

the sensitivity of the cost to each pre-activation, delta[l] = dC/dz[l], obeys

    delta[L] = dC/da[L] * g[L]'(z[L])                (= a[L] - y for sigmoid + cross-entropy)
    delta[l] = g[l]'(z[l]) * (W[l+1]^T delta[l+1])    for l = L-1, ..., 1

and every weight gradient is "the delta of the unit it feeds times the activation it reads":
dC/dW[l]_ij = delta[l]_i a[l-1]_j, i.e. dW[l] = delta[l] a[l-1]^T, db[l] = delta[l].

With m examples as columns, ``delta[l]`` is the (n[l], m) matrix of per-example deltas (the
first seed's dZ) and the cost J is the mean over examples, so
dW[l] = (1/m) delta[l] A[l-1]^T and db[l] = (1/m) sum over columns of delta[l].

>>> import numpy as np
>>> params = initialize_parameters([3, 5, 4, 1], seed=0)
>>> X = np.random.default_rng(1).normal(size=(3, 10))
>>> Y = (X[:1] > 0).astype(float)
>>> AL, cache = forward(X, params)
>>> grads = backward(Y, params, cache)
>>> grads["delta1"].shape, grads["dW1"].shape, grads["db3"].shape
((5, 10), (5, 3), (1, 1))
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ._activations import binary_cross_entropy, check, g, g_prime

__all__ = ["LOSSES", "backward", "cost", "forward", "initialize_parameters"]

LOSSES = ("cross_entropy", "squared_error")

Params = dict[str, np.ndarray]


def initialize_parameters(layer_dims: Sequence[int], scale: float | None = None,
                          seed: int | None = 0) -> Params:
    """W1..WL of shapes (n[l], n[l-1]) and zero biases b1..bL of shapes (n[l], 1).

    Weights are N(0, 1) times ``scale``, or times 1/sqrt(n[l-1]) when ``scale`` is None, so
    the pre-activations keep roughly unit size however wide the layers are.
    """
    if len(layer_dims) < 2:
        raise ValueError("layer_dims needs at least an input and an output size")
    rng = np.random.default_rng(seed)
    params: Params = {}
    for k in range(1, len(layer_dims)):
        fan_in = layer_dims[k - 1]
        s = 1.0 / np.sqrt(fan_in) if scale is None else scale
        params[f"W{k}"] = rng.standard_normal((layer_dims[k], fan_in)) * s
        params[f"b{k}"] = np.zeros((layer_dims[k], 1))
    return params


def _depth(params: Params) -> int:
    return sum(1 for k in params if k.startswith("W"))


def _activations(hidden: str | Sequence[str], output: str, L: int) -> list[str]:
    """The activation of every layer 1..L (index 0 unused)."""
    names = [hidden] * (L - 1) if isinstance(hidden, str) else list(hidden)
    if len(names) != L - 1:
        raise ValueError(f"need {L - 1} hidden activations for {L} layers, got {len(names)}")
    return ["", *(check(n) for n in names), check(output)]


def forward(X: np.ndarray, params: Params, hidden: str | Sequence[str] = "relu",
            output: str = "sigmoid") -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """a[L] for the examples in the columns of X, and the cache {A0, Z1, A1, ..., ZL, AL}."""
    L = _depth(params)
    acts = _activations(hidden, output, L)
    cache = {"A0": X}
    A = X
    for k in range(1, L + 1):
        Z = params[f"W{k}"] @ A + params[f"b{k}"]
        A = g(acts[k], Z)
        cache[f"Z{k}"], cache[f"A{k}"] = Z, A
    return A, cache


def cost(AL: np.ndarray, Y: np.ndarray, loss: str = "cross_entropy") -> float:
    """J = (1/m) sum over examples of the cross-entropy (summed over output units) or of
    1/2 ||a[L] - y||^2."""
    if loss == "cross_entropy":
        return binary_cross_entropy(AL, Y) * Y.shape[0]  # mean over entries -> sum over units
    if loss == "squared_error":
        return float(0.5 * np.sum((AL - Y) ** 2) / Y.shape[1])
    raise ValueError(f"unknown loss {loss!r}; choose one of {', '.join(LOSSES)}")


def backward(Y: np.ndarray, params: Params, cache: dict[str, np.ndarray],
             hidden: str | Sequence[str] = "relu", output: str = "sigmoid",
             loss: str = "cross_entropy") -> dict[str, np.ndarray]:
    """The delta recursion: returns delta1..deltaL, dW1..dWL and db1..dbL."""
    L = _depth(params)
    acts = _activations(hidden, output, L)
    AL, ZL = cache[f"A{L}"], cache[f"Z{L}"]
    m = Y.shape[1]
    if loss == "cross_entropy" and acts[L] == "sigmoid":
        delta = AL - Y  # dC/da * a(1 - a) with dC/da = -y/a + (1-y)/(1-a) simplifies to a - y
    elif loss == "cross_entropy":
        delta = (-(Y / AL) + (1 - Y) / (1 - AL)) * g_prime(acts[L], ZL, AL)
    elif loss == "squared_error":
        delta = (AL - Y) * g_prime(acts[L], ZL, AL)
    else:
        raise ValueError(f"unknown loss {loss!r}; choose one of {', '.join(LOSSES)}")
    grads: dict[str, np.ndarray] = {}
    for k in range(L, 0, -1):
        grads[f"delta{k}"] = delta
        grads[f"dW{k}"] = delta @ cache[f"A{k - 1}"].T / m
        grads[f"db{k}"] = np.sum(delta, axis=1, keepdims=True) / m
        if k > 1:
            Z, A = cache[f"Z{k - 1}"], cache[f"A{k - 1}"]
            delta = g_prime(acts[k - 1], Z, A) * (params[f"W{k}"].T @ delta)
    return grads
