"""The peers, each training a workload the way a user of that library would.

A peer's ``train(wl, weights, n, epochs, batches)`` trains from ``weights`` on the first ``n``
examples of the data given to ``prepare`` and returns ``(seconds, final_weights)``.  Only the
training loop is timed: building the model and copying the initial weights are not.  All peers
see the same minibatches (``batches``, index arrays reshuffled every epoch) except
scikit-learn, which shuffles with its own generator (same sizes, same number of steps).
``available(wl)`` says why a peer cannot run a workload (None when it can); ``why_not(peer,
wl)`` adds the rule that only peers declaring ``sequences = True`` run the sequence models.

* ``chainrule``: the public API only (``cr.Tensor``, ``nn``, ``optim``), float32, eager.
* ``chainrule-compiled``: the same step wrapped in ``cr.compile`` (the captured plan replayed
  with preallocated buffers, as ``cr.fit(compile=True)`` does); the MLP workloads only.
* ``torch``: PyTorch eager, float32, ``torch.set_num_threads(2)``.
* ``jax``, ``jax-epoch``: see ``bench/jax_peer.py``.
* ``sklearn``: ``MLPClassifier`` with the same architecture, batch size, optimizer and learning
  rate, no L2 penalty, no early stopping, float32 input; initial weights set by warm start.
* ``numpy``: a hand-written vectorised MLP (the course's equations, preallocated float32
  buffers, in-place updates): the reference point for "close to hand-written NumPy".
"""

from __future__ import annotations

import importlib.util
import time
import warnings

import numpy as np

from . import sequences
from .workloads import Weights, Workload, layers


class Peer:
    name = ""
    label = ""
    sequences = False     # builds the sequence models of bench/sequences.py (W7, W8)

    def available(self, wl: Workload) -> str | None:
        """None when this peer can train ``wl``, else why it is skipped."""
        return None

    def prepare(self, wl: Workload, X: np.ndarray, y: np.ndarray) -> None:
        self.X, self.y = X, y

    def train(self, wl: Workload, weights: Weights, n: int, epochs: int,
              batches: list | None) -> tuple[float, Weights]:
        raise NotImplementedError


def why_not(peer: Peer, wl: Workload) -> str | None:
    """Why ``peer`` cannot train ``wl`` (None when it can)."""
    if wl.sequence and not peer.sequences:
        return f"the {peer.name} peer has no sequence models (GRU, transformer) yet"
    return peer.available(wl)


def _sequence_loss(cross_entropy):
    """The loss of the sequence models: logits come as (N*12, 27) rows, labels as (N, 12)."""
    return lambda logits, y: cross_entropy(logits, y.reshape(-1))


def _pairs(arrays: list[np.ndarray]) -> Weights:
    """Parameters in model order, two per layer (weight and bias, or gamma and beta)."""
    return [(arrays[i].copy(), arrays[i + 1].copy()) for i in range(0, len(arrays), 2)]


# -- chainrule ------------------------------------------------------------------------------------
class ChainrulePeer(Peer):
    name = "chainrule"
    label = "chainrule (float32)"
    sequences = True
    CONV = ("Conv2d", "MaxPool2d", "BatchNorm2d", "Flatten")
    SEQUENCE = ("Embedding", "GRU", "TransformerEncoderLayer", "generate_square_subsequent_mask")

    def available(self, wl):
        if wl.net == "mlp":
            return None
        import chainrule

        need = self.SEQUENCE if wl.sequence else self.CONV
        missing = [n for n in need if not hasattr(chainrule.nn, n)]
        if missing:
            return f"chainrule {chainrule.__version__} has no nn.{', nn.'.join(missing)} yet"
        return None

    def prepare(self, wl, X, y):
        super().prepare(wl, X, y)
        import chainrule

        self.cr = chainrule

    def build(self, wl: Workload, weights: Weights):
        cr = self.cr
        nn = cr.nn
        if wl.sequence:
            model = sequences.build_chainrule(cr, wl.net, weights)
            loss_fn = _sequence_loss(nn.functional.cross_entropy)
            return model, loss_fn, self._optimizer(wl, model)
        mods = []
        for spec in layers(wl):
            kind = spec[0]
            if kind == "linear":
                mods.append(nn.Linear(spec[1], spec[2]))
            elif kind == "conv":
                mods.append(nn.Conv2d(spec[1], spec[2], spec[3], padding=spec[4]))
            elif kind == "bn":
                mods.append(nn.BatchNorm2d(spec[1]))
            elif kind == "pool":
                mods.append(nn.MaxPool2d(spec[1]))
            elif kind == "flatten":
                mods.append(nn.Flatten())
            else:
                mods.append(nn.ReLU() if kind == "relu" else nn.Tanh())
        if wl.out == "sigmoid":
            mods.append(nn.Sigmoid())
            loss_fn = nn.BCELoss()
        else:
            loss_fn = nn.CrossEntropyLoss()
        model = nn.Sequential(*mods)
        names = [name for name, _ in model.named_parameters()]
        state = model.state_dict()  # buffers (BatchNorm's statistics) keep their start values
        state.update(zip(names, [a for pair in weights for a in pair]))
        model.load_state_dict(state)
        return model, loss_fn, self._optimizer(wl, model)

    def _optimizer(self, wl: Workload, model):
        if wl.optimizer == "sgd":
            return self.cr.optim.SGD(model.parameters(), lr=wl.lr)
        return self.cr.optim.Adam(model.parameters(), lr=wl.lr)

    def _weights(self, wl: Workload, model) -> Weights:
        if wl.sequence:
            return sequences.grouped(wl.net, model.state_dict())
        return _pairs([p.data for p in model.parameters()])

    def train(self, wl, weights, n, epochs, batches):
        cr = self.cr
        model, loss_fn, opt = self.build(wl, weights)
        X, y = self.X, self.y
        if batches is None:
            xt, yt = cr.Tensor(X[:n]), y[:n]
            t0 = time.perf_counter()
            for _ in range(epochs):
                opt.zero_grad()
                loss = loss_fn(model(xt), yt)
                loss.backward()
                opt.step()
        else:
            Xn, yn = X[:n], y[:n]
            t0 = time.perf_counter()
            for idx in batches:
                opt.zero_grad()
                loss = loss_fn(model(cr.Tensor(Xn[idx])), yn[idx])
                loss.backward()
                opt.step()
        seconds = time.perf_counter() - t0
        loss.item()
        return seconds, self._weights(wl, model)


class ChainruleCompiledPeer(ChainrulePeer):
    """chainrule's captured step: the user's step function wrapped by ``cr.compile``."""

    name = "chainrule-compiled"
    label = "chainrule cr.compile (float32)"
    sequences = False

    def available(self, wl):
        if wl.net != "mlp":
            return "cr.compile replays chains of Linear layers and activations only"
        import chainrule

        return None if hasattr(chainrule, "compile") else \
            f"chainrule {chainrule.__version__} has no cr.compile yet"

    def train(self, wl, weights, n, epochs, batches):
        cr = self.cr
        model, loss_fn, opt = self.build(wl, weights)

        def step(xb, yb):
            opt.zero_grad()
            loss = loss_fn(model(xb), yb)
            loss.backward()
            opt.step()
            return loss

        # The first step captures the plan (an eager step plus the check against it): like
        # JAX's compilation it is left out of the time, which is scaled to every step.
        fast = cr.compile(step, optimizer=opt)
        X, y = self.X, self.y
        if batches is None:
            xt, yt = cr.Tensor(X[:n]), y[:n]
            loss = fast(xt, yt)
            t0 = time.perf_counter()
            for _ in range(epochs - 1):
                loss = fast(xt, yt)
            steps = epochs
        else:
            Xn, yn = X[:n], y[:n]
            loss = fast(cr.Tensor(Xn[batches[0]]), yn[batches[0]])
            t0 = time.perf_counter()
            for idx in batches[1:]:
                loss = fast(cr.Tensor(Xn[idx]), yn[idx])
            steps = len(batches)
        seconds = (time.perf_counter() - t0) * steps / max(steps - 1, 1)
        if not fast.compiled:
            raise RuntimeError(f"cr.compile ran eagerly: {fast.reason}")
        float(loss)
        return seconds, _pairs([p.data for p in model.parameters()])


# -- PyTorch --------------------------------------------------------------------------------------
class TorchPeer(Peer):
    name = "torch"
    label = "PyTorch eager (float32, 2 threads)"
    sequences = True

    def available(self, wl):
        if importlib.util.find_spec("torch") is None:
            return "PyTorch is not installed"
        return None

    def prepare(self, wl, X, y):
        super().prepare(wl, X, y)
        import torch

        torch.set_num_threads(2)
        self.torch = torch
        self.Xt = torch.from_numpy(X)
        self.yt = torch.from_numpy(y)

    def build(self, wl: Workload, weights: Weights):
        torch = self.torch
        nn = torch.nn
        if wl.sequence:
            model = sequences.build_torch(torch, wl.net, weights)
            return model, _sequence_loss(nn.functional.cross_entropy), self._optimizer(wl, model)
        mods: list = []
        for spec in layers(wl):
            kind = spec[0]
            if kind == "linear":
                mods.append(nn.Linear(spec[1], spec[2]))
            elif kind == "conv":
                mods.append(nn.Conv2d(spec[1], spec[2], spec[3], padding=spec[4]))
            elif kind == "bn":
                mods.append(nn.BatchNorm2d(spec[1]))
            elif kind == "pool":
                mods.append(nn.MaxPool2d(spec[1]))
            elif kind == "flatten":
                mods.append(nn.Flatten())
            else:
                mods.append(nn.ReLU() if kind == "relu" else nn.Tanh())
        model = nn.Sequential(*mods)
        with torch.no_grad():
            for p, a in zip(model.parameters(), [a for pair in weights for a in pair]):
                p.copy_(torch.from_numpy(np.array(a)))
        # What a PyTorch user writes: the sigmoid folded into the loss.
        loss_fn = nn.BCEWithLogitsLoss() if wl.out == "sigmoid" else nn.CrossEntropyLoss()
        return model, loss_fn, self._optimizer(wl, model)

    def _optimizer(self, wl: Workload, model):
        if wl.optimizer == "sgd":
            return self.torch.optim.SGD(model.parameters(), lr=wl.lr)
        return self.torch.optim.Adam(model.parameters(), lr=wl.lr)

    def train(self, wl, weights, n, epochs, batches):
        torch = self.torch
        model, loss_fn, opt = self.build(wl, weights)
        Xn, yn = self.Xt[:n], self.yt[:n]
        if batches is None:
            t0 = time.perf_counter()
            for _ in range(epochs):
                opt.zero_grad()
                loss = loss_fn(model(Xn), yn)
                loss.backward()
                opt.step()
        else:
            tb = [torch.from_numpy(idx) for idx in batches]
            t0 = time.perf_counter()
            for idx in tb:
                opt.zero_grad()
                loss = loss_fn(model(Xn[idx]), yn[idx])
                loss.backward()
                opt.step()
        seconds = time.perf_counter() - t0
        loss.item()
        if wl.sequence:
            state = {k: v.detach().numpy() for k, v in model.named_parameters()}
            return seconds, sequences.grouped(wl.net, state)
        return seconds, _pairs([p.detach().numpy() for p in model.parameters()])


# -- scikit-learn ---------------------------------------------------------------------------------
class SklearnPeer(Peer):
    name = "sklearn"
    label = "scikit-learn MLPClassifier (float32 input)"

    def available(self, wl):
        if wl.net != "mlp":
            return "MLPClassifier has no conv layers"
        if importlib.util.find_spec("sklearn") is None:
            return "scikit-learn is not installed"
        return None

    def prepare(self, wl, X, y):
        super().prepare(wl, X, y)
        from sklearn.exceptions import ConvergenceWarning
        from sklearn.neural_network import MLPClassifier

        self.MLP = MLPClassifier
        self.ConvergenceWarning = ConvergenceWarning
        self.labels = y.reshape(-1).astype(np.int64)
        self.classes = np.unique(self.labels)

    def train(self, wl, weights, n, epochs, batches):
        hidden = tuple(W.shape[0] for W, _ in weights[:-1])
        kw = dict(
            hidden_layer_sizes=hidden, activation=wl.hidden, solver=wl.optimizer,
            alpha=0.0, batch_size=wl.batch, learning_rate="constant",
            learning_rate_init=wl.lr, max_iter=epochs, tol=0.0, n_iter_no_change=epochs + 10,
            shuffle=batches is not None, random_state=0, warm_start=True,
            early_stopping=False,
        )
        if wl.optimizer == "sgd":
            kw.update(momentum=0.0, nesterovs_momentum=False)
        clf = self.MLP(**kw)
        X, y = self.X[:n], self.labels[:n]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", self.ConvergenceWarning)
            warnings.simplefilter("ignore", UserWarning)
            # One partial_fit sets every fitted attribute; then install the shared weights.
            clf.partial_fit(X[: wl.batch], y[: wl.batch], classes=self.classes)
            clf.coefs_ = [np.array(W.T, order="C") for W, _ in weights]   # always a copy
            clf.intercepts_ = [b.copy() for _, b in weights]
            del clf._optimizer   # fit() builds a fresh optimizer (no Adam state carried over)
            t0 = time.perf_counter()
            clf.fit(X, y)
            seconds = time.perf_counter() - t0
        return seconds, [(W.T.copy(), b.copy()) for W, b in zip(clf.coefs_, clf.intercepts_)]


# -- hand-written NumPy ---------------------------------------------------------------------------
class NumpyPeer(Peer):
    name = "numpy"
    label = "hand-written NumPy MLP (float32, preallocated)"

    def available(self, wl):
        return None if wl.net == "mlp" else "the hand-written peer is an MLP only"

    def train(self, wl, weights, n, epochs, batches):
        net = _NumpyMLP(wl, weights, min(n, wl.batch))
        X, y = self.X[:n], self.y[:n]
        with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
            if batches is None:
                t0 = time.perf_counter()
                for _ in range(epochs):
                    net.step(X, y)
            else:
                t0 = time.perf_counter()
                for idx in batches:
                    net.step(X[idx], y[idx])
            seconds = time.perf_counter() - t0
        return seconds, [(W.copy(), b.copy()) for W, b in zip(net.W, net.b)]


class _NumpyMLP:
    """Rows are examples.  Forward Z = A W^T + b; backward dZ_L = (P - Y)/m, dW = dZ^T A_prev,
    db = sum(dZ), dA_prev = dZ W, dZ_prev = dA_prev * g'(Z_prev); W -= lr dW (or Adam)."""

    def __init__(self, wl: Workload, weights: Weights, max_batch: int) -> None:
        f32 = np.float32
        self.wl = wl
        self.W = [W.copy() for W, _ in weights]
        self.b = [b.copy() for _, b in weights]
        self.A = [np.empty((max_batch, W.shape[0]), f32) for W in self.W]     # activations
        self.D = [np.empty((max_batch, W.shape[0]), f32) for W in self.W]     # deltas dZ
        self.T = [np.empty((max_batch, W.shape[0]), f32) for W in self.W]     # scratch
        self.mask = [np.empty((max_batch, W.shape[0]), bool) for W in self.W]
        self.dW = [np.empty_like(W) for W in self.W]
        self.db = [np.empty_like(b) for b in self.b]
        self.rowbuf = np.empty((max_batch, 1), f32)
        self.rows = np.arange(max_batch)
        self.params = self.W + self.b
        self.grads = self.dW + self.db
        self.relu = wl.hidden == "relu"
        self.lr = f32(wl.lr)
        self.last_loss = np.nan
        if wl.optimizer == "adam":
            self.t = 0
            self.m = [np.zeros_like(p) for p in self.params]
            self.v = [np.zeros_like(p) for p in self.params]
            self.s = [np.empty_like(p) for p in self.params]

    def step(self, x: np.ndarray, y: np.ndarray) -> None:
        m = x.shape[0]
        L = len(self.W)
        a = x
        acts = []
        for i in range(L):
            z = self.A[i][:m]
            np.matmul(a, self.W[i].T, out=z)
            z += self.b[i]
            if i < L - 1:
                if self.relu:
                    np.maximum(z, 0, out=z)
                else:
                    np.tanh(z, out=z)
            acts.append(z)
            a = z
        # Output layer: probabilities, the loss (as the course's compute_cost), and dZ = (P - Y)/m.
        z = acts[-1]
        d = self.D[-1][:m]
        if self.wl.out == "sigmoid":
            np.negative(z, out=z)
            np.exp(z, out=z)
            z += 1
            np.reciprocal(z, out=z)                         # P = sigmoid(Z)
            t = self.T[-1][:m]
            np.log(z, out=t)
            loss = -(y * t).sum()
            np.subtract(1, z, out=t)
            np.log(t, out=t)
            loss -= ((1 - y) * t).sum()
            np.subtract(z, y, out=d)
        else:
            mx = self.rowbuf[:m]
            np.max(z, axis=1, keepdims=True, out=mx)
            z -= mx
            np.exp(z, out=z)
            np.sum(z, axis=1, keepdims=True, out=mx)
            z /= mx                                          # P = softmax(Z)
            rows = self.rows[:m]
            np.copyto(d, z)
            loss = -np.log(z[rows, y]).sum()
            d[rows, y] -= 1
        self.last_loss = loss / m
        d *= np.float32(1.0 / m)
        for i in range(L - 1, -1, -1):
            a_prev = acts[i - 1] if i > 0 else x
            np.matmul(d.T, a_prev, out=self.dW[i])
            np.sum(d, axis=0, out=self.db[i])
            if i > 0:
                dp = self.D[i - 1][:m]
                np.matmul(d, self.W[i], out=dp)
                if self.relu:
                    mask = self.mask[i - 1][:m]
                    np.greater(a_prev, 0, out=mask)
                    np.multiply(dp, mask, out=dp)
                else:
                    t = self.T[i - 1][:m]
                    np.multiply(a_prev, a_prev, out=t)
                    np.subtract(1, t, out=t)
                    dp *= t
                d = dp
        self.update()

    def update(self) -> None:
        if self.wl.optimizer == "sgd":
            lr = self.lr
            for p, g in zip(self.params, self.grads):
                g *= lr
                p -= g
            return
        self.t += 1
        b1, b2, eps = 0.9, 0.999, 1e-8
        step = self.lr / (1 - b1**self.t)
        root = np.float32(np.sqrt(1 - b2**self.t))
        for p, g, m, v, s in zip(self.params, self.grads, self.m, self.v, self.s):
            v *= b2
            np.multiply(g, g, out=s)
            s *= 1 - b2
            v += s
            m *= b1
            g *= 1 - b1
            m += g
            np.sqrt(v, out=s)
            s /= root
            s += eps
            np.divide(m, s, out=s)
            s *= step
            p -= s


def get(name: str) -> Peer:
    """The peer called ``name`` (a fresh object); the names are in ``NAMES``."""
    if name in ("jax", "jax-epoch"):
        from .jax_peer import JaxEpochPeer, JaxPeer

        return JaxPeer() if name == "jax" else JaxEpochPeer()
    classes = {c.name: c for c in (ChainrulePeer, ChainruleCompiledPeer, TorchPeer, SklearnPeer,
                                    NumpyPeer)}
    if name not in classes:
        raise KeyError(f"unknown peer {name!r}; choose from {', '.join(NAMES)}")
    return classes[name]()


NAMES = ("chainrule", "chainrule-compiled", "torch", "jax", "jax-epoch", "numpy", "sklearn")
