"""Max pooling that keeps each window's argmax, and its backward, as plain loops for numba to
compile (:mod:`chainrule.nn.kernels`); :mod:`chainrule.nn.pooling` calls them on NumPy
arrays only.

The forward writes, beside each window's maximum, where in the window it sat (``i*kw + j``,
the first on ties, NaN counting as the largest, as NumPy's ``argmax`` and PyTorch), so the
backward is one pass that adds each output gradient at its input position, instead of
comparing the input with the maxima again.  With ``relu`` the forward computes
``max_pool2d(relu(x))``: max and relu commute, so each window's maximum is found first and
cut at zero, and a window whose maximum is not positive passes no gradient (index -1), as
relu's derivative (0 at 0) gives.  Padding is never a window's maximum (PyTorch pads with
-inf).
"""

from __future__ import annotations

from typing import Any

import numpy

__all__ = ["KERNELS", "max_pool", "max_pool_arrays", "max_route", "route_arrays", "usable"]


def max_pool(x: Any, kh: int, kw: int, sh: int, sw: int, ph: int, pw: int, relu: bool,
             out: Any, where: Any) -> None:
    """``out[b, c, y, q]`` the maximum of the window at (y*sh - ph, q*sw - pw) of ``x``
    (N, C, H, W), ``where`` its index in the window (-1 where relu cut it)."""
    n, c, h, w = x.shape
    oh, ow = out.shape[2], out.shape[3]
    for b in range(n):
        for ci in range(c):
            plane = x[b, ci]
            for y in range(oh):
                for q in range(ow):
                    best = plane[0, 0]
                    at = -1
                    for i in range(kh):
                        r = y * sh + i - ph
                        if r < 0 or r >= h:
                            continue
                        for j in range(kw):
                            col = q * sw + j - pw
                            if col < 0 or col >= w:
                                continue
                            v = plane[r, col]
                            if at < 0 or v > best or (v != v and best == best):
                                best = v
                                at = i * kw + j
                    if relu and not best > 0:
                        at = -1
                        if best == best:
                            best = 0.0
                    out[b, ci, y, q] = best
                    where[b, ci, y, q] = at


def max_route(g: Any, where: Any, kh: int, kw: int, sh: int, sw: int, ph: int, pw: int,
              dx: Any) -> None:
    """``dx`` (N, C, H, W) set to each window's gradient ``g`` added at its maximum."""
    n, c = g.shape[0], g.shape[1]
    oh, ow = g.shape[2], g.shape[3]
    for b in range(n):
        for ci in range(c):
            dx[b, ci] = 0.0
            for y in range(oh):
                for q in range(ow):
                    k = where[b, ci, y, q]
                    if k >= 0:
                        dx[b, ci, y * sh + k // kw - ph, q * sw + k % kw - pw] += g[b, ci, y, q]


KERNELS = ("max_pool", "max_route")
"""The loops above, which :mod:`chainrule.nn.kernels` compiles."""


def usable(xd: Any) -> bool:
    """Whether the compiled loops pool ``xd``: a NumPy array of float32 or float64."""
    return type(xd) is numpy.ndarray and xd.dtype.char in "fd"


def max_pool_arrays(kern: Any, xd: Any, kernel: tuple[int, int], step: tuple[int, int],
                    pad: tuple[int, int, int, int], out_hw: tuple[int, int], relu: bool
                    ) -> tuple[Any, Any]:
    """Each window's maximum (N, C, OH, OW) and its index in the window (int32)."""
    shape = (*xd.shape[:2], *out_hw)
    out = numpy.empty(shape, dtype=xd.dtype)
    where = numpy.empty(shape, dtype=numpy.int32)
    kern.max_pool(numpy.ascontiguousarray(xd), *kernel, *step, pad[0], pad[2], relu, out,
                  where)
    return out, where


def route_arrays(kern: Any, g: Any, where: Any, kernel: tuple[int, int], step: tuple[int, int],
                 pad: tuple[int, int, int, int], x_shape: tuple[int, ...]) -> Any:
    """Max pooling's input gradient (N, C, H, W) from the windows' gradient ``g``."""
    dx = numpy.empty(x_shape, dtype=g.dtype)
    kern.max_route(numpy.ascontiguousarray(g), where, *kernel, *step, pad[0], pad[2], dx)
    return dx
