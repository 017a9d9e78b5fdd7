"""The four peers, each training a workload the way a user of that library would.

A peer's ``train(wl, weights, n, epochs, batches)`` trains from ``weights`` on the first ``n``
examples of the data given to ``prepare`` and returns ``(seconds, final_weights)``.  Only the
training loop is timed: building the model and copying the initial weights are not.  All peers
see the same minibatches (``batches``, index arrays reshuffled every epoch) except
scikit-learn, which shuffles with its own generator (same sizes, same number of steps).

* ``chainrule``: the public API only (``cr.Tensor``, ``nn``, ``optim``), float32.
* ``torch``: PyTorch eager, float32, ``torch.set_num_threads(2)``.
* ``sklearn``: ``MLPClassifier`` with the same architecture, batch size, optimizer and learning
  rate, no L2 penalty, no early stopping, float32 input; initial weights set by warm start.
* ``numpy``: a hand-written vectorised MLP (the seeds' equations, preallocated float32
  buffers, in-place updates): the reference point for "close to hand-written NumPy".
"""

from __future__ import annotations

import importlib.util
import time
import warnings

import numpy as np

from .workloads import Weights, Workload


class Peer:
    name = ""
    family = "numpy"          # peers of one family share the BLAS thread pool
    label = ""

    def available(self) -> str | None:
        """None when usable, else why it is skipped."""
        return None

    def prepare(self, wl: Workload, X: np.ndarray, y: np.ndarray) -> None:
        self.X, self.y = X, y

    def train(self, wl: Workload, weights: Weights, n: int, epochs: int,
              batches: list | None) -> tuple[float, Weights]:
        raise NotImplementedError


# -- chainrule ------------------------------------------------------------------------------------
class ChainrulePeer(Peer):
    name = "chainrule"
    label = "chainrule (float32)"

    def prepare(self, wl: Workload, X: np.ndarray, y: np.ndarray) -> None:
        super().prepare(wl, X, y)
        import chainrule

        self.cr = chainrule

    def build(self, wl: Workload, weights: Weights):
        cr = self.cr
        nn = cr.nn
        act = nn.Tanh if wl.hidden == "tanh" else nn.ReLU
        layers = []
        for i, (W, _) in enumerate(weights):
            layers.append(nn.Linear(W.shape[1], W.shape[0]))
            if i < len(weights) - 1:
                layers.append(act())
        if wl.out == "sigmoid":
            layers.append(nn.Sigmoid())
            loss_fn = nn.BCELoss()
        else:
            loss_fn = nn.CrossEntropyLoss()
        model = nn.Sequential(*layers)
        linears = [m for m in model if isinstance(m, nn.Linear)]
        state = {}
        for (name, _), value in zip(model.named_parameters(),
                                    [a for W, b in weights for a in (W, b)]):
            state[name] = value
        model.load_state_dict(state)
        if wl.optimizer == "sgd":
            opt = cr.optim.SGD(model.parameters(), lr=wl.lr)
        else:
            opt = cr.optim.Adam(model.parameters(), lr=wl.lr)
        return model, linears, loss_fn, opt

    def train(self, wl, weights, n, epochs, batches):
        cr = self.cr
        model, linears, loss_fn, opt = self.build(wl, weights)
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
        return seconds, [(m.weight.data.copy(), m.bias.data.copy()) for m in linears]


# -- PyTorch --------------------------------------------------------------------------------------
class TorchPeer(Peer):
    name = "torch"
    family = "torch"
    label = "PyTorch eager (float32, 2 threads)"

    def available(self):
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

    def train(self, wl, weights, n, epochs, batches):
        torch = self.torch
        nn = torch.nn
        act = nn.Tanh if wl.hidden == "tanh" else nn.ReLU
        layers: list = []
        linears = []
        for i, (W, b) in enumerate(weights):
            lin = nn.Linear(W.shape[1], W.shape[0])
            with torch.no_grad():
                lin.weight.copy_(torch.tensor(W))
                lin.bias.copy_(torch.tensor(b))
            layers.append(lin)
            linears.append(lin)
            if i < len(weights) - 1:
                layers.append(act())
        model = nn.Sequential(*layers)
        # What a PyTorch user writes: the sigmoid folded into the loss.
        loss_fn = nn.BCEWithLogitsLoss() if wl.out == "sigmoid" else nn.CrossEntropyLoss()
        if wl.optimizer == "sgd":
            opt = torch.optim.SGD(model.parameters(), lr=wl.lr)
        else:
            opt = torch.optim.Adam(model.parameters(), lr=wl.lr)
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
        return seconds, [(m.weight.detach().numpy().copy(), m.bias.detach().numpy().copy())
                         for m in linears]


# -- scikit-learn ---------------------------------------------------------------------------------
class SklearnPeer(Peer):
    name = "sklearn"
    label = "scikit-learn MLPClassifier (float32 input)"

    def available(self):
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
        # Output layer: probabilities, the loss (as the seeds' compute_cost), and dZ = (P - Y)/m.
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


PEERS = {p.name: p for p in (ChainrulePeer(), TorchPeer(), SklearnPeer(), NumpyPeer())}
