"""Pooling over 2-D windows, NCHW layout: max, average, and global (adaptive) average.

Each window is a view of the input (:func:`chainrule.nn.conv.windows`); max pooling walks the
kernel offsets instead (one strided view per offset, no copy of the windows).  Max pooling sends a
window's gradient to the one input that was its maximum (the first, on ties, as PyTorch);
average pooling spreads it evenly over the window (zero padding counted, as PyTorch's default
``count_include_pad=True``).  The arrays' own namespace computes everything, with the array
API standard's functions only, so the same code runs on every device; NumPy keeps a few
in-place steps (``out=``) that the standard lacks.

>>> import numpy as np, chainrule as cr
>>> x = cr.tensor(np.array([[[[1., 2.], [4., 3.]]]]), requires_grad=True)
>>> y = max_pool2d(x, 2)
>>> y.backward(np.ones((1, 1, 1, 1))); y.item(), x.grad[0, 0]
(4.0, array([[0., 0.],
       [1., 0.]]))
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator
from typing import Any

from ..engine import Primitive, ShapeError, Tensor, ops
from ..engine.backend import NUMPY, namespace, ndarray
from . import kernels, kernels_pool
from ._checks import check_pair
from .conv import conv_output_size, pad_input, scatter_windows, unpad, windows
from .module import Module, Shape
from .workspace import Workspace

__all__ = ["AdaptiveAvgPool2d", "AvgPool2d", "MaxPool2d", "adaptive_avg_pool2d",
           "avg_pool2d", "max_pool2d", "pick_at_maxima", "relu_max_pool2d", "route_to_maxima",
           "spread_over_windows", "window_means"]


def _geometry(x: Tensor, kernel_size: Any, stride: Any, padding: Any, where: str
              ) -> tuple[tuple[int, int], tuple[int, int], tuple[int, int, int, int]]:
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


def max_pool2d(x: Any, kernel_size: Any, stride: Any = None, padding: Any = 0, *,
               workspace: Workspace | None = None) -> Tensor:
    """The maximum of each window (stride defaults to the window size), as PyTorch's.

    Args:
        x: Input of shape (N, C, H, W): a tensor or an array.
        kernel_size: Window height and width: an int or a pair.
        stride: Step between windows: an int or a pair; by default ``kernel_size``.
        padding: Cells added on each side: an int or a pair, at most half the window.
        workspace: Where the NumPy fast path keeps its arrays between calls (a
            :class:`MaxPool2d` passes its own); None makes new ones every call.

    Returns:
        A tensor of shape (N, C, OH, OW), ``OH = (H + 2*padding - kh) // stride + 1``.

    Raises:
        ConfigError: A size is not a positive integer or pair (padding: non-negative).
        ShapeError: The input is not (N, C, H, W), the padding exceeds half the window, or
            the input is smaller than the window.
    """
    x = x if isinstance(x, Tensor) else Tensor(x)
    kernel, step, pad = _geometry(x, kernel_size, stride, padding, "max_pool2d")
    kern = kernels.get() if kernels_pool.usable(x.data) else None
    if kern is not None:
        return _max_pool2d_compiled(kern, x, kernel, step, pad, False, workspace)
    padded = pad_input(x.data, pad, -math.inf)
    xp = namespace(padded)
    if bool(xp.isnan(xp.sum(padded))):
        # NaN is its window's maximum for argmax (and PyTorch); the equality test of the fast
        # backward cannot find it, so NaN inputs keep the argmax index.
        out, where = max_windows_plain(padded, kernel, step)
        return MAX_POOL2D(out, (x,), (where, None, padded.shape, pad, step, kernel))
    out = max_windows(padded, kernel, step)
    return MAX_POOL2D(out, (x,), (None, padded, padded.shape, pad, step, kernel))


def relu_max_pool2d(x: Any, kernel_size: Any, stride: Any = None, padding: Any = 0, *,
                    workspace: Workspace | None = None) -> Tensor:
    """``max_pool2d(relu(x))``, what a ReLU followed by max pooling computes.  On NumPy with
    numba it is one pass and one recorded node (max and relu commute, so each window's
    maximum is found first and cut at zero); elsewhere the two operations.

    >>> import numpy as np
    >>> relu_max_pool2d(np.array([[[[-1., -2.], [-4., -3.]]]]), 2).item()
    0.0
    """
    x = x if isinstance(x, Tensor) else Tensor(x)
    kernel, step, pad = _geometry(x, kernel_size, stride, padding, "relu_max_pool2d")
    kern = kernels.get() if kernels_pool.usable(x.data) else None
    if kern is not None:
        return _max_pool2d_compiled(kern, x, kernel, step, pad, True, workspace)
    return max_pool2d(ops.relu(x), kernel, step, padding)


def _max_pool2d_compiled(kern: Any, x: Tensor, kernel: tuple[int, int],
                         step: tuple[int, int], pad: tuple[int, int, int, int], relu: bool,
                         workspace: Workspace | None) -> Tensor:
    # The compiled loops keep each window's argmax (kernels_pool): backward then adds each
    # gradient at its index in one pass instead of comparing every offset's slice with the
    # maxima again.  LeNet's first pool (64 x 6 x 28 x 28 float32), forward + backward: 700
    # -> 250 us; with the ReLU before it folded in, 910 -> 250 us.
    h, w = x.data.shape[2:]
    padded_shape = (*x.data.shape[:2], h + pad[0] + pad[1], w + pad[2] + pad[3])
    out_hw = (conv_output_size(padded_shape[2], kernel[0], step[0], 0, 1),
              conv_output_size(padded_shape[3], kernel[1], step[1], 0, 1))
    out, where = kernels_pool.max_pool_arrays(kern, x.data, kernel, step, pad, out_hw, relu,
                                              workspace)
    return MAX_POOL2D(out, (x,), (where, None, padded_shape, pad, step, kernel, workspace))


def window_offsets(padded_hw: tuple[int, ...], kernel: tuple[int, int], step: tuple[int, int]
             ) -> list[tuple[slice, slice]]:
    """For each kernel offset (i, j), row-major, the strided slices of the padded input that
    the offset sees in every window."""
    (kh, kw), (sh, sw) = kernel, step
    oh = conv_output_size(padded_hw[0], kh, sh, 0, 1)
    ow = conv_output_size(padded_hw[1], kw, sw, 0, 1)
    return [(slice(i, i + sh * (oh - 1) + 1, sh), slice(j, j + sw * (ow - 1) + 1, sw))
            for i in range(kh) for j in range(kw)]


def max_windows_plain(padded: ndarray, kernel: tuple[int, int], step: tuple[int, int]
                      ) -> tuple[ndarray, ndarray]:
    """Each window's maximum and its flat index in the window (the first, on ties), by one
    copy of all windows and ``argmax``: the reference the fast path is tested against."""
    xp = namespace(padded)
    win = windows(padded, kernel, step, (1, 1))
    flat = xp.reshape(win, (*win.shape[:4], kernel[0] * kernel[1]))   # the one copy
    where = xp.argmax(flat, axis=-1, keepdims=True)
    out = xp.take_along_axis(flat, where, axis=-1)[..., 0]
    return out, where[..., 0]


def max_windows(padded: ndarray, kernel: tuple[int, int], step: tuple[int, int]) -> ndarray:
    """Each window's maximum without copying the windows: the elementwise maximum of one
    output-sized strided view per kernel offset."""
    xp = namespace(padded)
    offsets = window_offsets(padded.shape[2:], kernel, step)
    rows, cols = offsets[0]
    out = xp.asarray(padded[:, :, rows, cols], copy=True)
    for rows, cols in offsets[1:]:
        if xp is NUMPY:  # in place: one output-sized array in all
            NUMPY.maximum(out, padded[:, :, rows, cols], out=out)
        else:
            out = xp.maximum(out, padded[:, :, rows, cols])
    return out


def masks_from_index(where: ndarray, n_offsets: int) -> Iterator[ndarray]:
    """For each kernel offset, the windows whose maximum sat there (from argmax's index)."""
    for k in range(n_offsets):
        yield where == k


def masks_from_values(padded: ndarray, out: ndarray, offsets: list[tuple[slice, slice]]
                      ) -> Iterator[ndarray]:
    """The same masks recomputed from the input and the maxima: the first offset (row-major,
    argmax's order) whose value equals the maximum and that no earlier offset has taken."""
    free = None  # the windows whose maximum no earlier offset has taken
    for rows, cols in offsets:
        hit = padded[:, :, rows, cols] == out
        if free is None:
            free = ~hit
        else:  # in place, no new array: hit and not taken, then hit (inside free) leaves free
            hit &= free
            free ^= hit
        yield hit


def _max_pool2d_backward(out: Tensor, g: ndarray) -> tuple[ndarray | None, ...]:
    # (the compiled forward adds its layer's workspace after the six values the rules read)
    saved, workspace = out.saved[:6], out.saved[6] if len(out.saved) > 6 else None
    where, _, _, pad, step, kernel = saved
    kern = None if where is None or type(g) is not ndarray else kernels.get()
    if kern is not None and kernels_pool.usable(g):  # each gradient added at its argmax
        return (kernels_pool.route_arrays(kern, g, where, kernel, step, pad,
                                          out.inputs[0].data.shape, workspace),)
    maxima = out.data  # a tensor when the rule runs on tensors: the masks need its values
    maxima = maxima.data if isinstance(maxima, Tensor) else maxima
    return (route_to_maxima(g, saved, _masks(saved, maxima)),)


def _masks(saved: tuple, maxima: ndarray) -> Iterator[ndarray]:
    """For each kernel offset, the windows whose maximum sat there."""
    where, padded, padded_shape, _, step, kernel = saved
    offsets = window_offsets(padded_shape[2:], kernel, step)
    return (masks_from_index(where, len(offsets)) if padded is None
            else masks_from_values(padded, maxima, offsets))


def route_to_maxima(g: Any, saved: tuple, masks: Iterable[ndarray]) -> Any:
    """Each window's gradient ``g`` (N, C, OH, OW) sent to the one input that was its maximum
    (``masks``: for each kernel offset, the windows whose maximum sat there): max pooling's
    backward.  It is linear in ``g`` (which input won is a constant), so on a tensor it is a
    recorded node whose backward is :func:`pick_at_maxima`, its adjoint."""
    if isinstance(g, Tensor):
        masks = list(masks)
        return MAX_ROUTE(_route(g.data, saved, masks), (g,), (saved, masks))
    return _route(g, saved, masks)


def _route(g: ndarray, saved: tuple, masks: Iterable[ndarray]) -> ndarray:
    # For each kernel offset, the windows whose maximum sat there pass g to that offset's
    # strided slice.
    _, _, padded_shape, pad, step, kernel = saved
    offsets = window_offsets(padded_shape[2:], kernel, step)
    xp = namespace(g)
    dxp = xp.zeros(padded_shape, dtype=g.dtype)
    overlap = step[0] < kernel[0] or step[1] < kernel[1]
    # g times the mask as numbers (NumPy's where on a mask this irregular runs ~10x slower)
    for (rows, cols), hit in zip(offsets, masks):
        if overlap:
            dxp[:, :, rows, cols] += g * xp.astype(hit, g.dtype)
        elif xp is NUMPY:  # disjoint slices: write g * hit straight there, no temporary
            NUMPY.multiply(g, hit, out=dxp[:, :, rows, cols])
        else:
            dxp[:, :, rows, cols] = g * xp.astype(hit, g.dtype)
    dx = unpad(dxp, pad)
    # NumPy: the layer below reads dx faster in C order than as the padded array's slice.
    return NUMPY.ascontiguousarray(dx) if xp is NUMPY else dx


def pick_at_maxima(h: Any, saved: tuple, masks: list[ndarray]) -> Any:
    """The adjoint of :func:`route_to_maxima`: for each window, the value of ``h`` (N, C, H,
    W) where the window's maximum was.  On a tensor, a recorded node whose backward routes."""
    if isinstance(h, Tensor):
        return MAX_PICK(_pick(h.data, saved, masks), (h,), (saved, masks))
    return _pick(h, saved, masks)


def _pick(h: ndarray, saved: tuple, masks: list[ndarray]) -> ndarray:
    _, _, padded_shape, pad, step, kernel = saved
    hp = pad_input(h, pad)
    offsets = window_offsets(padded_shape[2:], kernel, step)
    xp = namespace(h)
    out = xp.zeros(masks[0].shape, dtype=h.dtype)
    for (rows, cols), hit in zip(offsets, masks):
        out += hp[:, :, rows, cols] * xp.astype(hit, h.dtype)
    return out


def _max_route_backward(out: Tensor, g: Any) -> tuple:
    return (pick_at_maxima(g, *out.saved),)


def _max_pick_backward(out: Tensor, g: Any) -> tuple:
    return (route_to_maxima(g, *out.saved),)


# Max pooling saves the padded input, but reads it only to find the masks, which are
# constants: which input is a window's maximum does not change under a small change of the
# inputs (ties aside), so the second derivative is zero and the gradient's graph is the
# routing of g alone.
MAX_POOL2D = Primitive("max_pool2d", _max_pool2d_backward, saved="constant")
MAX_ROUTE = Primitive("route_to_maxima", _max_route_backward, saved="constant")
MAX_PICK = Primitive("pick_at_maxima", _max_pick_backward, saved="constant")


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
    kernel, step, pad = _geometry(x, kernel_size, stride, padding, "avg_pool2d")
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


class _Pool2d(Module):
    def __init__(self, kernel_size: Any, stride: Any = None, padding: Any = 0) -> None:
        super().__init__()
        name = type(self).__name__
        self.kernel_size = check_pair(kernel_size, name, "kernel_size")
        self.stride = self.kernel_size if stride is None else check_pair(stride, name, "stride")
        self.padding = check_pair(padding, name, "padding", low=0)
        if any(2 * p > k for p, k in zip(self.padding, self.kernel_size)):
            raise ShapeError(f"{name}: padding {self.padding} must be at most half the kernel "
                             f"{self.kernel_size}")

    def get_config(self) -> dict[str, Any]:
        return {"kernel_size": list(self.kernel_size), "stride": list(self.stride),
                "padding": list(self.padding)}

    def output_shape(self, input_shape: Shape) -> Shape:
        if input_shape is None:
            return None
        if len(input_shape) != 4:
            raise ShapeError(f"{type(self).__name__} needs inputs of shape (N, C, H, W), got "
                             f"{input_shape}")
        sizes = [None if size is None else conv_output_size(size, k, s, 2 * p, 1)
                 for size, k, s, p in zip(input_shape[2:], self.kernel_size, self.stride,
                                          self.padding)]
        if any(size is not None and size < 1 for size in sizes):
            raise ShapeError(f"{type(self).__name__}: inputs of {input_shape[2:]} are smaller "
                             f"than the {self.kernel_size} window")
        return (*input_shape[:2], *sizes)

    def extra_repr(self) -> str:
        return (f"kernel_size={self.kernel_size}, stride={self.stride}"
                + (f", padding={self.padding}" if self.padding != (0, 0) else ""))


class MaxPool2d(_Pool2d):
    """The maximum of each ``kernel_size`` window, as ``torch.nn.MaxPool2d``.

    Padding is with -inf, so a padded cell is never the maximum.

    >>> import numpy as np, chainrule as cr
    >>> cr.nn.MaxPool2d(2)(np.zeros((1, 3, 8, 8), np.float32)).shape
    (1, 3, 4, 4)

    Args:
        kernel_size: Window height and width: an int or a pair.
        stride: Step between windows: an int or a pair; by default ``kernel_size``.
        padding: Cells added on each side: an int or a pair, at most half the window.

    Shapes: input ``(N, C, H, W)``; output ``(N, C, OH, OW)`` with
    ``OH = (H + 2*padding - kh) // stride + 1``, and likewise OW.

    Raises:
        ConfigError: A size is not a positive integer or pair (padding: non-negative).
        ShapeError: ``padding`` exceeds half the window; when called, the input is not
            (N, C, H, W) or is smaller than the window.
    """

    def __init__(self, kernel_size: Any, stride: Any = None, padding: Any = 0) -> None:
        super().__init__(kernel_size, stride, padding)
        # the compiled path's outputs, argmax indices and gradients, kept between calls
        self.workspace = Workspace()

    def forward(self, x: Any) -> Tensor:
        return max_pool2d(x, self.kernel_size, self.stride, self.padding,
                          workspace=self.workspace)

    def relu_forward(self, x: Any) -> Tensor:
        """This layer applied to ``relu(x)``, in one pass where it can be (see
        :func:`relu_max_pool2d`): what a container calls for a ReLU followed by this layer."""
        return relu_max_pool2d(x, self.kernel_size, self.stride, self.padding,
                               workspace=self.workspace)


class AvgPool2d(_Pool2d):
    """The mean of each ``kernel_size`` window, as ``torch.nn.AvgPool2d``.

    Padding is with zeros, counted in the mean (PyTorch's default ``count_include_pad``).

    >>> import numpy as np, chainrule as cr
    >>> cr.nn.AvgPool2d(2)(np.ones((1, 1, 4, 4), np.float32)).shape
    (1, 1, 2, 2)

    Args:
        kernel_size: Window height and width: an int or a pair.
        stride: Step between windows: an int or a pair; by default ``kernel_size``.
        padding: Zeros added on each side: an int or a pair, at most half the window.

    Shapes: input ``(N, C, H, W)``; output ``(N, C, OH, OW)`` with
    ``OH = (H + 2*padding - kh) // stride + 1``, and likewise OW.

    Raises:
        ConfigError: A size is not a positive integer or pair (padding: non-negative).
        ShapeError: ``padding`` exceeds half the window; when called, the input is not
            (N, C, H, W) or is smaller than the window.
    """

    def forward(self, x: Any) -> Tensor:
        return avg_pool2d(x, self.kernel_size, self.stride, self.padding)


class AdaptiveAvgPool2d(Module):
    """Average down to ``output_size``; ``AdaptiveAvgPool2d(1)`` is global average pooling.

    >>> import numpy as np, chainrule as cr
    >>> cr.nn.AdaptiveAvgPool2d(1)(np.ones((2, 3, 4, 4), np.float32)).shape
    (2, 3, 1, 1)

    Args:
        output_size: Output height and width: an int or a pair, each dividing the input's
            H and W (windows of equal size, unlike PyTorch's overlapping ones).

    Shapes: input ``(N, C, H, W)``; output ``(N, C, *output_size)``.

    Raises:
        ConfigError: ``output_size`` is not a positive integer or pair.
        ShapeError: When called, the input is not (N, C, H, W) or ``output_size`` does not
            divide H and W.
    """

    def __init__(self, output_size: Any = 1) -> None:
        super().__init__()
        self.output_size = check_pair(output_size, "AdaptiveAvgPool2d", "output_size")

    def forward(self, x: Any) -> Tensor:
        return adaptive_avg_pool2d(x, self.output_size)

    def get_config(self) -> dict[str, Any]:
        return {"output_size": list(self.output_size)}

    def output_shape(self, input_shape: Shape) -> Shape:
        if input_shape is None:
            return None
        if len(input_shape) != 4:
            raise ShapeError(f"AdaptiveAvgPool2d needs inputs of shape (N, C, H, W), got "
                             f"{input_shape}")
        return (*input_shape[:2], *self.output_size)

    def extra_repr(self) -> str:
        return f"output_size={self.output_size}"
