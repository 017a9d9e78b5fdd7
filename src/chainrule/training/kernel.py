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
in ``NUMBA_CACHE_DIR``, as :mod:`chainrule.training.fused` sets).  It follows the eager
engine's formulas in the eager order, each settings value computed in float64 as Python
does and then cast to the parameters' dtype, as NumPy casts a Python float: in float64 the
results agree with eager training to rounding (the tests check 1e-12 over whole runs).
``error_model="numpy"`` lets numba vectorise the loops (tanh over 1,600 values: 4.3 us to
0.9 us).
"""

from __future__ import annotations

import math
import threading
from typing import Any

import numpy as np

from . import fused

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
                numba = fused.numba_module()
                _kernels = None if numba is None else _build(numba)
            finally:
                _tried = True
    return _kernels


def _build(numba: Any) -> Any:
    njit = numba.njit(cache=True, error_model="numpy")

    @njit
    def linear(a: Any, w: Any, P: Any, b_off: int, z: Any, blas: int) -> None:
        """z = a @ w.T (+ b): the product first, then the bias, as the engine adds them."""
        n, n_out = z.shape
        n_in = a.shape[1]
        if blas:
            np.dot(a, w.T, z)
        else:
            for i in range(n):
                for j in range(n_out):
                    s = a[i, 0] * w[j, 0]
                    for k in range(1, n_in):
                        s += a[i, k] * w[j, k]
                    z[i, j] = s
        if b_off >= 0:
            for i in range(n):
                for j in range(n_out):
                    z[i, j] += P[b_off + j]

    @njit
    def activate(z: Any, act: int, slope: Any, floor: Any, one: Any) -> None:
        f = z.reshape(-1)
        if act == 1:
            for i in range(f.size):
                f[i] = np.tanh(f[i])
        elif act == 2:
            for i in range(f.size):
                t = max(f[i], floor)
                f[i] = one / (one + np.exp(-t))
        elif act == 3:
            for i in range(f.size):
                v = f[i]
                f[i] = v if v > 0 else 0
        elif act == 4:
            for i in range(f.size):
                v = f[i]
                f[i] = v if v > 0 else v * slope

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
        """The loss (float64) and d = dJ/d(out), by the plan's formulas."""
        n, k = out.shape
        total = 0.0
        cast[0] = scale
        s = cast[0]
        cast[0] = 0
        zero = cast[0]
        if kind == 0:  # mean squared error
            cast[0] = 2 * scale
            c = cast[0]
            for i in range(n):
                for j in range(k):
                    diff = out[i, j] - y[i, j]
                    total += diff * diff
                    d[i, j] = diff * c
        elif kind == 1:  # binary cross-entropy from the logits
            for i in range(n):
                for j in range(k):
                    v = out[i, j]
                    term = np.log1p(np.exp(-abs(v))) + max(v, zero) - v * y[i, j]
                    total += term
                    t = max(v, floor)
                    d[i, j] = (one / (one + np.exp(-t)) - y[i, j]) * s
        else:  # cross-entropy over the classes of each row
            for i in range(n):
                m = out[i, 0]
                for j in range(1, k):
                    m = max(m, out[i, j])
                row = zero
                for j in range(k):
                    e = np.exp(out[i, j] - m)
                    d[i, j] = e
                    row += e
                log_row = np.log(row)
                if kind == 2:
                    label = labels[i]
                    total -= (out[i, label] - m) - log_row
                    for j in range(k):
                        d[i, j] /= row
                    d[i, label] -= 1
                else:
                    ysum = zero
                    for j in range(k):
                        ysum += y[i, j]
                        total -= y[i, j] * ((out[i, j] - m) - log_row)
                    for j in range(k):
                        d[i, j] = d[i, j] / row * ysum - y[i, j]
                for j in range(k):
                    d[i, j] *= s
        return total * scale

    @njit
    def backward_layer(d: Any, a: Any, w: Any, G: Any, w_off: int, b_off: int,
                       prev: Any, blas: int) -> None:
        """dW = d.T @ a, db = column sums of d, and prev = d @ w when prev is not empty."""
        n, n_out = d.shape
        n_in = a.shape[1]
        gw = G[w_off:w_off + n_out * n_in].reshape((n_out, n_in))
        if blas:
            np.dot(d.T, a, gw)
        else:
            gw[:, :] = 0
            for i in range(n):
                for j in range(n_out):
                    dij = d[i, j]
                    for k in range(n_in):
                        gw[j, k] += dij * a[i, k]
        if b_off >= 0:
            gb = G[b_off:b_off + n_out]
            gb[:] = 0
            for i in range(n):
                for j in range(n_out):
                    gb[j] += d[i, j]
        if prev.shape[1] == n_in and prev.shape[0] == n:
            if blas:
                np.dot(d, w, prev)
            else:
                prev[:, :] = 0
                for i in range(n):
                    for j in range(n_out):
                        dij = d[i, j]
                        for k in range(n_in):
                            prev[i, k] += dij * w[j, k]

    @njit
    def update(P: Any, G: Any, S0: Any, S1: Any, S2: Any, hp: Any, kind: int,
               cast: Any) -> None:
        """One optimizer update of every parameter, in the optimizer's own order of
        operations (optim/optimizers.py), the settings cast to the parameters' dtype."""
        lr, wd, t = hp[0], hp[1], hp[12]
        maximize = hp[5] != 0
        cast[0] = lr
        lr_c = cast[0]
        cast[0] = wd
        wd_c = cast[0]
        if kind == 0:  # SGD
            mom = hp[2]
            cast[0] = mom
            mom_c = cast[0]
            cast[0] = 1 - hp[3]
            damp_c = cast[0]
            nesterov = hp[4] != 0
            for i in range(P.size):
                g = -G[i] if maximize else G[i]
                if wd != 0:
                    g = g + wd_c * P[i]
                if mom != 0:
                    if t == 1:
                        S0[i] = g
                    else:
                        S0[i] *= mom_c
                        S0[i] += damp_c * g if hp[3] != 0 else g
                    g = g + mom_c * S0[i] if nesterov else S0[i]
                P[i] -= lr_c * g
        elif kind == 1:  # Adam, AdamW
            b1, b2 = hp[6], hp[7]
            cast[0] = b1
            b1_c = cast[0]
            cast[0] = 1 - b1
            nb1_c = cast[0]
            cast[0] = b2
            b2_c = cast[0]
            cast[0] = 1 - b2
            nb2_c = cast[0]
            cast[0] = math.sqrt(1 - b2 ** t)
            bc2_c = cast[0]
            cast[0] = hp[8]
            eps_c = cast[0]
            cast[0] = lr / (1 - b1 ** t)
            step_c = cast[0]
            cast[0] = 1 - lr * wd
            shrink_c = cast[0]
            decoupled = hp[10] != 0
            amsgrad = hp[9] != 0
            for i in range(P.size):
                g = -G[i] if maximize else G[i]
                if wd != 0:
                    if decoupled:
                        P[i] *= shrink_c
                    else:
                        g = g + wd_c * P[i]
                S0[i] *= b1_c
                S0[i] += nb1_c * g
                S1[i] *= b2_c
                S1[i] += nb2_c * (g * g)
                v = S1[i]
                if amsgrad:
                    S2[i] = max(S2[i], v)
                    v = S2[i]
                denom = np.sqrt(v)
                denom /= bc2_c
                denom += eps_c
                P[i] -= step_c * (S0[i] / denom)
        elif kind == 2:  # RMSprop (its alpha in beta1's slot)
            alpha = hp[6]
            cast[0] = alpha
            alpha_c = cast[0]
            cast[0] = 1 - alpha
            nalpha_c = cast[0]
            cast[0] = hp[8]
            eps_c = cast[0]
            cast[0] = hp[2]
            mom_c = cast[0]
            centered = hp[11] != 0
            for i in range(P.size):
                g = -G[i] if maximize else G[i]
                if wd != 0:
                    g = g + wd_c * P[i]
                S0[i] *= alpha_c
                S0[i] += nalpha_c * (g * g)
                if centered:
                    S1[i] *= alpha_c
                    S1[i] += nalpha_c * g
                    denom = np.sqrt(S0[i] - S1[i] * S1[i])
                else:
                    denom = np.sqrt(S0[i])
                denom += eps_c
                if hp[2] > 0:
                    S2[i] *= mom_c
                    S2[i] += g / denom
                    P[i] -= lr_c * S2[i]
                else:
                    P[i] -= lr_c * (g / denom)

    @njit
    def train_step(x: Any, y: Any, labels: Any, P: Any, G: Any, S0: Any, S1: Any, S2: Any,
                   work: Any, meta: Any, hp: Any, loss: int, optimizer: int) -> float:
        """Forward, loss, backward and (optimizer >= 0) the update; returns the loss."""
        n = x.shape[0]
        layers = meta.shape[0]
        if loss == 2:  # a label outside the classes: nothing changes, the caller runs eagerly
            if labels.shape[0] != n:
                return -np.inf
            for i in range(n):
                if labels[i] < 0 or labels[i] >= meta[layers - 1, 1]:
                    return -np.inf
        cast = np.empty(1, P.dtype)  # a float64 setting cast to the dtype, as NumPy does
        empty = np.empty((0, 0), P.dtype)
        cast[0] = hp[14]
        floor = cast[0]
        cast[0] = 1
        one = cast[0]
        a = x
        for layer in range(layers):
            n_in, n_out, w_off, b_off = meta[layer, 0], meta[layer, 1], meta[layer, 2], \
                meta[layer, 3]
            act, a_off = meta[layer, 4], meta[layer, 5]
            w = P[w_off:w_off + n_out * n_in].reshape((n_out, n_in))
            z = work[a_off:a_off + n * n_out].reshape((n, n_out))
            linear(a, w, P, b_off, z, meta[layer, 7])
            cast[0] = hp[15 + layer]
            activate(z, act, cast[0], floor, one)
            a = z
        last = layers - 1
        d_off, n_out = meta[last, 6], meta[last, 1]
        d = work[d_off:d_off + n * n_out].reshape((n, n_out))
        value = loss_and_delta(a, y, labels, d, loss, hp[13], floor, one, cast)
        cast[0] = hp[15 + last]
        times_derivative(d, a, meta[last, 4], cast[0], one)
        for layer in range(last, -1, -1):
            n_in, n_out = meta[layer, 0], meta[layer, 1]
            w_off, d_off = meta[layer, 2], meta[layer, 6]
            w = P[w_off:w_off + n_out * n_in].reshape((n_out, n_in))
            d = work[d_off:d_off + n * n_out].reshape((n, n_out))
            if layer == 0:
                backward_layer(d, x, w, G, w_off, meta[layer, 3], empty, meta[layer, 7])
            else:
                a_off, p_off = meta[layer - 1, 5], meta[layer - 1, 6]
                a = work[a_off:a_off + n * n_in].reshape((n, n_in))
                prev = work[p_off:p_off + n * n_in].reshape((n, n_in))
                backward_layer(d, a, w, G, w_off, meta[layer, 3], prev, meta[layer, 7])
                cast[0] = hp[15 + layer - 1]
                times_derivative(prev, a, meta[layer - 1, 4], cast[0], one)
        if optimizer >= 0:
            update(P, G, S0, S1, S2, hp, optimizer, cast)
        return value

    class Kernels:
        pass

    ns = Kernels()
    ns.train_step = train_step
    # the parts, for tests and profiling
    ns.linear, ns.activate, ns.times_derivative = linear, activate, times_derivative
    ns.loss_and_delta, ns.backward_layer, ns.update = loss_and_delta, backward_layer, update
    return ns
