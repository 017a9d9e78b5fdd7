"""One numba kernel for a whole training step of a chain of fully connected layers.

A captured plan (:mod:`chainrule.training.plan`) replays a step as some twenty NumPy calls
and the optimizer's own ``step()``: on the course's 2-4-1 network each call costs about a
microsecond of dispatch, more than its arithmetic.  :func:`kernels` gives one compiled
function, ``train_step``, that runs forward, loss, backward and the optimizer's update in a
single call, over flat buffers that :mod:`chainrule.training.flat` lays out: every weight and
bias in one array ``P`` (the parameters' ``.data`` are views into it), their gradients in
``G``, the optimizer's state in one array per buffer, activations and deltas in ``work``.

The kernel is generic: the network is data (``meta``, one row per layer: sizes, offsets,
activation code, whether its products go to BLAS) and the settings are numbers (``hp``), so
one compilation serves every network of a dtype; numba caches it on disk (``cache=True``,
in ``NUMBA_CACHE_DIR``, as :func:`chainrule.nn.kernels.numba_module` sets).  It follows the eager
engine's formulas in the eager order, each settings value computed in float64 as Python
does and then cast to the parameters' dtype, as NumPy casts a Python float: in float64 the
results agree with eager training to rounding (the tests check 1e-12 over whole runs).
``error_model="numpy"`` lets numba vectorise the loops (tanh over 1,600 values: 4.3 us to
0.9 us).
"""

from __future__ import annotations

import threading
from typing import Any

import numpy as np

from ..nn.kernels import numba_module
from . import fused, updates, vmath

__all__ = ["ACT", "BLAS", "HP", "LOSS", "META", "OPTIMIZER", "kernels"]

# The columns of ``meta``, one row per layer.
META = {"n_in": 0, "n_out": 1, "w_off": 2, "b_off": 3, "act": 4, "a_off": 5, "d_off": 6,
        "blas": 7}
# The activation codes (fused.py's table, so both kernels agree).
ACT = fused.ACTIVATION_CODES
# Where a layer's products go to BLAS instead of the kernel's own loops: from this many
# multiply-adds per product (measured on 2 cores: below it a BLAS call costs more than the
# loop, e.g. the 400 x 2 x 4 product of the course's network).
BLAS = 8192
# The largest layer (batch x inputs x outputs multiply-adds) the one-call kernel takes; past it
# the step is its matrix products and the NumPy plan, which hands each to BLAS with the
# activations in NumPy's own vectorised loops, is faster: measured on 2 cores, float32, the
# 64-wide layers of W4 (262,144) ran 2x faster as the kernel, 784-128-10 at batch 128
# (12,845,056) 1.6x slower (870 against 550 us); the gate sits between the two.
LARGEST = 1 << 20
LOSS = {"mse": 0, "bce_logits": 1, "ce_labels": 2, "ce_soft": 3}
OPTIMIZER = {"none": -1, "sgd": 0, "adam": 1, "rmsprop": 2}
# The slots of ``hp`` (float64): the optimizer's settings, the loss's scale, the sigmoid's
# floor, then one activation option (LeakyReLU's slope) per layer from ``slopes`` on.
HP = {"lr": 0, "weight_decay": 1, "momentum": 2, "dampening": 3, "nesterov": 4,
      "maximize": 5, "beta1": 6, "beta2": 7, "eps": 8, "amsgrad": 9, "decoupled": 10,
      "centered": 11, "step": 12, "scale": 13, "floor": 14, "slopes": 15}

_kernels: Any = None
_tried = False
_lock = threading.Lock()


def kernels() -> Any:
    """The compiled step kernel as a namespace with ``train_step``, or None without numba
    (or with CHAINRULE_NO_NUMBA set).  Built once, under a lock, as fused.kernels()."""
    global _kernels, _tried
    if _tried:
        return _kernels
    with _lock:
        if not _tried:
            try:
                numba = numba_module()
                _kernels = None if numba is None else _build(numba)
            finally:
                _tried = True
    return _kernels


def _build(numba: Any) -> Any:
    njit = numba.njit(cache=True, error_model="numpy")
    # sums whose order may change so that they vectorise (a sum over the batch)
    njit_sum = numba.njit(cache=True, error_model="numpy", fastmath={"reassoc"})
    v = vmath.build(numba)
    vexp, vtanh, vlog1p = v.exp, v.tanh, v.log1p
    update = updates.build(numba)

    @njit_sum
    def dot(a: Any, b: Any) -> Any:
        s = a[0] * b[0]
        for i in range(1, a.size):
            s += a[i] * b[i]
        return s

    @njit_sum
    def total(a: Any) -> Any:
        s = a[0]
        for i in range(1, a.size):
            s += a[i]
        return s

    @njit
    def linear(at: Any, w: Any, P: Any, b_off: int, zt: Any, blas: int) -> None:
        """zt = w @ at (+ b): the product first, then the bias, as the engine adds them.
        Activations are stored a feature per row (``at`` is the batch transposed), so
        that every loop runs along the batch and vectorises."""
        n_out, n_in = w.shape
        n = zt.shape[1]
        if blas:
            np.dot(w, at, zt)
        else:
            for j in range(n_out):
                w0 = w[j, 0]
                for i in range(n):
                    zt[j, i] = w0 * at[0, i]
                for k in range(1, n_in):
                    wk = w[j, k]
                    for i in range(n):
                        zt[j, i] += wk * at[k, i]
        if b_off >= 0:
            for j in range(n_out):
                b = P[b_off + j]
                for i in range(n):
                    zt[j, i] += b

    @njit
    def activate(z: Any, act: int, slope: Any, floor: Any, one: Any) -> None:
        f = z.reshape(-1)
        if act == 1:
            for i in range(f.size):
                f[i] = vtanh(f[i])
        elif act == 2:
            for i in range(f.size):
                f[i] = vexp(-max(f[i], floor))
                f[i] = one / (one + f[i])
        elif act == 3:
            for i in range(f.size):
                u = f[i]
                f[i] = u if u > 0 else 0
        elif act == 4:
            for i in range(f.size):
                u = f[i]
                f[i] = u if u > 0 else u * slope

    @njit
    def times_derivative(d: Any, a: Any, act: int, slope: Any, one: Any) -> None:
        """d *= g'(z), read off the activation's output a = g(z)."""
        g = d.reshape(-1)
        o = a.reshape(-1)
        if act == 1:
            for i in range(g.size):
                g[i] *= one - o[i] * o[i]
        elif act == 2:
            for i in range(g.size):
                g[i] *= o[i] * (one - o[i])
        elif act == 3:
            for i in range(g.size):
                g[i] = g[i] if o[i] > 0 else 0
        elif act == 4:
            for i in range(g.size):
                g[i] = g[i] if o[i] > 0 else g[i] * slope

    @njit
    def loss_and_delta(out: Any, y: Any, labels: Any, d: Any, kind: int, scale: float,
                       floor: Any, one: Any, cast: Any) -> float:
        """The loss (float64) and d = dJ/d(out), by the plan's formulas; ``out`` and ``d``
        a class per row, ``y`` an example per row."""
        k, n = out.shape
        value = 0.0
        cast[0] = scale
        s = cast[0]
        cast[0] = 0
        zero = cast[0]
        if kind == 0:  # mean squared error
            cast[0] = 2 * scale
            c = cast[0]
            for j in range(k):
                for i in range(n):
                    diff = out[j, i] - y[i, j]
                    value += diff * diff
                    d[j, i] = diff * c
        elif kind == 1:  # binary cross-entropy from the logits
            # the terms summed apart: a running sum in the loop would stop it vectorising
            terms = np.empty(n, np.float64)
            for j in range(k):
                for i in range(n):
                    u = out[j, i]
                    t = y[i, j]
                    terms[i] = vlog1p(vexp(-abs(u))) + max(u, zero) - u * t
                    d[j, i] = (one / (one + vexp(-max(u, floor))) - t) * s
                value += total(terms)
        else:  # cross-entropy over the classes of each example
            m = out[0].copy()
            for j in range(1, k):
                for i in range(n):
                    m[i] = max(m[i], out[j, i])
            row = np.zeros(n, out.dtype)
            for j in range(k):
                for i in range(n):
                    d[j, i] = vexp(out[j, i] - m[i])
                    row[i] += d[j, i]
            log_row = np.log(row)
            if kind == 2:
                for i in range(n):
                    value -= (out[labels[i], i] - m[i]) - log_row[i]
                for j in range(k):
                    for i in range(n):
                        d[j, i] /= row[i]
                for i in range(n):
                    d[labels[i], i] -= 1
            else:
                ysum = np.zeros(n, out.dtype)
                for j in range(k):
                    for i in range(n):
                        ysum[i] += y[i, j]
                        value -= y[i, j] * ((out[j, i] - m[i]) - log_row[i])
                for j in range(k):
                    for i in range(n):
                        d[j, i] = d[j, i] / row[i] * ysum[i] - y[i, j]
            for j in range(k):
                for i in range(n):
                    d[j, i] *= s
        return value * scale

    @njit
    def backward(d: Any, at: Any, w: Any, G: Any, w_off: int, b_off: int, prev: Any,
                 blas: int) -> None:
        """dW = d @ at.T, db = row sums of d, and prev = w.T @ d when prev is not empty
        (all a feature per row)."""
        n_out, n_in = w.shape
        n = d.shape[1]
        gw = G[w_off:w_off + n_out * n_in].reshape((n_out, n_in))
        if blas:
            np.dot(d, at.T, gw)
        else:
            for j in range(n_out):
                for k in range(n_in):
                    gw[j, k] = dot(d[j], at[k])
        if b_off >= 0:
            for j in range(n_out):
                G[b_off + j] = total(d[j])
        if prev.shape[0] == n_in:
            if blas:
                np.dot(w.T, d, prev)
            else:
                for k in range(n_in):
                    w0 = w[0, k]
                    for i in range(n):
                        prev[k, i] = w0 * d[0, i]
                    for j in range(1, n_out):
                        wj = w[j, k]
                        for i in range(n):
                            prev[k, i] += wj * d[j, i]

    @njit
    def train_step(x: Any, y: Any, labels: Any, P: Any, G: Any, S0: Any, S1: Any, S2: Any,
                   work: Any, meta: Any, hp: Any, loss: int, optimizer: int) -> float:
        """Forward, loss, backward and (optimizer >= 0) the update; returns the loss, or
        -inf (having changed nothing) where a label is not one of the classes."""
        n = x.shape[0]
        layers = meta.shape[0]
        last = layers - 1
        if loss == 2:
            if labels.shape[0] != n:
                return -np.inf
            for i in range(n):
                if labels[i] < 0 or labels[i] >= meta[last, 1]:
                    return -np.inf
        cast = np.empty(1, P.dtype)  # a float64 setting cast to the dtype, as NumPy does
        cast[0] = hp[14]
        floor = cast[0]
        cast[0] = 1
        one = cast[0]
        # the batch a feature per row, where the first layer's loops read it
        xt = np.ascontiguousarray(x.T) if meta[0, 7] == 0 else np.empty((0, 0), P.dtype)
        for layer in range(layers):
            n_in, n_out, w_off = meta[layer, 0], meta[layer, 1], meta[layer, 2]
            a_off = meta[layer, 5]
            w = P[w_off:w_off + n_out * n_in].reshape((n_out, n_in))
            zt = work[a_off:a_off + n * n_out].reshape((n_out, n))
            if layer == 0:
                if meta[0, 7]:
                    linear(x.T, w, P, meta[0, 3], zt, 1)
                else:
                    linear(xt, w, P, meta[0, 3], zt, 0)
            else:
                p_off = meta[layer - 1, 5]
                at = work[p_off:p_off + n * n_in].reshape((n_in, n))
                linear(at, w, P, meta[layer, 3], zt, meta[layer, 7])
            cast[0] = hp[15 + layer]
            activate(zt, meta[layer, 4], cast[0], floor, one)
        a_off, d_off, n_out = meta[last, 5], meta[last, 6], meta[last, 1]
        out = work[a_off:a_off + n * n_out].reshape((n_out, n))
        d = work[d_off:d_off + n * n_out].reshape((n_out, n))
        value = loss_and_delta(out, y, labels, d, loss, hp[13], floor, one, cast)
        cast[0] = hp[15 + last]
        times_derivative(d, out, meta[last, 4], cast[0], one)
        for layer in range(last, -1, -1):
            n_in, n_out = meta[layer, 0], meta[layer, 1]
            w_off, d_off, b_off = meta[layer, 2], meta[layer, 6], meta[layer, 3]
            w = P[w_off:w_off + n_out * n_in].reshape((n_out, n_in))
            d = work[d_off:d_off + n * n_out].reshape((n_out, n))
            if layer == 0:
                none = np.empty((0, 0), P.dtype)
                if meta[0, 7]:
                    backward(d, x.T, w, G, w_off, b_off, none, 1)
                else:
                    backward(d, xt, w, G, w_off, b_off, none, 0)
            else:
                a_off, p_off = meta[layer - 1, 5], meta[layer - 1, 6]
                at = work[a_off:a_off + n * n_in].reshape((n_in, n))
                prev = work[p_off:p_off + n * n_in].reshape((n_in, n))
                backward(d, at, w, G, w_off, b_off, prev, meta[layer, 7])
                cast[0] = hp[15 + layer - 1]
                times_derivative(prev, at, meta[layer - 1, 4], cast[0], one)
        if optimizer >= 0:
            update(P, G, S0, S1, S2, hp, optimizer, cast)
        return value

    class Kernels:
        pass

    ns = Kernels()
    ns.train_step = train_step
    # the parts, for tests and profiling
    ns.linear, ns.activate, ns.times_derivative = linear, activate, times_derivative
    ns.loss_and_delta, ns.backward, ns.update = loss_and_delta, backward, update
    return ns
