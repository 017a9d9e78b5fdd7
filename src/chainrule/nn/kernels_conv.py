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

:func:`forward` and :func:`backward` take their large arrays (padded input, columns, product,
output, gradients) from the calling layer's :class:`~chainrule.nn.workspace.Workspace`,
which hands back last step's arrays once nothing else holds them: made fresh every step, they
cost LeNet-5 about 3,000 page faults a step in processes where glibc trims its heap.
"""

from __future__ import annotations

from typing import Any

import numpy

from .workspace import Workspace, empty

__all__ = ["KERNELS", "backward", "col2im", "fold", "forward", "im2col", "pad", "padded", "unfold",
           "usable"]


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


def pad(x: Any, top: int, left: int, value: float, xp: Any) -> None:
    """``xp`` (N, C, H + rows, W + columns) set to ``x`` (N, C, H, W) at (top, left) with
    ``value`` around it: the padded input in one pass, into an array kept between calls."""
    n, c, h, w = x.shape
    ph, pw = xp.shape[2], xp.shape[3]
    for b in range(n):
        for ci in range(c):
            for y in range(ph):
                row = xp[b, ci, y]
                if y < top or y >= top + h:
                    for q in range(pw):
                        row[q] = value
                    continue
                src = x[b, ci, y - top]
                for q in range(left):
                    row[q] = value
                for q in range(w):
                    row[left + q] = src[q]
                for q in range(left + w, pw):
                    row[q] = value


def unfold(prod: Any, bias: Any, out: Any) -> None:
    """``out[b, o, p] = prod[o, b*L + p] + bias[o]``: the whole-batch product (O, N*L) in
    NCHW order (N, O, L), its bias added in the same pass."""
    n, o, length = out.shape
    for b in range(n):
        for oc in range(o):
            src = prod[oc, b * length:(b + 1) * length]
            dst = out[b, oc]
            bv = bias[oc]
            for p in range(length):
                dst[p] = src[p] + bv


def fold(g: Any, gm: Any) -> None:
    """``gm[o, b*L + p] = g[b, o, p]``: the output gradient laid out like the whole-batch
    product (the adjoint of :func:`unfold` without its bias)."""
    n, o, length = g.shape
    for b in range(n):
        for oc in range(o):
            src = g[b, oc]
            dst = gm[oc, b * length:(b + 1) * length]
            for p in range(length):
                dst[p] = src[p]


KERNELS = ("im2col", "col2im", "pad", "unfold", "fold")
"""The loops above, which :mod:`chainrule.nn.kernels` compiles."""


# -- the convolution on NumPy arrays with the compiled loops ----------------------------------

def usable(xd: Any, wd: Any, stride: tuple[int, int], dilation: tuple[int, int],
           groups: int) -> bool:
    """Whether :func:`forward` computes this convolution: NumPy arrays of float32 or float64,
    stride 1, dilation 1, one channel group."""
    return (type(xd) is numpy.ndarray and type(wd) is numpy.ndarray
            and xd.dtype.char in "fd" and stride == (1, 1) and dilation == (1, 1)
            and groups == 1)


def padded(kern: Any, xd: Any, pad: tuple[int, int, int, int], value: float,
           ws: Workspace | None) -> Any:
    """``xd`` (N, C, H, W) with ``pad`` = (top, bottom, left, right) cells of ``value``
    around it, in C order (``xd`` itself when it is C-ordered and ``pad`` is all zeros)."""
    if not any(pad):
        return numpy.ascontiguousarray(xd)
    top, bottom, left, right = pad
    n, c, h, w = xd.shape
    xp = empty(ws, "padded", (n, c, h + top + bottom, w + left + right), xd.dtype)
    kern.pad(xd, top, left, value, xp)
    return xp


def forward(kern: Any, xd: Any, wd: Any, bd: Any, pad: tuple[int, int, int, int],
            out_hw: tuple[int, int], ws: Workspace | None = None) -> tuple[Any, Any, bool]:
    """The convolution of ``xd`` (N, C, H, W) with ``wd`` (O, C, kh, kw) plus ``bd`` (O,) or
    None, and the columns ``cols`` backward reads, with their layout ``whole``; the arrays
    come from ``ws`` (a layer's :class:`~chainrule.nn.workspace.Workspace`) where given.

    With many rows per example (C*kh*kw at least half of OH*OW: LeNet's second layer, 150 x
    100) one product over the whole batch runs faster than one per example (205 against 295
    us), and the other way round with few long rows (the first layer, 25 x 784: 155 against
    335 us), where OpenBLAS splits the whole-batch product badly."""
    n, c, _, _ = xd.shape
    o, _, kh, kw = wd.shape
    oh, ow = out_hw
    k, length = c * kh * kw, oh * ow
    dt = xd.dtype
    xp = padded(kern, xd, pad, 0.0, ws)
    wm = wd.reshape(o, k)
    whole = k >= length // 2
    out = empty(ws, "out", (n, o, oh, ow), dt)
    if whole:
        cols = empty(ws, "cols", (k, n * length), dt)
        kern.im2col(xp, kh, kw, oh, ow, True, cols)
        prod = empty(ws, "product", (o, n * length), dt)
        numpy.matmul(wm, cols, out=prod)                    # (O, N*OH*OW)
        kern.unfold(prod, numpy.zeros(o, dt) if bd is None else bd,
                    out.reshape(n, o, length))
        return out, cols, whole
    cols = empty(ws, "cols", (n * k, length), dt)
    kern.im2col(xp, kh, kw, oh, ow, False, cols)
    numpy.matmul(wm, cols.reshape(n, k, length), out=out.reshape(n, o, length))
    if bd is not None:
        out += bd.reshape(1, o, 1, 1)
    return out, cols, whole


def backward(kern: Any, g: Any, wd: Any, cols: Any, whole: bool, x_shape: tuple[int, ...],
             pad: tuple[int, int, int, int], need_dx: bool, need_bias: bool,
             ws: Workspace | None = None) -> list[Any]:
    """The gradients [dx or None, dW, (db)] from the output gradient ``g`` (N, O, OH, OW)
    and what :func:`forward` returned; scratch arrays (and dx) come from ``ws`` where given."""
    n, c, h, w = x_shape
    o, _, kh, kw = wd.shape
    oh, ow = g.shape[2:]
    k, length = c * kh * kw, oh * ow
    dt = g.dtype
    wm = wd.reshape(o, k)
    dcols = None
    if whole:
        gm = empty(ws, "output gradient", (o, n * length), dt)
        kern.fold(g.reshape(n, o, length), gm)
        dw = (cols @ gm.T).T.reshape(wd.shape)  # 250 us against 460 for gm @ cols.T
        if need_dx:
            dcols = empty(ws, "column gradient", (k, n * length), dt)
            numpy.matmul(wm.T, gm, out=dcols)
    else:
        gm = g.reshape(n, o, length)
        cols3 = cols.reshape(n, k, length)
        dw = (gm @ cols3.transpose(0, 2, 1)).sum(axis=0).reshape(wd.shape)
        if need_dx:
            dcols = empty(ws, "column gradient", (n * k, length), dt)
            numpy.matmul(wm.T, gm, out=dcols.reshape(n, k, length))
    grads = [None, dw]
    if need_bias:
        grads.append(g.sum(axis=(0, 2, 3)))
    if dcols is not None:
        top, bottom, left, right = pad
        if any(pad):
            dxp = empty(ws, "padded gradient", (n, c, h + top + bottom, w + left + right), dt)
            kern.col2im(dcols, kh, kw, oh, ow, whole, dxp)
            dx = empty(ws, "input gradient", (n, c, h, w), dt)
            dx[...] = dxp[:, :, top:top + h, left:left + w]
        else:
            dx = empty(ws, "input gradient", (n, c, h, w), dt)
            kern.col2im(dcols, kh, kw, oh, ow, whole, dx)
        grads[0] = dx
    return grads
