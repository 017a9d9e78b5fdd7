"""The benchmark workloads W0-W4 of issue 6: data, initial weights, and a shared evaluator.

Every peer trains the same network from the same initial weights on the same data.  Weights are
exchanged as a list of ``(W, b)`` pairs in chainrule's layout: ``W`` of shape (out, in), ``b`` of
shape (out,), float32.  The sanity figure of a run (loss and accuracy on the training data) is
computed here from the peer's final weights, in float64, so that every peer is judged by the same
code and a fast wrong answer shows.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

Weights = list[tuple[np.ndarray, np.ndarray]]


@dataclass(frozen=True)
class Workload:
    """One network, data set and optimizer, with full-run and per-round sizes."""

    name: str
    title: str
    sizes: tuple[int, ...]          # layer widths, input first
    hidden: str                     # 'tanh' or 'relu'
    out: str                        # 'sigmoid' (binary, one unit) or 'softmax'
    optimizer: str                  # 'sgd' or 'adam'
    lr: float
    batch: int
    n_samples: int                  # the full run (the definition)
    epochs: int
    round_samples: int              # one timed round (scaled down so rounds stay short)
    round_epochs: int
    data: str                       # 'flower', 'digits' or 'teacher'
    init: str = "he"                # 'seeds' (N(0, 0.01), b = 0) or 'he' (He-uniform, b = 0)
    note: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    def steps(self, n_samples: int, epochs: int) -> int:
        return epochs * math.ceil(n_samples / self.batch)

    @property
    def full_steps(self) -> int:
        return self.steps(self.n_samples, self.epochs)

    @property
    def round_steps(self) -> int:
        return self.steps(self.round_samples, self.round_epochs)

    @property
    def n_weights(self) -> int:
        return sum(a * b for a, b in zip(self.sizes[:-1], self.sizes[1:]))

    def flops_per_sample(self) -> float:
        """Training FLOPs per example: 6 x weights (forward 2, backward 4)."""
        return 6.0 * self.n_weights

    @property
    def full_batch(self) -> bool:
        return self.batch >= self.n_samples

    def arch(self) -> str:
        return "-".join(str(s) for s in self.sizes)


WORKLOADS: dict[str, Workload] = {
    "W0": Workload(
        "W0", "seeds' 2-4-1 tanh/sigmoid, BCE, full-batch GD", (2, 4, 1), "tanh", "sigmoid",
        "sgd", 1.2, 400, 400, 10_000, 400, 2_000, "flower", init="seeds",
        note="400 examples, 10,000 steps"),
    "W1": Workload(
        "W1", "64-32-10 ReLU, digits, batch 32, Adam", (64, 32, 10), "relu", "softmax", "adam",
        1e-3, 32, 1797, 50, 1797, 10, "digits", note="50 epochs"),
    "W2": Workload(
        "W2", "784-128-10 ReLU, batch 128, SGD", (784, 128, 10), "relu", "softmax", "sgd", 0.05,
        128, 60_000, 1, 12_800, 1, "teacher", note="60,000 synthetic samples, one epoch"),
    "W3": Workload(
        "W3", "784-1024-1024-10 ReLU, batch 256, SGD", (784, 1024, 1024, 10), "relu",
        "softmax", "sgd", 0.02, 256, 20_000, 1, 2_560, 1, "teacher",
        note="20,000 synthetic samples, one epoch"),
    "W4": Workload(
        "W4", "64-(20x64)-10 ReLU, batch 64, SGD", (64,) + (64,) * 20 + (10,), "relu", "softmax",
        "sgd", 0.02, 64, 25_600, 1, 6_400, 1, "teacher",
        note="20 hidden layers of 64, 25,600 synthetic samples, one epoch"),
}

# --quick: the same networks, tiny runs (a smoke test of the whole pipeline).
QUICK = {
    "W0": dict(epochs=100, round_epochs=50),
    "W1": dict(n_samples=640, epochs=1, round_samples=320, round_epochs=1),
    "W2": dict(n_samples=1280, round_samples=640),
    "W3": dict(n_samples=512, round_samples=256),
    "W4": dict(n_samples=640, round_samples=320),
}


def get(name: str, quick: bool = False, scale: float = 1.0, steps: int | None = None) -> Workload:
    """The workload ``name``; ``quick`` shrinks it, ``scale`` multiplies the per-round size,
    ``steps`` fixes the number of steps per round (and caps the full run at 3x that)."""
    wl = WORKLOADS[name]
    if quick:
        wl = replace(wl, **QUICK[name])
    if steps is not None:
        if wl.full_batch:
            wl = replace(wl, round_epochs=steps, epochs=min(wl.epochs, 3 * steps))
        else:
            n = min(wl.n_samples, steps * wl.batch)
            wl = replace(wl, round_samples=n, round_epochs=1,
                         n_samples=min(wl.n_samples, 3 * n), epochs=1)
    if scale != 1.0:
        if wl.full_batch:
            wl = replace(wl, round_epochs=max(1, round(wl.round_epochs * scale)))
        else:
            n = int(min(wl.n_samples, max(wl.batch, round(wl.round_samples * scale))))
            wl = replace(wl, round_samples=n)
    return wl


# -- data ---------------------------------------------------------------------------------------
def make_data(wl: Workload, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``X`` (n, d) float32 and labels: float32 (n, 1) for binary, int64 (n,) otherwise."""
    if wl.data == "flower":
        from chainrule.data import make_flower

        X, y = make_flower(n_samples=wl.n_samples, seed=1)
        return np.ascontiguousarray(X, dtype=np.float32), y.astype(np.float32).reshape(-1, 1)
    if wl.data == "digits":
        try:
            from sklearn.datasets import load_digits
        except ImportError:  # no scikit-learn: a synthetic stand-in of the same shape
            return _teacher_data(wl, seed)
        X, y = load_digits(return_X_y=True)
        X = (X / 16.0).astype(np.float32)[: wl.n_samples]
        return np.ascontiguousarray(X), y.astype(np.int64)[: wl.n_samples]
    return _teacher_data(wl, seed)


def _teacher_data(wl: Workload, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Gaussian inputs labelled by a random teacher network (learnable, roughly balanced)."""
    rng = np.random.default_rng(1000 + seed)
    d, c = wl.sizes[0], wl.sizes[-1]
    X = rng.standard_normal((wl.n_samples, d), dtype=np.float32)
    W1 = rng.standard_normal((d, 64)).astype(np.float32) / np.float32(math.sqrt(d))
    W2 = rng.standard_normal((64, c)).astype(np.float32)
    logits = np.tanh(X @ W1) @ W2
    logits = (logits - logits.mean(axis=0)) / logits.std(axis=0)   # balance the classes
    return X, logits.argmax(axis=1).astype(np.int64)


def init_weights(wl: Workload, seed: int = 0) -> Weights:
    """Initial weights, float32, identical for every peer."""
    rng = np.random.default_rng(seed)
    weights = []
    for n_in, n_out in zip(wl.sizes[:-1], wl.sizes[1:]):
        if wl.init == "seeds":   # W = np.random.randn(n_h, n_x) * 0.01, b = 0
            W = rng.standard_normal((n_out, n_in)) * 0.01
        else:                    # He-uniform: keeps a 20-layer ReLU stack trainable
            bound = math.sqrt(6.0 / n_in)
            W = rng.uniform(-bound, bound, (n_out, n_in))
        weights.append((W.astype(np.float32), np.zeros(n_out, dtype=np.float32)))
    for W, b in weights:   # shared by every peer and round: a peer that writes into them fails
        W.flags.writeable = False
        b.flags.writeable = False
    return weights


def batch_indices(wl: Workload, n_samples: int, epochs: int, seed: int = 0) -> list | None:
    """Minibatch index arrays (reshuffled every epoch), or None for full-batch training."""
    if wl.batch >= n_samples:
        return None
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(epochs):
        perm = rng.permutation(n_samples)
        out.extend(perm[i:i + wl.batch] for i in range(0, n_samples, wl.batch))
    return out


# -- the shared evaluator -------------------------------------------------------------------------
def evaluate(wl: Workload, weights: Weights, X: np.ndarray, y: np.ndarray,
             limit: int = 4000) -> tuple[float, float]:
    """(mean loss, accuracy) of ``weights`` on the first ``limit`` training examples (float64)."""
    a = X[:limit].astype(np.float64)
    labels = y[:limit]
    for i, (W, b) in enumerate(weights):
        a = a @ W.astype(np.float64).T + b
        if i < len(weights) - 1:
            a = np.tanh(a) if wl.hidden == "tanh" else np.maximum(a, 0)
    if wl.out == "sigmoid":
        t = labels.reshape(-1, 1).astype(np.float64)
        loss = np.mean(np.maximum(a, 0) - a * t + np.log1p(np.exp(-np.abs(a))))
        acc = np.mean((a > 0) == (t > 0.5))
    else:
        shifted = a - a.max(axis=1, keepdims=True)
        log_p = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
        loss = -np.mean(log_p[np.arange(len(labels)), labels])
        acc = np.mean(a.argmax(axis=1) == labels)
    return float(loss), float(acc)
