"""Pooling layers over 2-D windows, NCHW layout: max, average, and global (adaptive) average.

The layers hold their window sizes and call the functions, which live with their primitives:
max pooling in :mod:`chainrule.nn.max_pooling`, average pooling in
:mod:`chainrule.nn.avg_pooling` (both re-exported here).  The arrays' own namespace computes
everything, with the array API standard's functions only, so the same code runs on every
device; NumPy keeps a few in-place steps (``out=``) that the standard lacks.
"""

from __future__ import annotations

from typing import Any

from ..engine import ShapeError, Tensor
from ._checks import check_pair
from .avg_pooling import adaptive_avg_pool2d, avg_pool2d, spread_over_windows, window_means
from .max_pooling import max_pool2d, pick_at_maxima, relu_max_pool2d, route_to_maxima
from .module import Module, Shape
from .windows import conv_output_size
from .workspace import Workspace

__all__ = ["AdaptiveAvgPool2d", "AvgPool2d", "MaxPool2d", "adaptive_avg_pool2d",
           "avg_pool2d", "max_pool2d", "pick_at_maxima", "relu_max_pool2d", "route_to_maxima",
           "spread_over_windows", "window_means"]


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
