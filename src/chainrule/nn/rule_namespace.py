"""The namespace a backward rule computes with: its arrays' library, or, on tensors, the
array API standard's names for chainrule's recorded operations.

A primitive's backward rule takes its array library from the gradient it is given.  In a
gradient-of-gradient pass (``create_graph=True``, :mod:`chainrule.engine.higher`) the same
rule runs again on tensors, so that it records a graph of its own; :data:`TENSOR` then
stands in for the library, so one rule serves both passes.

>>> import numpy as np, chainrule as cr
>>> rule_namespace(np.zeros(2)) is NUMPY, rule_namespace(cr.tensor([1.0])) is TENSOR
(True, True)
>>> TENSOR.sum(TENSOR.reshape(cr.tensor([1.0, 2.0, 3.0, 4.0]), (2, 2)), axis=0).data
array([4., 6.])
"""

from __future__ import annotations

import types
from typing import Any

from ..engine import Tensor, ops
from ..engine.backend import NUMPY, namespace, ndarray

__all__ = ["TENSOR", "rule_namespace"]


def _sum(x: Tensor, /, *, axis: Any = None, keepdims: bool = False) -> Tensor:
    return x.sum(axis=axis, keepdims=keepdims)


def _mean(x: Tensor, /, *, axis: Any = None, keepdims: bool = False) -> Tensor:
    return x.mean(axis=axis, keepdims=keepdims)


def _reshape(x: Tensor, /, shape: tuple[int, ...]) -> Tensor:
    return ops.reshape(x, shape)


def _permute_dims(x: Tensor, /, axes: tuple[int, ...]) -> Tensor:
    return ops.transpose(x, axes)


def _matmul(a: Tensor, b: Tensor, /) -> Tensor:
    return a @ b


TENSOR = types.SimpleNamespace(sum=_sum, mean=_mean, reshape=_reshape,
                               permute_dims=_permute_dims, matmul=_matmul)
"""The standard's functions that nn's backward rules call, as recorded tensor operations."""


def rule_namespace(a: Any) -> Any:
    """The namespace for a backward rule whose gradient is ``a``: :data:`TENSOR` when it is a
    tensor (a gradient-of-gradient pass), its array library otherwise."""
    if type(a) is ndarray:
        return NUMPY
    if isinstance(a, Tensor):
        return TENSOR
    return namespace(a)
