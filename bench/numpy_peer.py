"""A hand-written vectorised NumPy MLP (the course's equations, preallocated float32 buffers,
in-place updates): the reference point for "close to hand-written NumPy"."""

from __future__ import annotations

import time

import numpy as np

from .peer import Peer
from .workloads import Weights, Workload


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
