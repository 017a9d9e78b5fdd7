"""Max pooling that keeps each window's argmax, and its backward, as plain loops for numba to
compile (:mod:`chainrule.nn.kernels`); :mod:`chainrule.nn.pooling` calls them on NumPy
arrays only.

The forward writes, beside each window's maximum, where in the window it sat (``i*kw + j``,
the first on ties, NaN counting as the largest, as NumPy's ``argmax`` and PyTorch), so the
backward is one pass that adds each output gradient at its input position, instead of
comparing the input with the maxima again.  With ``relu`` the forward computes
``max_pool2d(relu(x))``: max and relu commute, so each window's maximum is found first and
cut at zero, and a window whose maximum is not positive passes no gradient (index -1), as
relu's derivative (0 at 0) gives.  The input is padded with -inf first, as PyTorch pads.
"""

from __future__ import annotations

from typing import Any

import numpy

from . import kernels_conv
from .workspace import Workspace, empty

__all__ = ["KERNELS", "max_pool", "max_pool_2x2", "max_pool_arrays", "max_route",
           "route_arrays", "usable"]


def max_pool(xp: Any, kh: int, kw: int, sh: int, sw: int, relu: bool, out: Any,
             where: Any) -> None:
    """``out[b, c, y, q]`` the maximum of the window at (y*sh, q*sw) of the padded input
    ``xp`` (N, C, H, W), ``where`` its index in the window (-1 where relu cut it).  The
    loops run along an output row, one kernel offset at a time (a loop per window, with its
    four comparisons, ran 3x slower)."""
    n, c = xp.shape[0], xp.shape[1]
    oh, ow = out.shape[2], out.shape[3]
    for b in range(n):
        for ci in range(c):
            for y in range(oh):
                orow = out[b, ci, y]
                wrow = where[b, ci, y]
                for i in range(kh):
                    line = xp[b, ci, y * sh + i]
                    for j in range(kw):
                        src = line[j::sw]
                        k = i * kw + j
                        if k == 0:
                            for q in range(ow):
                                orow[q] = src[q]
                                wrow[q] = 0
                            continue
                        for q in range(ow):
                            v = src[q]
                            best = orow[q]
                            if v > best or (v != v and best == best):
                                orow[q] = v
                                wrow[q] = k
                if relu:
                    for q in range(ow):
                        if not orow[q] > 0:
                            wrow[q] = -1
                            if orow[q] == orow[q]:
                                orow[q] = 0.0


def max_pool_2x2(xp: Any, relu: bool, out: Any, where: Any) -> bool:
    """:func:`max_pool` for 2x2 windows with stride 2 (LeNet's, VGG's), with the window's
    positions written out and selects instead of branches: 65 us against 380 on a 64 x 6 x
    28 x 28 float32 batch (a comparison that branches on random data is mispredicted half
    the time).  It leaves NaN to :func:`max_pool`: it returns True when it met one, and the
    caller runs that instead."""
    n, c = xp.shape[0], xp.shape[1]
    oh, ow = out.shape[2], out.shape[3]
    nan = False
    for b in range(n):
        for ci in range(c):
            for y in range(oh):
                r0 = xp[b, ci, 2 * y]
                r1 = xp[b, ci, 2 * y + 1]
                orow = out[b, ci, y]
                wrow = where[b, ci, y]
                for q in range(ow):
                    v0 = r0[2 * q]
                    v1 = r0[2 * q + 1]
                    v2 = r1[2 * q]
                    v3 = r1[2 * q + 1]
                    nan |= (v0 != v0) | (v1 != v1) | (v2 != v2) | (v3 != v3)
                    m = v0
                    k = 0
                    t = v1 > m
                    m = v1 if t else m
                    k = 1 if t else k
                    t = v2 > m
                    m = v2 if t else m
                    k = 2 if t else k
                    t = v3 > m
                    m = v3 if t else m
                    k = 3 if t else k
                    if relu:
                        t = m > 0
                        k = k if t else -1
                        m = m if t else 0.0
                    orow[q] = m
                    wrow[q] = k
    return nan


def max_route(g: Any, where: Any, kh: int, kw: int, sh: int, sw: int, dxp: Any) -> None:
    """``dxp`` (the padded input's shape) set to each window's gradient ``g`` added at its
    maximum.  Flat indices with a table of the window offsets: ``k // kw`` per window (an
    integer division) made this 3x slower."""
    h, w = dxp.shape[2], dxp.shape[3]
    oh, ow = g.shape[2], g.shape[3]
    gf = g.ravel()
    wf = where.ravel()
    df = dxp.ravel()
    offsets = numpy.empty(kh * kw, numpy.int64)
    for i in range(kh):
        for j in range(kw):
            offsets[i * kw + j] = i * w + j
    df[:] = 0.0
    t = 0
    for p in range(dxp.shape[0] * dxp.shape[1]):
        for y in range(oh):
            at = p * h * w + y * sh * w
            for q in range(ow):
                k = wf[t]
                if k >= 0:
                    df[at + q * sw + offsets[k]] += gf[t]
                t += 1


KERNELS = ("max_pool", "max_pool_2x2", "max_route")
"""The loops above, which :mod:`chainrule.nn.kernels` compiles."""


def usable(xd: Any) -> bool:
    """Whether the compiled loops pool ``xd``: a NumPy array of float32 or float64."""
    return type(xd) is numpy.ndarray and xd.dtype.char in "fd"


def max_pool_arrays(kern: Any, xd: Any, kernel: tuple[int, int], step: tuple[int, int],
                    pad: tuple[int, int, int, int], out_hw: tuple[int, int], relu: bool,
                    ws: Workspace | None = None) -> tuple[Any, Any]:
    """Each window's maximum (N, C, OH, OW) and its index in the window (int32); the arrays
    come from ``ws`` (a layer's workspace) where given."""
    shape = (*xd.shape[:2], *out_hw)
    out = empty(ws, "out", shape, xd.dtype)
    where = empty(ws, "argmax", shape, numpy.int32)
    # PyTorch pads with -inf: never a window's maximum
    xp = kernels_conv.padded(kern, xd, pad, -numpy.inf, ws)
    if kernel != (2, 2) or step != (2, 2) or kern.max_pool_2x2(xp, relu, out, where):
        kern.max_pool(xp, *kernel, *step, relu, out, where)
    return out, where


def route_arrays(kern: Any, g: Any, where: Any, kernel: tuple[int, int], step: tuple[int, int],
                 pad: tuple[int, int, int, int], x_shape: tuple[int, ...],
                 ws: Workspace | None = None) -> Any:
    """Max pooling's input gradient (N, C, H, W) from the windows' gradient ``g``."""
    top, bottom, left, right = pad
    n, c, h, w = x_shape
    if not any(pad):
        dx = empty(ws, "input gradient", x_shape, g.dtype)
        kern.max_route(numpy.ascontiguousarray(g), where, *kernel, *step, dx)
        return dx
    dxp = empty(ws, "padded gradient", (n, c, h + top + bottom, w + left + right), g.dtype)
    kern.max_route(numpy.ascontiguousarray(g), where, *kernel, *step, dxp)
    dx = empty(ws, "input gradient", x_shape, g.dtype)
    dx[...] = dxp[:, :, top:top + h, left:left + w]
    return dx
