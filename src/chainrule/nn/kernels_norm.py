"""Batch normalisation in training (statistics, normalisation and affine map) and its
backward as plain loops for numba to compile (:mod:`chainrule.nn.kernels`);
:mod:`chainrule.nn.normalize` calls them on NumPy arrays of rank 3 or more only.

NumPy needs a call, and a pass over memory, for each of the mean, the centred values, their
squares, the variance, the scaling and the affine map (the backward: two sums, then four
steps of the three-term formula).  Here each channel is read twice and written once forward
(the mean, then the variance of the centred values, then xhat and the output), and read
twice and written once backward.  The sums run in float64 through one accumulator per
position along the channel's rows (lanes that need no reassociation, so the loop vectorises
without fastmath); the values saved for backward are those of the NumPy formulas.
"""

from __future__ import annotations

import math
from typing import Any

import numpy

from .workspace import Workspace, empty

__all__ = ["KERNELS", "batch_norm_backward", "batch_norm_forward", "grad_arrays",
           "layer_norm_arrays", "layer_norm_backward", "layer_norm_forward",
           "layer_norm_grad_arrays", "train_arrays", "usable"]


def batch_norm_forward(x: Any, gamma: Any, beta: Any, eps: float, xhat: Any, out: Any,
                       mean: Any, var: Any, inv_std: Any, acc: Any) -> None:
    """For ``x`` (N, C, S): per channel the mean and biased variance (float64), ``inv_std``
    = 1/sqrt(var + eps) in x's dtype, ``xhat`` and ``out = xhat * gamma + beta``; ``acc`` is
    float64 scratch of length S."""
    n, c, s = x.shape
    m = n * s
    for ci in range(c):
        acc[:] = 0.0
        for b in range(n):
            row = x[b, ci]
            for t in range(s):
                acc[t] += row[t]
        mu = acc.sum() / m
        acc[:] = 0.0
        for b in range(n):
            row = x[b, ci]
            for t in range(s):
                d = row[t] - mu
                acc[t] += d * d
        v = acc.sum() / m
        mean[ci] = mu
        var[ci] = v
        inv_std[ci] = 1.0 / math.sqrt(v + eps)
        iv = inv_std[ci]
        g = gamma[ci]
        be = beta[ci]
        for b in range(n):
            row = x[b, ci]
            xrow = xhat[b, ci]
            orow = out[b, ci]
            for t in range(s):
                xrow[t] = (row[t] - mu) * iv
                orow[t] = xrow[t] * g + be


def batch_norm_backward(g: Any, xhat: Any, gamma: Any, inv_std: Any, need_dx: bool, dx: Any,
                        dgamma: Any, dbeta: Any, acc: Any, acc2: Any) -> None:
    """``dbeta = sum(g)``, ``dgamma = sum(g * xhat)`` per channel and (``need_dx``) ``dx =
    gamma * inv_std * (g - dbeta/m - xhat * dgamma/m)``; ``acc``, ``acc2`` float64 scratch."""
    n, c, s = g.shape
    m = n * s
    for ci in range(c):
        acc[:] = 0.0
        acc2[:] = 0.0
        for b in range(n):
            grow = g[b, ci]
            xrow = xhat[b, ci]
            for t in range(s):
                acc[t] += grow[t]
                acc2[t] += grow[t] * xrow[t]
        sg = acc.sum()
        sgx = acc2.sum()
        dbeta[ci] = sg
        dgamma[ci] = sgx
        if need_dx:
            scale = gamma[ci] * inv_std[ci]
            a = dbeta[ci] / m
            k = dgamma[ci] / m
            for b in range(n):
                grow = g[b, ci]
                xrow = xhat[b, ci]
                drow = dx[b, ci]
                for t in range(s):
                    drow[t] = (grow[t] - a - xrow[t] * k) * scale


def layer_norm_forward(x: Any, gamma: Any, beta: Any, eps: float, xhat: Any, out: Any,
                       inv_std: Any) -> None:
    """For ``x`` (R, D): per row the mean and biased variance (float64), ``inv_std`` in x's
    dtype, ``xhat`` and ``out = xhat * gamma + beta`` (gamma, beta of length D)."""
    rows, d = x.shape
    lanes = numpy.zeros(8)
    body = d - d % 8
    for r in range(rows):
        row = x[r]
        lanes[:] = 0.0
        for t0 in range(0, body, 8):  # 8 independent sums: a vector add, no reassociation
            for k in range(8):
                lanes[k] += row[t0 + k]
        total = lanes.sum()
        for t in range(body, d):
            total += row[t]
        mu = total / d
        lanes[:] = 0.0
        for t0 in range(0, body, 8):
            for k in range(8):
                dev = row[t0 + k] - mu
                lanes[k] += dev * dev
        total = lanes.sum()
        for t in range(body, d):
            dev = row[t] - mu
            total += dev * dev
        inv_std[r] = 1.0 / math.sqrt(total / d + eps)
        iv = inv_std[r]
        xrow = xhat[r]
        orow = out[r]
        for t in range(d):
            xrow[t] = (row[t] - mu) * iv
            orow[t] = xrow[t] * gamma[t] + beta[t]


def layer_norm_backward(g: Any, xhat: Any, gamma: Any, inv_std: Any, need_dx: bool, dx: Any,
                        dgamma: Any, dbeta: Any) -> None:
    """``dgamma = sum(g * xhat)``, ``dbeta = sum(g)`` over the rows (float64, length D) and
    (``need_dx``) ``dx = (d - mean(d) - xhat * mean(d * xhat)) * inv_std`` with d = g *
    gamma, the means over each row."""
    rows, d = g.shape
    dgamma[:] = 0.0
    dbeta[:] = 0.0
    lanes = numpy.zeros(8)
    lanes2 = numpy.zeros(8)
    body = d - d % 8
    for r in range(rows):
        grow = g[r]
        xrow = xhat[r]
        for t in range(d):
            dgamma[t] += grow[t] * xrow[t]
            dbeta[t] += grow[t]
        if not need_dx:
            continue
        lanes[:] = 0.0
        lanes2[:] = 0.0
        for t0 in range(0, body, 8):
            for k in range(8):
                v = grow[t0 + k] * gamma[t0 + k]
                lanes[k] += v
                lanes2[k] += v * xrow[t0 + k]
        s1 = lanes.sum()
        s2 = lanes2.sum()
        for t in range(body, d):
            v = grow[t] * gamma[t]
            s1 += v
            s2 += v * xrow[t]
        a = s1 / d
        k2 = s2 / d
        iv = inv_std[r]
        drow = dx[r]
        for t in range(d):
            drow[t] = (grow[t] * gamma[t] - a - xrow[t] * k2) * iv


KERNELS = ("batch_norm_forward", "batch_norm_backward", "layer_norm_forward",
           "layer_norm_backward")
"""The loops above, which :mod:`chainrule.nn.kernels` compiles."""


def usable(xd: Any, rank: int = 3) -> bool:
    """Whether the compiled loops normalise ``xd``: a NumPy array of float32 or float64 of
    rank ``rank`` or more (batch norm: 3; with one value per channel and example NumPy's
    formulas are as fast)."""
    return type(xd) is numpy.ndarray and xd.dtype.char in "fd" and xd.ndim >= rank


def _rows(a: Any) -> Any:
    return numpy.ascontiguousarray(a).reshape(a.shape[0], a.shape[1], -1)


def train_arrays(kern: Any, xd: Any, gamma: Any, beta: Any, eps: float,
                 ws: Workspace | None = None) -> tuple[Any, Any, Any, Any, Any]:
    """``(out, xhat, inv_std, mean, var)`` of batch normalisation in training; ``gamma`` and
    ``beta`` (C,) or None; mean and var float64 (C,), inv_std (C,) in x's dtype; out and
    xhat come from ``ws`` (a layer's workspace) where given."""
    x3 = _rows(xd)
    c = x3.shape[1]
    dt = xd.dtype
    xhat = empty(ws, "xhat", x3.shape, dt)
    out = empty(ws, "out", x3.shape, dt)
    mean = numpy.empty(c)
    var = numpy.empty(c)
    inv_std = numpy.empty(c, dtype=dt)
    gamma = numpy.ones(c, dtype=dt) if gamma is None else gamma
    beta = numpy.zeros(c, dtype=dt) if beta is None else beta
    kern.batch_norm_forward(x3, gamma, beta, eps, xhat, out, mean, var, inv_std,
                            numpy.empty(x3.shape[2]))
    return out.reshape(xd.shape), xhat.reshape(xd.shape), inv_std, mean, var


def grad_arrays(kern: Any, g: Any, xhat: Any, gamma: Any, inv_std: Any, need_dx: bool,
                ws: Workspace | None = None) -> tuple[Any, Any, Any]:
    """``(dx or None, dgamma, dbeta)``, the last two (C,) in g's dtype; dx comes from ``ws``
    where given."""
    g3, x3 = _rows(g), _rows(xhat)
    c = g3.shape[1]
    dt = g.dtype
    dx = (empty(ws, "input gradient", g3.shape, dt) if need_dx
          else numpy.empty((0, 0, 0), dtype=dt))
    dgamma = numpy.empty(c, dtype=dt)
    dbeta = numpy.empty(c, dtype=dt)
    gamma = numpy.ones(c, dtype=dt) if gamma is None else gamma.reshape(c)
    s = g3.shape[2]
    kern.batch_norm_backward(g3, x3, gamma, inv_std.reshape(c), need_dx, dx, dgamma, dbeta,
                             numpy.empty(s), numpy.empty(s))
    return (dx.reshape(g.shape) if need_dx else None), dgamma, dbeta


def layer_norm_arrays(kern: Any, xd: Any, d: int, gamma: Any, beta: Any, eps: float
                      ) -> tuple[Any, Any, Any]:
    """``(out, xhat, inv_std)`` of layer normalisation over the last ``d`` values of each
    row; ``gamma`` and ``beta`` of the normalised shape, or None; inv_std shaped like x
    with the normalised axes of length 1."""
    x2 = numpy.ascontiguousarray(xd).reshape(-1, d)
    dt = xd.dtype
    xhat = numpy.empty(x2.shape, dtype=dt)
    out = numpy.empty(x2.shape, dtype=dt)
    inv_std = numpy.empty(x2.shape[0], dtype=dt)
    gamma = numpy.ones(d, dtype=dt) if gamma is None else gamma.reshape(d)
    beta = numpy.zeros(d, dtype=dt) if beta is None else beta.reshape(d)
    kern.layer_norm_forward(x2, gamma, beta, eps, xhat, out, inv_std)
    return out.reshape(xd.shape), xhat.reshape(xd.shape), inv_std


def layer_norm_grad_arrays(kern: Any, g: Any, xhat: Any, d: int, gamma: Any, inv_std: Any,
                           need_dx: bool) -> tuple[Any, Any, Any]:
    """``(dx or None, dgamma, dbeta)`` of layer normalisation over the last ``d`` values of
    each row, the last two flat (D,) in g's dtype."""
    g2 = numpy.ascontiguousarray(g).reshape(-1, d)
    x2 = numpy.ascontiguousarray(xhat).reshape(-1, d)
    dt = g.dtype
    dx = numpy.empty(g2.shape, dtype=dt) if need_dx else numpy.empty((0, 0), dtype=dt)
    dgamma, dbeta = numpy.empty(d), numpy.empty(d)
    gamma = numpy.ones(d, dtype=dt) if gamma is None else gamma.reshape(d)
    kern.layer_norm_backward(g2, x2, gamma, inv_std.reshape(-1), need_dx, dx, dgamma, dbeta)
    return ((dx.reshape(g.shape) if need_dx else None), dgamma.astype(dt, copy=False),
            dbeta.astype(dt, copy=False))
