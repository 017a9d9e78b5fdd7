"""Windows over the spatial axes of (N, C, H, W) arrays, shared by convolution and pooling.

A window is a view of the padded input (:func:`windows`), nothing copied; its adjoint
(:func:`scatter_windows`) adds each window's gradient back, one strided slice per kernel
offset.  :func:`pool_geometry` checks a pooling call's sizes once for every kind of pooling.
"""

from __future__ import annotations

from typing import Any

from ..engine import ShapeError, backend
from ..engine.backend import namespace, ndarray, sliding_windows
from ._checks import check_pair

__all__ = ["Pad", "conv_output_size", "pad_input", "pool_geometry", "scatter_windows", "unpad",
           "windows"]

Pad = tuple[int, int, int, int]  # top, bottom, left, right


def conv_output_size(size: int, kernel: int, stride: int, pad: int, dilation: int) -> int:
    """The output length along one axis: floor((size + pad - dilation*(kernel-1) - 1) / stride)
    + 1, where ``pad`` is the total padding on both sides."""
    return (size + pad - dilation * (kernel - 1) - 1) // stride + 1


def windows(padded: ndarray, kernel: tuple[int, int], stride: tuple[int, int],
            dilation: tuple[int, int]) -> ndarray:
    """The receptive fields of a padded (N, C, H, W) array as a view of shape
    (N, C, OH, OW, kh, kw); nothing is copied."""
    (kh, kw), (sh, sw), (dh, dw) = kernel, stride, dilation
    span = (dh * (kh - 1) + 1, dw * (kw - 1) + 1)
    view = sliding_windows(padded, span, axis=(2, 3))
    return view[:, :, ::sh, ::sw, ::dh, ::dw]


def scatter_windows(dwin: ndarray, padded_shape: tuple[int, ...], stride: tuple[int, int],
                    dilation: tuple[int, int]) -> ndarray:
    """The adjoint of :func:`windows`: add each window's gradient (N, C, OH, OW, kh, kw) back
    onto the padded input, one strided slice per kernel offset."""
    oh, ow, kh, kw = dwin.shape[2:]
    (sh, sw), (dh, dw) = stride, dilation
    out = namespace(dwin).zeros(padded_shape, dtype=dwin.dtype)
    for i in range(kh):
        for j in range(kw):
            out[:, :, i * dh:i * dh + sh * (oh - 1) + 1:sh,
                j * dw:j * dw + sw * (ow - 1) + 1:sw] += dwin[:, :, :, :, i, j]
    return out


def pad_input(x: ndarray, pad: Pad, value: float = 0.0) -> ndarray:
    """``x`` (N, C, H, W) with ``pad`` = (top, bottom, left, right) rows and columns added."""
    if not any(pad):
        return x
    top, bottom, left, right = pad
    return backend.pad(x, ((0, 0), (0, 0), (top, bottom), (left, right)), value)


def unpad(a: ndarray, pad: Pad) -> ndarray:
    """The inverse of :func:`pad_input` on the spatial axes."""
    top, bottom, left, right = pad
    return a[:, :, top:a.shape[2] - bottom, left:a.shape[3] - right]


def pool_geometry(x: Any, kernel_size: Any, stride: Any, padding: Any, where: str
              ) -> tuple[tuple[int, int], tuple[int, int], tuple[int, int, int, int]]:
    """The window, stride and padding of a pooling call on ``x``, checked (``where`` names
    the function in the errors)."""
    if x.data.ndim != 4:
        raise ShapeError(f"{where}: input must have shape (N, C, H, W), got {x.data.shape}")
    kernel = check_pair(kernel_size, where, "kernel_size")
    step = kernel if stride is None else check_pair(stride, where, "stride")
    ph, pw = check_pair(padding, where, "padding", low=0)
    if 2 * ph > kernel[0] or 2 * pw > kernel[1]:
        raise ShapeError(f"{where}: padding ({ph}, {pw}) must be at most half the kernel "
                         f"{kernel}")
    h, w = x.data.shape[2:]
    if conv_output_size(h, kernel[0], step[0], 2 * ph, 1) < 1 or conv_output_size(
            w, kernel[1], step[1], 2 * pw, 1) < 1:
        raise ShapeError(f"{where}: input of {h}x{w} is smaller than the {kernel} window")
    return kernel, step, (ph, ph, pw, pw)
