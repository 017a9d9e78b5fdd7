"""JAX as a peer: what a user who wants CPU speed writes instead of an eager library.

* ``jax``: ``jax.jit`` of the whole training step (forward, loss, gradient and the optimizer
  update, with buffer donation), called once per minibatch from a Python loop, NumPy batches
  in: the fair comparison for a step driven from Python.
* ``jax-epoch``: the whole round compiled as one ``lax.fori_loop`` over the steps, data on the
  device and the minibatch gathered inside: the limit of compilation (no Python per step),
  shown for reference, not as a target for an eager step.

Both use float32, the same initial weights, minibatches and update rules as the other peers
(SGD without momentum; Adam with PyTorch's defaults; batch norm with batch statistics and
running averages at momentum 0.1).  Compilation happens in the untimed warm-up.
"""

from __future__ import annotations

import importlib.util
import time

import numpy as np

from .peer import Peer
from .workloads import Weights, Workload, layers

BN_EPS = 1e-5
BN_MOMENTUM = 0.1


class JaxPeer(Peer):
    name = "jax"
    label = "JAX jit of the step, stepped from Python (float32)"

    def available(self, wl: Workload) -> str | None:
        if importlib.util.find_spec("jax") is None:
            return "JAX is not installed"
        return None

    def prepare(self, wl: Workload, X: np.ndarray, y: np.ndarray) -> None:
        import jax

        super().prepare(wl, X, y.astype(np.int32) if y.dtype.kind == "i" else y)
        self.jax = jax
        self.step_fn = make_step(wl)
        self.step = jax.jit(self.step_fn, donate_argnums=(0, 1, 2))

    def start(self, weights: Weights):
        """Fresh device copies of the weights, optimizer state and batch-norm statistics."""
        jnp = self.jax.numpy
        params = [(jnp.array(W), jnp.array(b)) for W, b in weights]
        zeros = [(jnp.zeros_like(W), jnp.zeros_like(b)) for W, b in params]
        if self.wl_optimizer == "adam":
            opt = (zeros, [(jnp.zeros_like(W), jnp.zeros_like(b)) for W, b in params],
                   jnp.zeros((), jnp.float32))
        else:
            opt = ()
        state = [(jnp.zeros(s[1], jnp.float32), jnp.ones(s[1], jnp.float32))
                 for s in self.specs if s[0] == "bn"]
        return params, opt, state

    def train(self, wl, weights, n, epochs, batches):
        self.wl_optimizer, self.specs = wl.optimizer, layers(wl)
        params, opt, state = self.start(weights)
        jnp = self.jax.numpy
        if batches is None:
            x, y = jnp.asarray(self.X[:n]), jnp.asarray(self.y[:n])
            t0 = time.perf_counter()
            for _ in range(epochs):
                params, opt, state, loss = self.step(params, opt, state, x, y)
        else:
            Xn, yn = self.X[:n], self.y[:n]
            t0 = time.perf_counter()
            for idx in batches:
                params, opt, state, loss = self.step(params, opt, state, Xn[idx], yn[idx])
        loss.block_until_ready()
        seconds = time.perf_counter() - t0
        return seconds, [(np.array(W), np.array(b)) for W, b in params]


class JaxEpochPeer(JaxPeer):
    name = "jax-epoch"
    label = "JAX, the whole round as one lax.fori_loop (float32)"

    def prepare(self, wl, X, y):
        super().prepare(wl, X, y)
        jax = self.jax
        lax = jax.lax
        step_fn = self.step_fn

        def run(params, opt, state, X, y, idx):
            def body(i, carry):
                b = lax.dynamic_index_in_dim(idx, i, keepdims=False)
                return step_fn(*carry, X[b], y[b])[:3]

            return lax.fori_loop(0, idx.shape[0], body, (params, opt, state))

        def run_full(params, opt, state, X, y, steps):
            return lax.fori_loop(0, steps, lambda i, c: step_fn(*c, X, y)[:3],
                                 (params, opt, state))

        self.run = jax.jit(run, donate_argnums=(0, 1, 2))
        self.run_full = jax.jit(run_full, donate_argnums=(0, 1, 2), static_argnums=(5,))
        self.Xd, self.yd = jax.numpy.asarray(X), jax.numpy.asarray(self.y)

    def train(self, wl, weights, n, epochs, batches):
        self.wl_optimizer, self.specs = wl.optimizer, layers(wl)
        params, opt, state = self.start(weights)
        jnp = self.jax.numpy
        if batches is None:
            x, y = self.Xd[:n], self.yd[:n]
            t0 = time.perf_counter()
            params, opt, state = self.run_full(params, opt, state, x, y, epochs)
        else:
            # Runs of equal-sized batches become one loop each (an epoch's short last batch
            # has its own shape, hence its own compiled loop).
            groups: list[list[np.ndarray]] = []
            for idx in batches:
                if groups and len(groups[-1][0]) == len(idx):
                    groups[-1].append(idx)
                else:
                    groups.append([idx])
            stacked = [jnp.asarray(np.stack(g).astype(np.int32)) for g in groups]
            t0 = time.perf_counter()
            for idx in stacked:
                params, opt, state = self.run(params, opt, state, self.Xd, self.yd, idx)
        self.jax.block_until_ready(params)
        seconds = time.perf_counter() - t0
        return seconds, [(np.array(W), np.array(b)) for W, b in params]


def make_step(wl: Workload):
    """``step(params, opt, state, x, y) -> (params, opt, state, loss)`` for ``wl``."""
    import jax
    import jax.numpy as jnp
    from jax import lax

    specs = layers(wl)

    def forward(params, state, a):
        p, s = iter(params), iter(state)
        new_state = []
        for spec in specs:
            kind = spec[0]
            if kind == "linear":
                W, b = next(p)
                a = a @ W.T + b
            elif kind == "conv":
                W, b = next(p)
                pad = spec[4]
                a = lax.conv_general_dilated(a, W, (1, 1), [(pad, pad), (pad, pad)],
                                             dimension_numbers=("NCHW", "OIHW", "NCHW"))
                a = a + b[None, :, None, None]
            elif kind == "bn":
                g, b = next(p)
                run_mean, run_var = next(s)
                mean = a.mean(axis=(0, 2, 3))
                var = a.var(axis=(0, 2, 3))
                count = a.size // a.shape[1]
                a = (a - mean[None, :, None, None]) * lax.rsqrt(var + BN_EPS)[None, :, None, None]
                a = a * g[None, :, None, None] + b[None, :, None, None]
                new_state.append(((1 - BN_MOMENTUM) * run_mean + BN_MOMENTUM * mean,
                                  (1 - BN_MOMENTUM) * run_var
                                  + BN_MOMENTUM * var * (count / (count - 1))))
            elif kind == "pool":
                k = spec[1]
                a = lax.reduce_window(a, -jnp.inf, lax.max, (1, 1, k, k), (1, 1, k, k), "VALID")
            elif kind == "flatten":
                a = a.reshape(a.shape[0], -1)
            elif kind == "relu":
                a = jnp.maximum(a, 0)
            else:
                a = jnp.tanh(a)
        return a, new_state

    def loss_fn(params, state, x, y):
        z, new_state = forward(params, state, x)
        if wl.out == "sigmoid":
            loss = jnp.mean(jnp.maximum(z, 0) - z * y + jnp.log1p(jnp.exp(-jnp.abs(z))))
        else:
            logp = jax.nn.log_softmax(z, axis=1)
            loss = -jnp.mean(jnp.take_along_axis(logp, y[:, None], axis=1))
        return loss, new_state

    grad_fn = jax.value_and_grad(loss_fn, has_aux=True)
    lr = wl.lr

    def sgd(params, opt, state, x, y):
        (loss, new_state), g = grad_fn(params, state, x, y)
        params = jax.tree_util.tree_map(lambda p, d: p - lr * d, params, g)
        return params, opt, new_state, loss

    def adam(params, opt, state, x, y, b1=0.9, b2=0.999, eps=1e-8):
        (loss, new_state), g = grad_fn(params, state, x, y)
        m, v, t = opt
        t = t + 1
        m = jax.tree_util.tree_map(lambda m, d: b1 * m + (1 - b1) * d, m, g)
        v = jax.tree_util.tree_map(lambda v, d: b2 * v + (1 - b2) * d * d, v, g)
        step = lr / (1 - b1**t)
        root = jnp.sqrt(1 - b2**t)
        params = jax.tree_util.tree_map(
            lambda p, m, v: p - step * m / (jnp.sqrt(v) / root + eps), params, m, v)
        return params, (m, v, t), new_state, loss

    return sgd if wl.optimizer == "sgd" else adam
