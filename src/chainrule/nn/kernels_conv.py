"""Convolution's gather (*im2col*) and scatter (*col2im*) as plain loops, for numba to compile.

:mod:`chainrule.nn.kernels` compiles them when numba is installed; :mod:`chainrule.nn.conv`
calls them on NumPy arrays only, for stride 1, dilation 1 and one channel group (other
convolutions keep NumPy's strided views).  Run as Python they are correct but slow.

Both take the *padded* input, so the loops carry no bounds test, and a C-ordered 2-D ``cols``
in one of two layouts: ``whole`` (channel*kh*kw, examples*OH*OW), for one product over the
whole batch, or per example (examples*channel*kh*kw, OH*OW), for one product per example.
The innermost loop copies one output row between two C-ordered 1-D slices indexed from 0,
which numba vectorises.  Measured on LeNet's second layer (64 x 6 x 14 x 14, 5x5 kernels,
float32): im2col 280 us and col2im 320 us, against 480 and 1,490 us for NumPy's strided
copies; a stride or dilation read from an argument, or an index that might be negative,
makes the loops 1.4-3x slower, hence stride 1 only.
"""

from __future__ import annotations

from typing import Any

import numpy

__all__ = ["KERNELS", "backward", "col2im", "forward", "im2col", "usable"]


def im2col(xp: Any, kh: int, kw: int, oh: int, ow: int, whole: bool, cols: Any) -> None:
    """``cols[(c, i, j), (b, y, x)]`` (``whole``) or ``cols[(b, c, i, j), (y, x)]`` set to
    ``xp[b, c, y + i, x + j]``, for the padded input ``xp`` (N, C, H, W)."""
    n, c = xp.shape[0], xp.shape[1]
    k = c * kh * kw
    for b in range(n):
        base = b * oh * ow if whole else 0
        for ci in range(c):
            for i in range(kh):
                for j in range(kw):
                    r = (ci * kh + i) * kw + j
                    row = r if whole else b * k + r
                    for y in range(oh):
                        src = xp[b, ci, y + i, j:j + ow]
                        at = base + y * ow
                        dst = cols[row, at:at + ow]
                        for q in range(ow):
                            dst[q] = src[q]


def col2im(cols: Any, kh: int, kw: int, oh: int, ow: int, whole: bool, dxp: Any) -> None:
    """The adjoint of :func:`im2col`: ``dxp`` (the padded input's shape) set to the sum of
    every entry of ``cols`` at the input position it was read from."""
    n, c = dxp.shape[0], dxp.shape[1]
    k = c * kh * kw
    for b in range(n):
        base = b * oh * ow if whole else 0
        for ci in range(c):
            dxp[b, ci] = 0.0
            for i in range(kh):
                for j in range(kw):
                    r = (ci * kh + i) * kw + j
                    row = r if whole else b * k + r
                    for y in range(oh):
                        dst = dxp[b, ci, y + i, j:j + ow]
                        at = base + y * ow
                        src = cols[row, at:at + ow]
                        for q in range(ow):
                            dst[q] += src[q]


KERNELS = ("im2col", "col2im")
"""The loops above, which :mod:`chainrule.nn.kernels` compiles."""


# -- the convolution on NumPy arrays with the compiled loops ----------------------------------

def usable(xd: Any, wd: Any, stride: tuple[int, int], dilation: tuple[int, int],
           groups: int) -> bool:
    """Whether :func:`forward` computes this convolution: NumPy arrays of float32 or float64,
    stride 1, dilation 1, one channel group."""
    return (type(xd) is numpy.ndarray and type(wd) is numpy.ndarray
            and xd.dtype.char in "fd" and stride == (1, 1) and dilation == (1, 1)
            and groups == 1)


def forward(kern: Any, xd: Any, wd: Any, bd: Any, pad: tuple[int, int, int, int],
            out_hw: tuple[int, int]) -> tuple[Any, Any, bool]:
    """The convolution of ``xd`` (N, C, H, W) with ``wd`` (O, C, kh, kw) plus ``bd`` (O,) or
    None, and the columns ``cols`` backward reads, with their layout ``whole``.

    With many rows per example (C*kh*kw at least half of OH*OW: LeNet's second layer, 150 x
    100) one product over the whole batch runs faster than one per example (205 against 295
    us), and the other way round with few long rows (the first layer, 25 x 784: 155 against
    335 us), where OpenBLAS splits the whole-batch product badly."""
    n, c, h, w = xd.shape
    o, _, kh, kw = wd.shape
    oh, ow = out_hw
    k, length = c * kh * kw, oh * ow
    top, bottom, left, right = pad
    if any(pad):
        xp = numpy.zeros((n, c, h + top + bottom, w + left + right), dtype=xd.dtype)
        xp[:, :, top:top + h, left:left + w] = xd
    else:
        xp = numpy.ascontiguousarray(xd)
    wm = wd.reshape(o, k)
    whole = k >= length // 2
    if whole:
        cols = numpy.empty((k, n * length), dtype=xd.dtype)
        kern.im2col(xp, kh, kw, oh, ow, True, cols)
        prod = wm @ cols                                   # (O, N*OH*OW)
        if bd is not None:
            prod += bd.reshape(o, 1)
        out = numpy.ascontiguousarray(prod.reshape(o, n, length).transpose(1, 0, 2))
        return out.reshape(n, o, oh, ow), cols, whole
    cols = numpy.empty((n * k, length), dtype=xd.dtype)
    kern.im2col(xp, kh, kw, oh, ow, False, cols)
    out = (wm @ cols.reshape(n, k, length)).reshape(n, o, oh, ow)
    if bd is not None:
        out += bd.reshape(1, o, 1, 1)
    return out, cols, whole


def backward(kern: Any, g: Any, wd: Any, cols: Any, whole: bool, x_shape: tuple[int, ...],
             pad: tuple[int, int, int, int], need_dx: bool, need_bias: bool) -> list[Any]:
    """The gradients [dx or None, dW, (db)] from the output gradient ``g`` (N, O, OH, OW)
    and what :func:`forward` returned."""
    n, c, h, w = x_shape
    o, _, kh, kw = wd.shape
    oh, ow = g.shape[2:]
    k, length = c * kh * kw, oh * ow
    wm = wd.reshape(o, k)
    if whole:
        gm = numpy.ascontiguousarray(g.reshape(n, o, length).transpose(1, 0, 2))
        gm = gm.reshape(o, n * length)
        dw = (cols @ gm.T).T.reshape(wd.shape)  # 250 us against 460 for gm @ cols.T
        dcols = wm.T @ gm if need_dx else None
    else:
        gm = g.reshape(n, o, length)
        cols3 = cols.reshape(n, k, length)
        dw = (gm @ cols3.transpose(0, 2, 1)).sum(axis=0).reshape(wd.shape)
        dcols = (wm.T @ gm).reshape(n * k, length) if need_dx else None
    grads = [None, dw]
    if need_bias:
        grads.append(g.sum(axis=(0, 2, 3)))
    if dcols is not None:
        top, bottom, left, right = pad
        dxp = numpy.empty((n, c, h + top + bottom, w + left + right), dtype=g.dtype)
        kern.col2im(dcols, kh, kw, oh, ow, whole, dxp)
        grads[0] = (numpy.ascontiguousarray(dxp[:, :, top:top + h, left:left + w])
                    if any(pad) else dxp)
    return grads
