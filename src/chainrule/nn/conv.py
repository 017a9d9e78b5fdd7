"""2-D convolution (cross-correlation, as in PyTorch), NCHW layout: the primitive and the layer.

The forward pass is *im2col*: every receptive field of the (padded) input becomes one column
of a matrix ``cols``, the columns of all examples side by side, so the whole convolution is one
matrix product with the flattened kernels::

    cols[(c, i, j), (n, oh, ow)] = x_pad[n, c, oh*sh + i*dh, ow*sw + j*dw]
    out[o, (n, oh, ow)]          = W.reshape(O, C*kh*kw) @ cols  (+ bias[o])

``chainrule.engine.backend.sliding_windows`` gives the receptive fields (a view on NumPy and
CuPy); the one copy is its reshape into ``cols``.  Every array function is the array API
standard's, on the namespace of the inputs, so the same code runs on every device.  With
``groups`` > 1 the channels split into independent groups and the product is batched over them.

Backward follows from the product rule for ``W @ cols``: with G the output gradient laid out
like the product, ``dW = G @ cols.T`` (the sum over examples and positions is the product's
inner sum) and ``dcols = W.T @ G``; ``dx`` is ``dcols`` scattered back onto the input
(*col2im*): each kernel offset (i, j) adds one strided slice, kh*kw additions in all.

im2col and col2im are each other's adjoints, and each is a primitive whose backward is the
other; the backward rule is written with products, reshapes and these two, so on tensors (a
gradient of a gradient) it records a graph of its own, with ``cols`` taken again from the
input tensor by :func:`im2col`.

>>> import numpy as np, chainrule as cr
>>> x = cr.tensor(np.arange(16.0).reshape(1, 1, 4, 4), requires_grad=True)
>>> w = cr.tensor(np.ones((1, 1, 2, 2)), requires_grad=True)
>>> y = conv2d(x, w, stride=2)
>>> y.data[0, 0]                         # sums of the four 2x2 blocks
array([[10., 18.],
       [42., 50.]])
>>> y.sum().backward(); x.grad[0, 0, 0]  # every input pixel is in exactly one block
array([1., 1., 1., 1.])
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

from ..engine import DTypeError, Primitive, ShapeError, Tensor, ops
from ..engine.backend import NUMPY, dtype_name, namespace, ndarray
from ..engine.random import RNGLike, get_rng
from . import init as _init
from . import kernels, kernels_conv
from ._checks import check_dtype, check_pair, check_size
from .module import Module, Parameter, Shape, empty
from .windows import Pad, conv_output_size, pad_input, scatter_windows, unpad, windows
from .workspace import Workspace

__all__ = ["Conv2d", "ConvGeometry", "col2im", "conv2d", "conv_output_size", "im2col"]

def _as_tensor(x: Any) -> Tensor:
    return x if isinstance(x, Tensor) else Tensor(x)


# -- im2col and its adjoint ------------------------------------------------------------------
class ConvGeometry(NamedTuple):
    """Where a convolution's receptive fields lie: the input's shape (N, C, H, W), the kernel,
    the padding (top, bottom, left, right), stride, dilation, channel groups and the output's
    (OH, OW).  Nothing in it depends on the input's values."""

    x_shape: tuple[int, ...]
    kernel: tuple[int, int]
    pad: Pad
    stride: tuple[int, int]
    dilation: tuple[int, int]
    groups: int
    out_hw: tuple[int, int]


def im2col(x: Any, geom: ConvGeometry) -> Any:
    """The receptive fields of ``x`` (N, C, H, W) as columns, ``cols[n, g, (c, i, j), (oh,
    ow)] = x_pad[n, g*cg + c, oh*sh + i*dh, ow*sw + j*dw]`` (output positions last, so a
    product with the kernels lands in NCHW order and the copy's inner loop runs along a row of
    the image).  An array gives an array; a tensor gives a recorded node whose backward is
    :func:`col2im`, so the convolution has derivatives of every order."""
    if isinstance(x, Tensor):
        return IM2COL(_im2col(x.data, geom), (x,), geom)
    return _im2col(x, geom)


def _im2col(xd: ndarray, geom: ConvGeometry) -> ndarray:
    n, c = xd.shape[:2]
    kh, kw = geom.kernel
    win = windows(pad_input(xd, geom.pad), geom.kernel, geom.stride, geom.dilation)
    oh, ow = geom.out_hw                                       # win: (N, C, OH, OW, kh, kw)
    xp = namespace(xd)
    return xp.reshape(xp.permute_dims(win, (0, 1, 4, 5, 2, 3)),  # the one copy
                      (n, geom.groups, c // geom.groups * kh * kw, oh * ow))


def col2im(cols: Any, geom: ConvGeometry) -> Any:
    """The adjoint of :func:`im2col`: each column added back onto the receptive field it came
    from, the padding dropped, giving shape (N, C, H, W).  An array gives an array; a tensor
    a recorded node whose backward is :func:`im2col`."""
    if isinstance(cols, Tensor):
        return COL2IM(_col2im(cols.data, geom), (cols,), geom)
    return _col2im(cols, geom)


def _col2im(dcols: ndarray, geom: ConvGeometry) -> ndarray:
    n, c, h, w = geom.x_shape
    (kh, kw), (top, bottom, left, right) = geom.kernel, geom.pad
    oh, ow = geom.out_hw
    xp = namespace(dcols)
    dwin = xp.permute_dims(xp.reshape(dcols, (n, c, kh, kw, oh, ow)), (0, 1, 4, 5, 2, 3))
    dxp = scatter_windows(dwin, (n, c, h + top + bottom, w + left + right), geom.stride,
                          geom.dilation)
    dx = unpad(dxp, geom.pad)
    # NumPy: the layer below reads dx faster in C order than as the padded array's slice.
    return NUMPY.ascontiguousarray(dx) if xp is NUMPY else dx


def _im2col_backward(out: Tensor, g: Any) -> tuple:
    return (col2im(g, out.saved),)


def _col2im_backward(out: Tensor, g: Any) -> tuple:
    return (im2col(g, out.saved),)


IM2COL = Primitive("im2col", _im2col_backward, saved="constant")
COL2IM = Primitive("col2im", _col2im_backward, saved="constant")


def _contiguous(a: Any) -> Any:
    """A NumPy array in C order (for a faster product); another array or a tensor as it is
    (a tensor's values are only ever read through operations)."""
    return NUMPY.ascontiguousarray(a) if type(a) is ndarray else a


# -- the primitive --------------------------------------------------------------------------------
def conv2d(x: Any, weight: Tensor, bias: Tensor | None = None, stride: Any = 1,
           padding: Any = 0, dilation: Any = 1, groups: int = 1, *,
           workspace: Workspace | None = None) -> Tensor:
    """2-D cross-correlation of ``x`` (N, C, H, W) with ``weight`` (O, C/groups, kh, kw), as
    ``torch.nn.functional.conv2d``; ``padding`` is an int, a pair, or ``"same"`` (stride 1)
    or ``"valid"``.

    >>> import numpy as np, chainrule as cr
    >>> w = cr.tensor(np.ones((2, 1, 3, 3), np.float32))
    >>> conv2d(np.ones((1, 1, 5, 5), np.float32), w, padding="same").shape
    (1, 2, 5, 5)

    Args:
        x: Input of shape (N, C, H, W): a tensor or an array.
        weight: Kernels of shape (O, C/groups, kh, kw), of the input's dtype.
        bias: Per-output-channel bias of shape (O,), or None.
        stride: Step between receptive fields: an int or a pair.
        padding: An int or a pair (rows, columns) of zeros on each side, ``"valid"`` or
            ``"same"``.
        dilation: Spacing between kernel elements: an int or a pair.
        groups: Channel groups (see :class:`Conv2d`).
        workspace: Where the NumPy fast path keeps its large arrays between calls (a
            :class:`Conv2d` passes its own); None makes new ones every call.

    Returns:
        A tensor of shape (N, O, OH, OW).

    Raises:
        ConfigError: A stride, dilation, padding or ``groups`` is not a valid integer or pair.
        ShapeError: The input or weight has the wrong rank, the channels do not match
            ``groups``, a bad ``padding``, or the input is smaller than the dilated kernel.
        DTypeError: The input and weight dtypes differ.
    """
    x = _as_tensor(x)
    xd, wd = x.data, weight.data
    xp = namespace(xd, wd) if bias is None else namespace(xd, wd, bias.data)
    stride_ = check_pair(stride, "conv2d", "stride")
    dilation_ = check_pair(dilation, "conv2d", "dilation")
    groups = check_size(groups, "conv2d", "groups")
    if xd.ndim != 4:
        raise ShapeError(f"conv2d: input must have shape (N, C, H, W), got {xd.shape}")
    if wd.ndim != 4:
        raise ShapeError(f"conv2d: weight must have shape (O, C/groups, kh, kw), got "
                         f"{wd.shape}")
    if xd.dtype != wd.dtype:
        raise DTypeError(f"conv2d: input is {dtype_name(xd.dtype)} but weight is "
                         f"{dtype_name(wd.dtype)}; convert one explicitly, e.g. "
                         f"x.astype('{dtype_name(wd.dtype)}')")
    n, c, h, w = xd.shape
    o, cg, kh, kw = wd.shape
    if c != cg * groups or o % groups:
        raise ShapeError(f"conv2d: input has {c} channels and weight shape {wd.shape} with "
                         f"groups={groups}: need channels = {cg} * {groups} and "
                         f"{o} output channels divisible by {groups}")
    pad = resolve_padding(padding, (kh, kw), stride_, dilation_, "conv2d")
    oh = conv_output_size(h, kh, stride_[0], pad[0] + pad[1], dilation_[0])
    ow = conv_output_size(w, kw, stride_[1], pad[2] + pad[3], dilation_[1])
    if oh < 1 or ow < 1:
        raise ShapeError(f"conv2d: input of {h}x{w} (padded by {pad}) is smaller than the "
                         f"{kh}x{kw} kernel with dilation {dilation_}")
    geom = ConvGeometry(xd.shape, (kh, kw), pad, stride_, dilation_, groups, (oh, ow))
    inputs = (x, weight) if bias is None else (x, weight, bias)
    kern = kernels.get() if kernels_conv.usable(xd, wd, stride_, dilation_, groups) else None
    if kern is not None:  # NumPy with numba: compiled gather and scatter (kernels_conv)
        bd = None if bias is None else bias.data
        out, cols, whole = kernels_conv.forward(kern, xd, wd, bd, pad, (oh, ow), workspace)
        return CONV2D(out, inputs, (cols, geom, whole, workspace))
    cols = _im2col(xd, geom)
    out = xp.reshape(xp.reshape(wd, (groups, o // groups, cg * kh * kw)) @ cols,
                     (n, o, oh, ow))
    if bias is not None:
        out += xp.reshape(bias.data, (1, o, 1, 1))
    return CONV2D(out, inputs, (cols, geom))


def _conv2d_backward(out: Tensor, g: ndarray) -> tuple[ndarray | None, ...]:
    # Written with products, reshapes, im2col and col2im only, so that on tensors it records
    # its own graph (cols then come from the input tensor again: _conv2d_saved).
    x, weight = out.inputs[0], out.inputs[1]
    if len(out.saved) == 4:  # the compiled forward's columns (first order, NumPy)
        cols, geom, whole, workspace = out.saved
        return tuple(kernels_conv.backward(
            kernels.get(), g, weight.data, cols, whole, geom.x_shape, geom.pad,
            x.requires_grad, len(out.inputs) == 3, workspace))
    cols, geom = out.saved
    xp = namespace(g)  # on tensors (a gradient of a gradient): the recorded operations
    groups = geom.groups
    o, cg, kh, kw = weight.shape
    n, _, oh, ow = g.shape
    g_mat = xp.reshape(g, (n, groups, o // groups, oh * ow))    # laid out like the product
    # out[n] = W @ cols[n], so dW = sum_n G[n] @ cols[n].T ...
    k, length = cols.shape[2:]
    if k >= length // 2:
        # ... as (cols[n] @ G[n].T).T with G transposed once: with many rows in cols (LeNet's
        # second layer: 150 x 140 per example) this runs 2-3x faster than reading cols
        # transposed; with few rows and long ones (the first layer) the copy of G costs more.
        g_t = _contiguous(xp.permute_dims(g_mat, (0, 1, 3, 2)))
        dw = xp.reshape(xp.permute_dims(xp.sum(cols @ g_t, axis=0), (0, 2, 1)), weight.shape)
    else:
        dw = xp.reshape(xp.sum(g_mat @ xp.permute_dims(cols, (0, 1, 3, 2)), axis=0),
                        weight.shape)
    grads: list[ndarray | None] = [None, dw]
    if len(out.inputs) == 3:
        grads.append(xp.sum(g, axis=(0, 2, 3)))
    if x.requires_grad:
        # ... and dcols = W.T @ G, scattered back onto the input (col2im)
        wmat = xp.reshape(weight.data, (groups, o // groups, cg * kh * kw))
        dcols = xp.permute_dims(wmat, (0, 2, 1)) @ g_mat            # (N, G, cg*kh*kw, L)
        grads[0] = col2im(dcols, geom)
    return tuple(grads)


def _conv2d_saved(out: Tensor) -> tuple:
    """The saved values for a gradient of a gradient: ``cols`` depend on the input's values,
    so they are taken again from the input tensor (a recorded im2col)."""
    geom = out.saved[1]
    return im2col(out.inputs[0], geom), geom


CONV2D = Primitive("conv2d", _conv2d_backward, saved=_conv2d_saved)


def resolve_padding(padding: Any, kernel: tuple[int, int], stride: tuple[int, int],
                    dilation: tuple[int, int], where: str) -> Pad:
    """``padding`` (int, pair, "valid" or "same") as (top, bottom, left, right)."""
    if padding == "valid":
        return (0, 0, 0, 0)
    if padding == "same":
        if stride != (1, 1):
            raise ShapeError(f"{where}: padding='same' needs stride 1, got stride {stride}")
        # The total padding is dilation*(k-1); an odd total puts the extra row at the bottom
        # (and the extra column at the right), as PyTorch does.
        th, tw = dilation[0] * (kernel[0] - 1), dilation[1] * (kernel[1] - 1)
        return (th // 2, th - th // 2, tw // 2, tw - tw // 2)
    if isinstance(padding, str):
        raise ShapeError(f"{where}: padding must be an int, a pair, 'same' or 'valid', got "
                         f"{padding!r}")
    ph, pw = check_pair(padding, where, "padding", low=0)
    return (ph, ph, pw, pw)


# -- the layer --------------------------------------------------------------------------------
class Conv2d(Module):
    """A 2-D convolution layer, as ``torch.nn.Conv2d``: weight (out, in/groups, kh, kw).

    Weights start as in PyTorch, uniform in +-1/sqrt(fan_in) with fan_in = in/groups*kh*kw
    (the bias too); ``init`` names another scheme for the weight, with a zero bias.

    >>> import numpy as np, chainrule as cr
    >>> layer = Conv2d(1, 6, 5, padding=2, rng=0)
    >>> layer(np.zeros((2, 1, 28, 28), np.float32)).shape
    (2, 6, 28, 28)
    >>> layer.output_shape((None, 1, 28, 28))
    (None, 6, 28, 28)

    Args:
        in_channels: Channels C of the input.
        out_channels: Channels of the output (the number of kernels).
        kernel_size: Kernel height and width: an int or a pair (kh, kw).
        stride: Step between receptive fields: an int or a pair.
        padding: Zeros added around the input: an int or a pair (rows, columns) on each
            side, ``"valid"`` (none) or ``"same"`` (output as large as the input; stride 1
            only, an odd total puts the extra row/column at the bottom/right as PyTorch).
        dilation: Spacing between kernel elements: an int or a pair.
        groups: Channel groups; each group of in_channels/groups inputs feeds
            out_channels/groups outputs (``groups=in_channels`` is a depthwise convolution).
        bias: Whether to learn an additive per-channel ``bias``.
        init: A name from :mod:`chainrule.nn.init` for the weight (the bias then starts at
            zero); None for PyTorch's uniform default.
        dtype: Floating-point type of the parameters; inputs are converted to it.
        rng: Seed or generator for the initial draw; by default the shared generator.

    Shapes: input ``(N, in_channels, H, W)``; output ``(N, out_channels, OH, OW)`` with
    ``OH = (H + pad_top + pad_bottom - dilation*(kh-1) - 1) // stride + 1``, and likewise OW.

    Raises:
        ConfigError: A size, stride, dilation or padding is not a (non-negative for padding)
            integer or pair, ``dtype`` is not a floating-point type, or ``init`` is unknown.
        ShapeError: ``groups`` does not divide both channel counts, ``padding`` is an
            unknown string, or ``"same"`` with a stride other than 1; when called, the input
            is not (N, in_channels, H, W) or is smaller than the dilated kernel.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: Any, stride: Any = 1,
                 padding: Any = 0, dilation: Any = 1, groups: int = 1, bias: bool = True,
                 init: str | None = None, dtype: Any = "float32", rng: RNGLike = None) -> None:
        super().__init__()
        self.in_channels = check_size(in_channels, "Conv2d", "in_channels")
        self.out_channels = check_size(out_channels, "Conv2d", "out_channels")
        self.kernel_size = check_pair(kernel_size, "Conv2d", "kernel_size")
        self.stride = check_pair(stride, "Conv2d", "stride")
        self.dilation = check_pair(dilation, "Conv2d", "dilation")
        self.groups = check_size(groups, "Conv2d", "groups")
        if self.in_channels % self.groups or self.out_channels % self.groups:
            raise ShapeError(f"Conv2d: in_channels ({in_channels}) and out_channels "
                             f"({out_channels}) must both be divisible by groups ({groups})")
        self.padding = padding if isinstance(padding, str) else check_pair(
            padding, "Conv2d", "padding", low=0)
        self._pad = resolve_padding(self.padding, self.kernel_size, self.stride,
                                    self.dilation, "Conv2d")
        dt = check_dtype(dtype, "Conv2d")
        kh, kw = self.kernel_size
        shape = (self.out_channels, self.in_channels // self.groups, kh, kw)
        self.weight = Parameter(empty(shape, dt, "Conv2d"))
        self.bias = Parameter(empty((self.out_channels,), dt, "Conv2d")) if bias else None
        # the compiled path's columns, outputs and gradients, kept between calls
        self.workspace = Workspace()
        gen = get_rng(rng)
        if init is None:
            bound = 1.0 / math.sqrt(shape[1] * kh * kw)
            _init.uniform_(self.weight, -bound, bound, gen)
            if self.bias is not None:
                _init.uniform_(self.bias, -bound, bound, gen)
        else:
            _init.get(init)(self.weight, rng=gen)
            if self.bias is not None:
                _init.zeros_(self.bias)

    def forward(self, x: Any) -> Tensor:
        x = _as_tensor(x)
        if x.data.dtype != self.weight.data.dtype:
            x = ops.astype(x, self.weight.data.dtype)
        return conv2d(x, self.weight, self.bias, self.stride, self.padding, self.dilation,
                      self.groups, workspace=self.workspace)

    def get_config(self) -> dict[str, Any]:
        return {"in_channels": self.in_channels, "out_channels": self.out_channels,
                "kernel_size": list(self.kernel_size), "stride": list(self.stride),
                "padding": (self.padding if isinstance(self.padding, str)
                            else list(self.padding)),
                "dilation": list(self.dilation), "groups": self.groups,
                "bias": self.bias is not None, "dtype": dtype_name(self.weight.data.dtype)}

    @classmethod
    def from_config(cls, config: Any) -> Conv2d:
        return cls(**{"init": "zeros", **config})  # the weights come from the file

    def output_shape(self, input_shape: Shape) -> Shape:
        shape = (None, self.in_channels, None, None) if input_shape is None else input_shape
        if len(shape) != 4 or shape[1] not in (None, self.in_channels):
            raise ShapeError(f"{self.extra_repr_call()} needs inputs of shape (N, "
                             f"{self.in_channels}, H, W), got {shape}")
        top, bottom, left, right = self._pad
        sizes = []
        for size, k, s, p, d in zip(shape[2:], self.kernel_size, self.stride,
                                    (top + bottom, left + right), self.dilation):
            if size is None:
                sizes.append(None)
                continue
            out = conv_output_size(size, k, s, p, d)
            if out < 1:
                raise ShapeError(f"{self.extra_repr_call()}: inputs of {shape[2]}x{shape[3]} "
                                 "are smaller than the kernel")
            sizes.append(out)
        return (shape[0], self.out_channels, *sizes)

    def extra_repr_call(self) -> str:
        return f"Conv2d({self.extra_repr()})"

    def extra_repr(self) -> str:
        parts = [f"{self.in_channels}, {self.out_channels}",
                 f"kernel_size={self.kernel_size}"]
        if self.stride != (1, 1):
            parts.append(f"stride={self.stride}")
        if self.padding not in ((0, 0), "valid"):
            parts.append(f"padding={self.padding!r}" if isinstance(self.padding, str)
                         else f"padding={self.padding}")
        if self.dilation != (1, 1):
            parts.append(f"dilation={self.dilation}")
        if self.groups != 1:
            parts.append(f"groups={self.groups}")
        if self.bias is None:
            parts.append("bias=False")
        if dtype_name(self.weight.data.dtype) != "float32":
            parts.append(f"dtype={dtype_name(self.weight.data.dtype)}")
        return ", ".join(parts)
