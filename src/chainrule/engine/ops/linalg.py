"""Matrix products: ``@`` with NumPy's rules, and the dense layer's ``x @ W.T + b`` as one node."""

from __future__ import annotations

from typing import Any

from ...errors import ShapeError
from ..backend import NUMPY, namespace, ndarray
from ..backprop import sum_rows
from ..primitive import Primitive, node
from ..scratch import KEPT_BYTES, Scratch
from ..tensor import Tensor
from .operands import binary, broadcast_error

__all__ = ["linear", "matmul"]


def matmul(a: Any, b: Any) -> Tensor:
    """Matrix product with NumPy's rules: 1-D, 2-D and batched (broadcast) operands."""
    a, b = binary(a, b, "matmul")
    if a.ndim == 0 or b.ndim == 0:
        raise ShapeError("matmul: operands must have at least one dimension; use * for scalars")
    ka = a.shape[-1]
    kb = b.shape[-2] if b.ndim > 1 else b.shape[0]
    if ka != kb:
        raise ShapeError(f"matmul: shapes {a.shape} and {b.shape} do not align ({ka} != {kb})")
    try:
        return node(a.data @ b.data, (a, b), MATMUL)
    except (ValueError, TypeError):
        raise broadcast_error("matmul (batch dimensions)", a, b) from None


def _matmul_backward(out: Tensor, g: ndarray) -> tuple:
    a, b = out._parents
    ad, bd = a.data, b.data
    if ad.ndim == 1 and bd.ndim == 1:  # inner product: a scalar output
        return g * bd, g * ad
    # Treat 1-D operands as a row (left) or a column (right), as NumPy does, then drop the axis.
    xp = namespace(g, ad, bd)
    if ad.ndim == 1:
        ad = ad[None, :]
        g = xp.expand_dims(g, axis=-2)
    if bd.ndim == 1:
        bd = bd[:, None]
        g = xp.expand_dims(g, axis=-1)
    ga = gb = None
    if a.requires_grad:
        ga = g @ xp.matrix_transpose(bd)
        if a.ndim == 1:
            ga = ga[..., 0, :]
    if b.requires_grad:
        gb = xp.matrix_transpose(ad) @ g
        if b.ndim == 1:
            gb = gb[..., :, 0]
    return ga, gb


MATMUL = Primitive("matmul", _matmul_backward, "{0} @ {1}")


def linear(x: Tensor, weight: Tensor, bias: Tensor | None = None, *,
           workspace: Scratch | None = None) -> Tensor:
    """``x @ weight.T + bias`` as one node: one matmul forward, at most three backward.

    ``weight`` has shape (out_features, in_features): W[l] of shape (n[l], n[l-1]) in the
    course's notation.  ``workspace`` (a layer's, see :mod:`chainrule.engine.scratch`) gives
    the large output and gradients of 2-D NumPy operands their arrays, the same ones step
    after step; the numbers are those of the plain products.
    """
    if x.data.dtype is not weight.data.dtype:
        x, weight = binary(x, weight, "linear")
    xd, wd = x.data, weight.data
    if xd.ndim == 0 or xd.shape[-1] != wd.shape[1]:
        raise ShapeError(
            f"linear: expected inputs with {wd.shape[1]} features in the last dimension "
            f"(weight shape {wd.shape}), got input shape {xd.shape}"
        )
    # The workspace serves 2-D NumPy operands of one dtype whose arrays (input, output and
    # weight, each with its gradient) reach KEPT_BYTES; small layers skip it at once.
    if workspace is not None and (
            type(xd) is not ndarray
            # (len: rows, without building the shape tuple; x has at least one dimension)
            or (xd.size + len(xd) * len(wd) + wd.size) * xd.itemsize < KEPT_BYTES
            or not (type(wd) is ndarray and xd.ndim == 2 and xd.dtype is wd.dtype)):
        workspace = None  # the plain products, forward and backward
    if workspace is not None and xd.shape[0] * wd.shape[0] * xd.itemsize >= KEPT_BYTES:
        out = NUMPY.matmul(xd, wd.T, out=workspace.empty("out", (xd.shape[0], wd.shape[0]),
                                                          xd.dtype))
    elif xd.ndim <= 2:
        out = xd @ wd.T
    else:
        # One (N*L, in) product instead of a batched matmul that broadcasts the weight over N
        # (N small products): 3.2x on (32, 12, 64) @ (256, 64).T, the same numbers row by row.
        xp = namespace(xd)
        out = xp.reshape(xp.reshape(xd, (-1, xd.shape[-1])) @ wd.T,
                         (*xd.shape[:-1], wd.shape[0]))
    if bias is None:
        return node(out, (x, weight), LINEAR, workspace)
    out += bias.data
    return node(out, (x, weight, bias), LINEAR, workspace)


def _linear_backward(out: Tensor, g: ndarray) -> tuple:
    x, w = out._parents[0], out._parents[1]
    # The forward saved the workspace for 2-D NumPy operands of one dtype; a gradient of a
    # gradient (a tensor here) or one of another dtype takes the plain products.
    if out._saved is not None and type(g) is ndarray and g.dtype is w.data.dtype:
        return _linear_backward_kept(out, g, out._saved)
    xp = namespace(g)
    g2 = xp.reshape(g, (-1, g.shape[-1])) if g.ndim != 2 else g
    gx = None
    if x.requires_grad:
        gx = g @ w.data if g.ndim <= 2 else xp.reshape(g2 @ w.data, x.data.shape)
    gw = None
    if w.requires_grad:
        xd = x.data
        gw = g2.T @ (xp.reshape(xd, (-1, xd.shape[-1])) if xd.ndim != 2 else xd)
    if len(out._parents) == 2:
        return gx, gw
    return gx, gw, sum_rows(g2) if out._parents[2].requires_grad else None


def _linear_backward_kept(out: Tensor, g: ndarray, workspace: Scratch) -> tuple:
    """The plain backward's products, written into the workspace's arrays.  The weight's
    gradient becomes the parameter's ``.grad`` (the backward walk keeps an array it is given
    that is no one else's); the workspace hands it out again only once that is let go."""
    x, w = out._parents[0], out._parents[1]
    xd, wd = x.data, w.data
    gx = gw = None
    if x.requires_grad:
        gx = (NUMPY.matmul(g, wd, out=workspace.empty("grad_input", xd.shape, g.dtype))
              if xd.nbytes >= KEPT_BYTES else g @ wd)
    if w.requires_grad:
        gw = (NUMPY.matmul(g.T, xd, out=workspace.empty("grad_weight", wd.shape, g.dtype))
              if wd.nbytes >= KEPT_BYTES else g.T @ xd)
    if len(out._parents) == 2:
        return gx, gw
    return gx, gw, sum_rows(g) if out._parents[2].requires_grad else None


LINEAR = Primitive("linear", _linear_backward,
                   lambda a: f"{a[0]} @ {a[1]}.T" + (f" + {a[2]}" if len(a) > 2 else ""),
                   saved="constant")  # out.saved: the layer's workspace, or None
