"""Small fully connected networks and problems for the compiled-step tests: a chain of
Linear layers with one activation, and data for each loss the plan replays."""

import itertools

import numpy as np

from chainrule import nn

ACTS = {"tanh": nn.Tanh, "sigmoid": nn.Sigmoid, "relu": nn.ReLU,
        "leaky_relu": lambda: nn.LeakyReLU(0.2), "identity": nn.Identity}


def mlp(sizes, act, dtype, out=None, seed=0, bias=True):
    layers = []
    for i, (a, b) in enumerate(itertools.pairwise(sizes)):
        layers.append(nn.Linear(a, b, bias=bias, dtype=dtype, rng=seed + i))
        if i < len(sizes) - 2:
            layers.append(ACTS[act]())
    if out is not None:
        layers.append(out())
    return nn.Sequential(*layers)


def problem(kind, n, n_in, n_out, dtype, seed=0):
    """Inputs, targets, loss and the output activation (or None) of a small problem:
    ``mse``, ``mse_tanh`` (a tanh output), ``bce``, ``bce_logits``, ``bce_logits_sum``,
    ``ce`` (labels), ``onehot`` (one-hot targets, summed) or ``soft`` (soft targets)."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, n_in)).astype(dtype)
    if kind in ("mse", "mse_tanh"):
        return X, rng.normal(size=(n, n_out)).astype(dtype), nn.MSELoss(), \
            nn.Tanh if kind == "mse_tanh" else None
    if kind == "bce":
        return X, (rng.random((n, n_out)) > 0.5).astype(dtype), nn.BCELoss(), nn.Sigmoid
    if kind in ("bce_logits", "bce_logits_sum"):
        loss = nn.BCEWithLogitsLoss(reduction="sum" if kind == "bce_logits_sum" else "mean")
        return X, (rng.random((n, n_out)) > 0.5).astype(dtype), loss, None
    if kind == "ce":
        return X, rng.integers(0, n_out, size=n), nn.CrossEntropyLoss(), None
    if kind == "soft":
        y = rng.dirichlet(np.ones(n_out), size=n).astype(dtype)
    else:
        assert kind == "onehot", kind
        y = np.eye(n_out, dtype=dtype)[rng.integers(0, n_out, size=n)]
    return X, y, nn.CrossEntropyLoss(reduction="sum"), None
