"""Max pooling over 2-D windows, NCHW layout: the functions and their primitives.

Max pooling walks the kernel offsets (one strided view per offset, no copy of the windows) and
sends a window's gradient to the one input that was its maximum (the first, on ties, as
PyTorch).  With numba on NumPy arrays it keeps each window's argmax instead
(:mod:`chainrule.nn.kernels_pool`), and :func:`relu_max_pool2d` fuses a ReLU before it.

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

from ..engine import Primitive, Tensor, ops
from ..engine.backend import NUMPY, namespace, ndarray
from . import kernels, kernels_pool
from .windows import conv_output_size, pad_input, pool_geometry, unpad, windows
from .workspace import Workspace

__all__ = ["max_pool2d", "pick_at_maxima", "relu_max_pool2d", "route_to_maxima"]


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
    kernel, step, pad = pool_geometry(x, kernel_size, stride, padding, "max_pool2d")
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
    kernel, step, pad = pool_geometry(x, kernel_size, stride, padding, "relu_max_pool2d")
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
