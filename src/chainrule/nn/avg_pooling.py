"""Average pooling over 2-D windows, NCHW layout: plain and global (adaptive).

Each window is a view of the input (:func:`chainrule.nn.windows.windows`); average pooling
spreads a window's gradient evenly over it (zero padding counted, as PyTorch's default
``count_include_pad=True``).  Each of the two steps is a primitive whose backward is the other.
"""

from __future__ import annotations

from typing import Any

from ..engine import Primitive, ShapeError, Tensor
from ..engine.backend import namespace, ndarray
from ._checks import check_pair
from .windows import pad_input, pool_geometry, scatter_windows, unpad, windows

__all__ = ["adaptive_avg_pool2d", "avg_pool2d", "spread_over_windows", "window_means"]


def avg_pool2d(x: Any, kernel_size: Any, stride: Any = None, padding: Any = 0) -> Tensor:
    """The mean of each window, zero padding included in the count, as PyTorch's default.

    Args:
        x: Input of shape (N, C, H, W): a tensor or an array.
        kernel_size: Window height and width: an int or a pair.
        stride: Step between windows: an int or a pair; by default ``kernel_size``.
        padding: Cells added on each side: an int or a pair, at most half the window.

    Returns:
        A tensor of shape (N, C, OH, OW), ``OH = (H + 2*padding - kh) // stride + 1``.

    Raises:
        ConfigError: A size is not a positive integer or pair (padding: non-negative).
        ShapeError: The input is not (N, C, H, W), the padding exceeds half the window, or
            the input is smaller than the window.
    """
    x = x if isinstance(x, Tensor) else Tensor(x)
    kernel, step, pad = pool_geometry(x, kernel_size, stride, padding, "avg_pool2d")
    h, w = x.data.shape[2:]
    padded_shape = (*x.data.shape[:2], h + pad[0] + pad[1], w + pad[2] + pad[3])
    return window_means(x, (padded_shape, pad, step, kernel))


def window_means(x: Any, geometry: tuple) -> Any:
    """The mean of each window of ``x``; ``geometry`` is (padded shape, padding, stride,
    kernel).  An array gives an array; a tensor the recorded average-pooling node, whose
    backward is :func:`spread_over_windows`, its adjoint."""
    if isinstance(x, Tensor):
        return AVG_POOL2D(_window_means(x.data, geometry), (x,), geometry)
    return _window_means(x, geometry)


def _window_means(xd: ndarray, geometry: tuple) -> ndarray:
    _, pad, step, kernel = geometry
    xp = namespace(xd)
    out = xp.mean(windows(pad_input(xd, pad), kernel, step, (1, 1)), axis=(-2, -1))
    return xp.astype(out, xd.dtype, copy=False)


def spread_over_windows(g: Any, geometry: tuple) -> Any:
    """Each window's gradient shared evenly among its inputs (the padding dropped): average
    pooling's backward.  On a tensor, a recorded node whose backward is :func:`window_means`."""
    if isinstance(g, Tensor):
        return AVG_SPREAD(_spread(g.data, geometry), (g,), geometry)
    return _spread(g, geometry)


def _spread(g: ndarray, geometry: tuple) -> ndarray:
    padded_shape, pad, step, (kh, kw) = geometry
    share = (g / (kh * kw))[..., None, None]
    dwin = namespace(g).broadcast_to(share, (*g.shape, kh, kw))
    return unpad(scatter_windows(dwin, padded_shape, step, (1, 1)), pad)


def _avg_pool2d_backward(out: Tensor, g: Any) -> tuple:
    return (spread_over_windows(g, out.saved),)


def _avg_spread_backward(out: Tensor, g: Any) -> tuple:
    return (window_means(g, out.saved),)


AVG_POOL2D = Primitive("avg_pool2d", _avg_pool2d_backward, saved="constant")
AVG_SPREAD = Primitive("spread_over_windows", _avg_spread_backward, saved="constant")


def adaptive_avg_pool2d(x: Any, output_size: Any = 1) -> Tensor:
    """Average (N, C, H, W) down to ``output_size`` (an int or a pair dividing H and W);
    ``output_size=1`` is global average pooling.

    Args:
        x: Input of shape (N, C, H, W): a tensor or an array.
        output_size: Output height and width: an int or a pair, each dividing H and W.

    Returns:
        A tensor of shape (N, C, *output_size).

    Raises:
        ConfigError: ``output_size`` is not a positive integer or pair.
        ShapeError: The input is not (N, C, H, W) or ``output_size`` does not divide H and W.
    """
    x = x if isinstance(x, Tensor) else Tensor(x)
    if x.data.ndim != 4:
        raise ShapeError(f"adaptive_avg_pool2d: input must have shape (N, C, H, W), got "
                         f"{x.data.shape}")
    oh, ow = check_pair(output_size, "adaptive_avg_pool2d", "output_size")
    h, w = x.data.shape[2:]
    if h % oh or w % ow:
        raise ShapeError(f"adaptive_avg_pool2d: output size {(oh, ow)} must divide the input "
                         f"size {h}x{w} (chainrule pools equal windows only)")
    return avg_pool2d(x, (h // oh, w // ow))
