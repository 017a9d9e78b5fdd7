"""The benchmark workloads W0-W8: networks, data, initial weights, and a shared evaluator.

Every peer trains the same network from the same initial weights on the same data.  A network
is a list of layer specs (``layers(wl)``): ``("linear", n_in, n_out)``, ``("conv", c_in, c_out,
k, pad)``, ``("bn", c)``, ``("pool", 2)``, ``("flatten",)``, ``("relu",)``, ``("tanh",)``; the
last linear layer gives the logits.  Weights are exchanged as a list of pairs, one per layer
with parameters, in PyTorch's (and chainrule's) layout: linear ``(W (out, in), b (out,))``,
conv ``(W (out, in, k, k), b (out,))``, batch norm ``(gamma (c,), beta (c,))``; float32.
The sequence workloads W7 (a GRU) and W8 (a causal transformer) are character models over
12-token sequences, defined in ``bench/sequences.py``; their weights come as one tuple of
arrays per module.
The sanity figure of a run (loss and accuracy on the training data) is computed here from the
peer's final weights, in float64, so that every peer is judged by the same code and a fast
wrong answer shows.

>>> wl = get("W5")
>>> wl.full_steps, wl.batch, layers(wl)[0]
(938, 64, ('conv', 1, 6, 5, 2))
>>> round(wl.flops_per_sample() / 1e6, 2)    # 6 x multiply-adds per example
2.5
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np

from . import sequences

Weights = list[tuple[np.ndarray, ...]]
Layer = tuple


@dataclass(frozen=True)
class Workload:
    """One network, data set and optimizer, with full-run and per-round sizes."""

    name: str
    title: str
    sizes: tuple[int, ...]          # MLP layer widths, input first (others: input, classes)
    hidden: str                     # 'tanh' or 'relu'
    out: str                        # 'sigmoid' (binary, one unit) or 'softmax'
    optimizer: str                  # 'sgd' or 'adam'
    lr: float
    batch: int
    n_samples: int                  # the full run
    epochs: int
    round_samples: int              # one timed round (scaled down so rounds stay short)
    round_epochs: int
    data: str                       # 'flower', 'digits', 'teacher', 'images' or 'chars'
    init: str = "he"                # 'small' (N(0, 0.01), b = 0) or 'he' (He-uniform, b = 0)
    note: str = ""
    net: str = "mlp"                # 'mlp', 'lenet', 'lenet-bn', 'gru' or 'transformer'

    def steps(self, n_samples: int, epochs: int) -> int:
        return epochs * math.ceil(n_samples / self.batch)

    @property
    def full_steps(self) -> int:
        return self.steps(self.n_samples, self.epochs)

    @property
    def round_steps(self) -> int:
        return self.steps(self.round_samples, self.round_epochs)

    @property
    def full_batch(self) -> bool:
        return self.batch >= self.n_samples

    @property
    def sequence(self) -> bool:
        """A next-token model over sequences (W7, W8): see ``bench/sequences.py``."""
        return self.net in sequences.NETS

    @property
    def input_shape(self) -> tuple[int, ...]:
        if self.sequence:
            return (sequences.BLOCK,)
        return (1, 28, 28) if self.net != "mlp" else (self.sizes[0],)

    def flops_per_sample(self) -> float:
        """Training FLOPs per example (one sequence for W7-W8): 6 x multiply-adds of the
        conv, linear, recurrent and attention products (forward 2, backward 4); batch norm,
        pooling and activations are not counted."""
        return 6.0 * multiply_adds(self)

    def arch(self) -> str:
        if self.sequence:
            return sequences.arch(self.net)
        if self.net != "mlp":
            return {"lenet": "LeNet-5", "lenet-bn": "LeNet-5 + BatchNorm2d"}[self.net]
        return "-".join(str(s) for s in self.sizes)


WORKLOADS: dict[str, Workload] = {
    "W0": Workload(
        "W0", "the course's 2-4-1 tanh/sigmoid network, flower data set, full-batch GD",
        (2, 4, 1), "tanh", "sigmoid", "sgd", 1.2, 400, 400, 10_000, 400, 2_000, "flower",
        init="small", note="400 examples, 10,000 steps"),
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
    "W5": Workload(
        "W5", "LeNet-5 conv net, 28x28 inputs, batch 64, SGD", (784, 10), "relu", "softmax",
        "sgd", 0.05, 64, 60_000, 1, 3_200, 1, "images", net="lenet",
        note="60,000 synthetic 1x28x28 images (an MNIST epoch: 938 steps)"),
    "W6": Workload(
        "W6", "LeNet-5 with BatchNorm2d, 28x28 inputs, batch 64, SGD", (784, 10), "relu",
        "softmax", "sgd", 0.05, 64, 60_000, 1, 3_200, 1, "images", net="lenet-bn",
        note="W5 with BatchNorm2d after each conv (batch statistics while training)"),
    "W7": Workload(
        "W7", "GRU character model, batch 32 x 12 tokens, Adam", (12, 27), "tanh", "softmax",
        "adam", 3e-3, 32, 5120, 1, 1024, 1, "chars", net="gru",
        note="5,120 census first names (random bigram sequences without the names package)"),
    "W8": Workload(
        "W8", "2-layer causal transformer character model, batch 32 x 12 tokens, Adam",
        (12, 27), "relu", "softmax", "adam", 1e-3, 32, 5120, 1, 1024, 1, "chars",
        net="transformer", note="the data of W7"),
}

# --quick: the same networks, tiny runs (a smoke test of the whole pipeline).
QUICK = {
    "W0": dict(epochs=100, round_epochs=50),
    "W1": dict(n_samples=640, epochs=1, round_samples=320, round_epochs=1),
    "W2": dict(n_samples=1280, round_samples=640),
    "W3": dict(n_samples=512, round_samples=256),
    "W4": dict(n_samples=640, round_samples=320),
    "W5": dict(n_samples=640, round_samples=320),
    "W6": dict(n_samples=640, round_samples=320),
    "W7": dict(n_samples=320, round_samples=160),
    "W8": dict(n_samples=320, round_samples=160),
}


def get(name: str, quick: bool = False, scale: float = 1.0, steps: int | None = None,
        batch: int | None = None, width: int | None = None) -> Workload:
    """The workload ``name``; ``quick`` shrinks it, ``scale`` multiplies the per-round size,
    ``steps`` fixes the number of steps per round (and caps the full run at 3x that); ``batch``
    and ``width`` (every hidden layer of an MLP) give the points of ``bench/growth.py``.

    >>> get("W3", width=256, batch=64, steps=4).arch(), get("W3", width=256, steps=4).batch
    ('784-256-256-10', 256)
    """
    wl = WORKLOADS[name]
    if quick:
        wl = replace(wl, **QUICK[name])
    if width is not None:
        if wl.net != "mlp":
            raise ValueError(f"{name} is not an MLP: no width to set")
        wl = replace(wl, sizes=(wl.sizes[0],) + (width,) * (len(wl.sizes) - 2) + wl.sizes[-1:])
    if batch is not None:
        wl = replace(wl, batch=batch, n_samples=max(wl.n_samples, 3 * batch),
                     round_samples=max(wl.round_samples, batch))
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


# -- networks -----------------------------------------------------------------------------------
def layers(wl: Workload) -> list[Layer]:
    """The network of ``wl`` as layer specs (see the module docstring); the sequence models
    have none (``bench/sequences.py`` builds them)."""
    if wl.sequence:
        raise ValueError(f"{wl.name} is a sequence model: bench/sequences.py builds it")
    if wl.net == "mlp":
        out: list[Layer] = []
        for i, (n_in, n_out) in enumerate(zip(wl.sizes[:-1], wl.sizes[1:])):
            out.append(("linear", n_in, n_out))
            if i < len(wl.sizes) - 2:
                out.append((wl.hidden,))
        return out
    bn = wl.net == "lenet-bn"
    net: list[Layer] = [("conv", 1, 6, 5, 2)] + [("bn", 6)] * bn
    net += [("relu",), ("pool", 2), ("conv", 6, 16, 5, 0)] + [("bn", 16)] * bn
    net += [("relu",), ("pool", 2), ("flatten",), ("linear", 400, 120), ("relu",),
            ("linear", 120, 84), ("relu",), ("linear", 84, 10)]
    return net


def multiply_adds(wl: Workload) -> int:
    """Multiply-adds of one example's forward pass through the conv and linear layers."""
    if wl.sequence:
        return sequences.multiply_adds(wl.net)
    shape = wl.input_shape
    total = 0
    for spec in layers(wl):
        kind = spec[0]
        if kind == "linear":
            total += spec[1] * spec[2]
        elif kind == "conv":
            _, c_in, c_out, k, pad = spec
            h, w = shape[1] + 2 * pad - k + 1, shape[2] + 2 * pad - k + 1
            total += h * w * c_out * c_in * k * k
            shape = (c_out, h, w)
        elif kind == "pool":
            shape = (shape[0], shape[1] // spec[1], shape[2] // spec[1])
    return total


# -- data ---------------------------------------------------------------------------------------
def make_data(wl: Workload, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``X`` float32 ((n, d), or (n, 1, 28, 28) for the conv nets) and labels: float32 (n, 1)
    for binary, int64 (n,) otherwise; the sequence models: int64 tokens (n, 12) and their
    next tokens (n, 12)."""
    if wl.sequence:
        return sequences.char_data(wl.n_samples, seed)
    if wl.data == "flower":
        X, y = _flower(wl.n_samples)
        return np.ascontiguousarray(X, dtype=np.float32), y.astype(np.float32).reshape(-1, 1)
    if wl.data == "digits":
        try:
            from sklearn.datasets import load_digits
        except ImportError:  # no scikit-learn: a synthetic stand-in of the same shape
            return _teacher_data(wl, seed)
        X, y = load_digits(return_X_y=True)
        X = (X / 16.0).astype(np.float32)[: wl.n_samples]
        return np.ascontiguousarray(X), y.astype(np.int64)[: wl.n_samples]
    X, y = _teacher_data(wl, seed)
    if wl.data == "images":
        X = X.reshape(-1, *wl.input_shape)
    return X, y


def _flower(n_samples: int) -> tuple[np.ndarray, np.ndarray]:
    import inspect

    from chainrule.data import make_flower

    # The random-source keyword is being renamed; the data are the same either way.
    key = "rng" if "rng" in inspect.signature(make_flower).parameters else "seed"
    return make_flower(n_samples=n_samples, **{key: 1})


def _teacher_data(wl: Workload, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Gaussian inputs labelled by a random teacher network (learnable, roughly balanced).
    Rows come in blocks with their own generator, so a shorter run sees a prefix of the
    longer run's data."""
    d, c = int(np.prod(wl.input_shape)), wl.sizes[-1]
    rng = np.random.default_rng(1000 + seed)
    W1 = rng.standard_normal((d, 64)).astype(np.float32) / np.float32(math.sqrt(d))
    W2 = rng.standard_normal((64, c)).astype(np.float32)
    block = 4096
    X = np.empty((wl.n_samples, d), np.float32)
    for start in range(0, wl.n_samples, block):
        gen = np.random.default_rng([1000 + seed, start // block])
        X[start:start + block] = gen.standard_normal((min(block, wl.n_samples - start), d),
                                                     dtype=np.float32)
    # Class balance from a fixed probe set, so that it does not depend on the run's size.
    probe_x = np.random.default_rng([1000 + seed, 10**6]).standard_normal((block, d),
                                                                           dtype=np.float32)
    probe = np.tanh(probe_x @ W1) @ W2
    mean, std = probe.mean(axis=0), probe.std(axis=0)
    labels = np.empty(wl.n_samples, np.int64)
    for start in range(0, wl.n_samples, block):
        logits = np.tanh(X[start:start + block] @ W1) @ W2
        labels[start:start + block] = ((logits - mean) / std).argmax(axis=1)  # balanced
    return X, labels


def init_weights(wl: Workload, seed: int = 0) -> Weights:
    """Initial weights, float32, identical for every peer."""
    if wl.sequence:
        return sequences.init_weights(wl.net, seed)
    rng = np.random.default_rng(seed)
    weights = []
    for spec in layers(wl):
        if spec[0] == "bn":
            weights.append((np.ones(spec[1]), np.zeros(spec[1])))
            continue
        if spec[0] not in ("linear", "conv"):
            continue
        shape = (spec[2], spec[1]) + ((spec[3], spec[3]) if spec[0] == "conv" else ())
        fan_in = int(np.prod(shape[1:]))
        if wl.init == "small":   # the course's W = np.random.randn(n_h, n_x) * 0.01, b = 0
            W = rng.standard_normal(shape) * 0.01
        else:                    # He-uniform: keeps a 20-layer ReLU stack trainable
            bound = math.sqrt(6.0 / fan_in)
            W = rng.uniform(-bound, bound, shape)
        weights.append((W, np.zeros(shape[0])))
    weights = [(a.astype(np.float32), b.astype(np.float32)) for a, b in weights]
    for W, b in weights:   # shared by every peer and round: a peer that writes into them fails
        W.flags.writeable = False
        b.flags.writeable = False
    return weights


def regroup(wl: Workload, flat: list[np.ndarray]) -> Weights:
    """The flat list of arrays (as ``bench/run.py`` saves the weights) back into one tuple per
    layer: pairs, or the sequence models' module groups.

    >>> [len(g) for g in regroup(get("W7"), list(range(7)))]
    [1, 4, 2]
    """
    sizes = ([len(g) for g in sequences.param_names(wl.net)] if wl.sequence
             else [2] * (len(flat) // 2))
    out, start = [], 0
    for k in sizes:
        out.append(tuple(flat[start:start + k]))
        start += k
    return out


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
def forward64(wl: Workload, weights: Weights, x: np.ndarray) -> np.ndarray:
    """The logits of ``weights`` on ``x``, in float64.  Batch norm normalises with the
    statistics of ``x`` itself (training mode), so call it on batch-sized chunks."""
    a = x.astype(np.float64)
    params = iter(weights)
    for spec in layers(wl):
        kind = spec[0]
        if kind == "linear":
            W, b = next(params)
            a = a @ W.astype(np.float64).T + b
        elif kind == "conv":
            W, b = next(params)
            pad = spec[4]
            a = np.pad(a, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
            win = np.lib.stride_tricks.sliding_window_view(a, W.shape[2:], axis=(2, 3))
            a = np.einsum("nchwij,ocij->nohw", win, W.astype(np.float64), optimize=True)
            a += b[:, None, None]
        elif kind == "bn":
            g, b = next(params)
            mean = a.mean(axis=(0, 2, 3), keepdims=True)
            var = a.var(axis=(0, 2, 3), keepdims=True)
            a = (a - mean) / np.sqrt(var + 1e-5) * g[:, None, None] + b[:, None, None]
        elif kind == "pool":
            n, c, h, w = a.shape
            k = spec[1]
            a = a.reshape(n, c, h // k, k, w // k, k).max(axis=(3, 5))
        elif kind == "flatten":
            a = a.reshape(len(a), -1)
        elif kind == "relu":
            a = np.maximum(a, 0)
        elif kind == "tanh":
            a = np.tanh(a)
    return a


def evaluate(wl: Workload, weights: Weights, X: np.ndarray, y: np.ndarray,
             limit: int = 4000) -> tuple[float, float]:
    """(mean loss, accuracy) of ``weights`` on the first ``limit`` training examples (float64;
    the conv nets on the first 1024, in chunks of one batch; the sequence models count every
    position's next token)."""
    if wl.sequence:
        a = sequences.forward64(wl.net, weights, X[:limit]).reshape(-1, sequences.VOCAB)
        y = y[:limit].reshape(-1)
    elif wl.net == "mlp":
        a = forward64(wl, weights, X[:limit])
    else:
        limit = min(limit, 1024)
        a = np.concatenate([forward64(wl, weights, X[i:i + wl.batch])
                            for i in range(0, min(limit, len(X)), wl.batch)])
    labels = y[: len(a)]
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
