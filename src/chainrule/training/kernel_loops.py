"""The step kernel's loops, compiled by numba on import (and cached on disk): forward, loss,
backward and update of a chain of fully connected layers in one call.
:func:`chainrule.training.kernel.kernels` imports this module once numba is known to be there
(:func:`chainrule.nn.kernels.numba_module` sets the cache folder first); the layout of
``meta`` and ``hp`` is :mod:`chainrule.training.kernel`'s.

The functions live at module level and call each other through the module's globals: numba
keys a cached function by its closure's contents too, and a closure holding another compiled
function (whose pickled form differs in every process) missed the cache in every new process,
compiling the kernel again (about 5 s) on each first compiled step.  numba checks the cache
against this file only: after a change to vmath.py or optim/updates.py alone, empty the cache
folder (an installed release changes every file at once).
"""

from __future__ import annotations

from typing import Any

import numba
import numpy as np

from ..optim.updates import update
from .vmath import exp, log1p, tanh

__all__ = ["backward", "finite", "gradients", "linear", "loss_and_delta", "train_epoch",
           "train_epochs", "train_step"]

_njit = numba.njit(cache=True, error_model="numpy")
# sums whose order may change so that they vectorise (a sum over the batch)
_njit_sum = numba.njit(cache=True, error_model="numpy", fastmath={"reassoc"})


@_njit_sum
def dot(a: Any, b: Any) -> Any:
    s = a[0] * b[0]
    for i in range(1, a.size):
        s += a[i] * b[i]
    return s

@_njit_sum
def total(a: Any) -> Any:
    s = a[0]
    for i in range(1, a.size):
        s += a[i]
    return s

@_njit
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

@_njit
def activate(z: Any, act: int, slope: Any, floor: Any, one: Any) -> None:
    f = z.reshape(-1)
    if act == 1:
        for i in range(f.size):
            f[i] = tanh(f[i])
    elif act == 2:
        for i in range(f.size):
            f[i] = exp(-max(f[i], floor))
            f[i] = one / (one + f[i])
    elif act == 3:
        for i in range(f.size):
            u = f[i]
            f[i] = u if u > 0 else 0
    elif act == 4:
        for i in range(f.size):
            u = f[i]
            f[i] = u if u > 0 else u * slope

@_njit
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

@_njit
def loss_and_delta(out: Any, y: Any, labels: Any, d: Any, kind: int, scale: float,
                   one: Any, cast: Any) -> float:
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
                e = exp(-abs(u))  # one exp for both: sigmoid(u) = 1/(1+e) or e/(1+e)
                terms[i] = log1p(e) + max(u, zero) - u * t
                d[j, i] = ((one if u >= zero else e) / (one + e) - t) * s
            value += total(terms)
    else:  # cross-entropy over the classes of each example
        m = out[0].copy()
        for j in range(1, k):
            for i in range(n):
                m[i] = max(m[i], out[j, i])
        row = np.zeros(n, out.dtype)
        for j in range(k):
            for i in range(n):
                d[j, i] = exp(out[j, i] - m[i])
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

@_njit
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

@_njit
def train_step(x: Any, y: Any, labels: Any, P: Any, G: Any, S0: Any, S1: Any, S2: Any,
               work: Any, meta: Any, hp: Any, loss: int, optimizer: int) -> float:
    """Forward, loss, backward and (optimizer >= 0) the update; returns the loss, or
    -inf (having changed nothing) where a label is not one of the classes."""
    n = x.shape[0]
    if loss == 2:
        if labels.shape[0] != n:
            return -np.inf
        for i in range(n):
            if labels[i] < 0 or labels[i] >= meta[meta.shape[0] - 1, 1]:
                return -np.inf
    value = gradients(x, y, labels, P, G, work, meta, hp, loss)
    if optimizer >= 0:
        cast = np.empty(1, P.dtype)
        update(P, G, S0, S1, S2, hp, optimizer, cast)
    return value


@_njit
def gradients(x: Any, y: Any, labels: Any, P: Any, G: Any, work: Any, meta: Any, hp: Any,
              loss: int) -> float:
    """Forward, loss and backward of the batch ``x``: the loss, with dJ/dP in ``G`` and the
    activations in ``work`` (the labels already checked)."""
    n = x.shape[0]
    layers = meta.shape[0]
    last = layers - 1
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
    value = loss_and_delta(out, y, labels, d, loss, hp[13], one, cast)
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
    return value


@_njit_sum
def finite(a: Any) -> bool:
    """Whether every value of the flat array ``a`` is finite (a sum carries any NaN or
    infinity through; only when it is not finite look value by value)."""
    s = 0.0
    for i in range(a.size):
        s += a[i]
    if np.isfinite(s):
        return True
    for i in range(a.size):  # noqa: SIM110 (numba compiles no generator in all())
        if not np.isfinite(a[i]):
            return False
    return True


@_njit
def train_epoch(X: Any, Y: Any, labels: Any, order: Any, starts: Any, scales: Any, first: int,
                P: Any, G: Any, S0: Any, S1: Any, S2: Any, backup: Any, work: Any,
                meta: Any, hp: Any, loss: int, optimizer: int, guard: bool, losses: Any,
                outputs: Any, xb: Any, yb: Any, lb: Any, gather: bool) -> tuple[int, int]:
    """Batches ``first``, ``first + 1``, ... of an epoch, each a step of
    :func:`train_step`: batch ``b`` is the rows ``order[starts[b]:starts[b + 1]]`` of ``X``
    (and of ``Y`` or ``labels``), gathered into ``xb`` (``yb``, ``lb``), its loss scaled by
    ``scales[b]`` (without ``gather``, ``order`` is every row in order, and a batch is read
    where it lies: no copy).  Each batch's loss goes to ``losses[b]`` and the model's outputs for it
    (before its update) to its rows of ``outputs``, in the epoch's order; ``hp``'s step
    number counts the updates.  With ``guard``, as the training loop's non-finite guard: a
    batch whose loss or a gradient is not finite stops the epoch before its update (code 1),
    and an update that makes a weight non-finite stops it after (code 2, ``backup`` holding
    the weights from before).  Returns (the batch it stopped at, or the number of batches;
    the code, 0 when every batch was stepped)."""
    steps = starts.shape[0] - 1
    last = meta.shape[0] - 1
    k, a_off = meta[last, 1], meta[last, 5]
    cast = np.empty(1, P.dtype)
    for b in range(first, steps):
        s0 = starts[b]
        m = starts[b + 1] - s0
        if gather:  # element by element: a row view a row costs more than its copy
            for r in range(m):
                src = order[s0 + r]
                for c in range(X.shape[1]):
                    xb[r, c] = X[src, c]
                if loss == 2:
                    lb[r] = labels[src]
                else:
                    for c in range(Y.shape[1]):
                        yb[r, c] = Y[src, c]
            x, y, lab = xb[:m], yb[:m], lb[:m]
        else:
            x, y = X[s0:s0 + m], Y[s0:s0 + m] if loss != 2 else yb[:m]
            lab = labels[s0:s0 + m] if loss == 2 else lb[:m]
        hp[13] = scales[b]
        value = gradients(x, y, lab, P, G, work, meta, hp, loss)
        losses[b] = value
        out = work[a_off:a_off + m * k].reshape((k, m))
        for r in range(m):
            for j in range(k):
                outputs[s0 + r, j] = out[j, r]
        if guard:
            if not np.isfinite(value) or not finite(G):
                return b, 1
            backup[:] = P
        hp[12] += 1
        update(P, G, S0, S1, S2, hp, optimizer, cast)
        if guard and not finite(P):
            return b, 2
    return steps, 0


@_njit
def train_epochs(X: Any, Y: Any, labels: Any, orders: Any, starts: Any, scales: Any,
                 epochs: int, P: Any, G: Any, S0: Any, S1: Any, S2: Any, backup: Any,
                 work: Any, meta: Any, hp: Any, loss: int, optimizer: int, guard: bool,
                 losses: Any, outputs: Any, xb: Any, yb: Any, lb: Any,
                 gather: bool) -> tuple[int, int, int]:
    """``epochs`` whole epochs, one after the other, each :func:`train_epoch` from its first
    batch: epoch ``e`` walks the rows in ``orders[e]`` (or ``orders[0]`` when it holds one
    order for all), its batches' losses go to ``losses[e]`` and its outputs to
    ``outputs[e]``.  Returns (the epoch it stopped in, or ``epochs``; the batch; the code of
    :func:`train_epoch`, 0 when every epoch was run)."""
    for e in range(epochs):
        order = orders[e] if orders.shape[0] > 1 else orders[0]
        stop, code = train_epoch(X, Y, labels, order, starts, scales, 0, P, G, S0, S1, S2,
                                 backup, work, meta, hp, loss, optimizer, guard, losses[e],
                                 outputs[e], xb, yb, lb, gather)
        if code != 0:
            return e, stop, code
    return epochs, 0, 0
