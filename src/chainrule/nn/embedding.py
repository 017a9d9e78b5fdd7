"""A lookup table of learned vectors, one per token: PyTorch's ``nn.Embedding``.

``Embedding(num_embeddings, embedding_dim)(idx)`` picks row ``idx`` of ``weight`` for every
integer in ``idx``, so indices of shape (N, T) give vectors of shape (N, T, embedding_dim).
The backward adds the gradients of repeated indices into their row (a word seen twice in a
batch gets both contributions).  For a table of at most :data:`ONE_HOT_ROWS` rows the lookup is
one node whose backward is one product, ``one_hot(idx).T @ grad``; for larger tables it is
tensor indexing with an integer array, whose backward scatters with ``add_at``.  The product
is faster where the table is small: 384 tokens of 64 features into 27 rows (a character
model's batch), float32, one thread: 215 us with NumPy's ``add.at``, 30 us as the product.

>>> import numpy as np
>>> emb = Embedding(10, 3, padding_idx=0, rng=0)
>>> emb(np.array([[1, 2, 0], [4, 0, 0]])).shape
(2, 3, 3)
>>> emb.weight.data[0].tolist()   # the padding row starts at zero and is never trained
[0.0, 0.0, 0.0]
"""

from __future__ import annotations

import numbers
from typing import Any

from ..engine import DataError, DTypeError, Primitive, ShapeError, Tensor, ops
from ..engine.backend import dtype_name, namespace, ndarray
from ..engine.devices import to_numpy
from ..engine.random import RNGLike, get_rng
from . import init as _init
from ._arrays import as_array_like
from ._checks import check_dtype, check_size
from .module import Module, Parameter, Shape, empty

__all__ = ["EMBEDDING", "ONE_HOT_ROWS", "Embedding"]

ONE_HOT_ROWS = 256
"""Tables up to this many rows take their gradient as one product with the one-hot indices
(about V multiply-adds per gradient value, against add_at's ~10 ns per value on NumPy)."""


def _one_hot(index: ndarray, rows: int, skip: int | None, dtype: Any) -> ndarray:
    """(index.size, rows): 1 where a position reads a row; the row ``skip`` gets nothing."""
    xp = namespace(index)
    flat = xp.reshape(index, (-1, 1))
    hit = flat == xp.reshape(xp.arange(rows, dtype=index.dtype), (1, rows))
    if skip is not None:
        hit = hit & (flat != skip)
    return xp.astype(hit, dtype)


def _lookup_backward(out: Tensor, g: ndarray) -> tuple:
    index, padding = out.saved
    xp = namespace(g)
    table = out.inputs[0].data
    one_hot = _one_hot(index, table.shape[0], padding, g.dtype)
    return (xp.matmul(xp.matrix_transpose(one_hot), xp.reshape(g, (-1, g.shape[-1]))),)


EMBEDDING = Primitive("embedding", _lookup_backward, lambda a: f"{a[0]}[idx]",
                      saved="constant")
"""``weight[idx]`` as one node, its gradient one product (tables of few rows)."""


class Embedding(Module):
    """``weight[idx]``: a table of ``num_embeddings`` vectors of size ``embedding_dim``.

    ``weight`` has shape (num_embeddings, embedding_dim) and starts N(0, 1), as in PyTorch.
    ``padding_idx`` (negative counts from the end, as in PyTorch) names a row that starts at
    zero and gets no gradient, for the filler token of sequences padded to one length.
    ``forward(idx)`` takes integers of any shape (an array, a list or an integer tensor) and
    returns a tensor of shape ``(*idx.shape, embedding_dim)``; indices outside
    [0, num_embeddings) and floating-point indices are refused.

    >>> import chainrule as cr
    >>> cr.nn.Embedding(10, 4, rng=0)([[1, 2, 3]]).shape
    (1, 3, 4)

    Args:
        num_embeddings: Number of rows in the table (the vocabulary size).
        embedding_dim: Size of each vector.
        padding_idx: A row that starts at zero and is never updated; None for none.
        dtype: Floating-point type of ``weight``.
        rng: Seed or generator for the initial draw; by default the shared generator.

    Shapes: indices of any shape ``(*)``; output ``(*, embedding_dim)``.

    Raises:
        ConfigError: A size is not a positive integer, or ``dtype`` is not a floating-point
            type.
        ShapeError: ``padding_idx`` is not an integer in [-num_embeddings, num_embeddings).
        DTypeError: When called, the indices are not integers.
        DataError: When called, an index is outside [0, num_embeddings).
    """

    def __init__(self, num_embeddings: int, embedding_dim: int,
                 padding_idx: int | None = None, dtype: Any = "float32",
                 rng: RNGLike = None) -> None:
        super().__init__()
        self.num_embeddings = check_size(num_embeddings, "Embedding", "num_embeddings")
        self.embedding_dim = check_size(embedding_dim, "Embedding", "embedding_dim")
        if padding_idx is not None:
            n = self.num_embeddings
            if isinstance(padding_idx, bool) or not isinstance(padding_idx, numbers.Integral) \
                    or not -n <= padding_idx < n:
                raise ShapeError(f"Embedding: padding_idx must be an integer in [{-n}, {n}) "
                                 f"for {n} embeddings, got {padding_idx!r}")
            padding_idx = int(padding_idx) % n  # stored non-negative, as PyTorch does
        self.padding_idx = padding_idx
        dt = check_dtype(dtype, "Embedding")
        self.weight = Parameter(empty((self.num_embeddings, self.embedding_dim), dt,
                                      "Embedding"))
        _init.normal_(self.weight, 0.0, 1.0, get_rng(rng))
        if padding_idx is not None:
            self.weight.data[padding_idx, ...] = 0

    def forward(self, idx: Any) -> Tensor:
        index = self._checked_index(idx)
        w = self.weight
        if self.num_embeddings <= ONE_HOT_ROWS:
            xp = namespace(w.data)
            rows = xp.take(w.data, xp.reshape(index, (-1,)), axis=0)
            return EMBEDDING(xp.reshape(rows, (*index.shape, self.embedding_dim)), (w,),
                             (index, self.padding_idx))
        rows = ops.getitem(w, index)
        if self.padding_idx is None:
            return rows
        # The padding positions read a detached copy of their row, so no gradient reaches it
        # (PyTorch's rule) while the row's value is still what they return.
        pad = (index == self.padding_idx)[..., None]
        return ops.where(pad, rows.detach(), rows)

    def _checked_index(self, idx: Any) -> Any:
        """The indices as an integer array on the weight's device (host arrays and lists are
        moved there), checked to lie in [0, num_embeddings)."""
        index = as_array_like(idx.data if isinstance(idx, Tensor) else idx, self.weight.data)
        kind = dtype_name(index.dtype)
        if not kind.startswith(("int", "uint")):
            hint = " (cast them with .astype('int64'))" if kind.startswith("float") else ""
            raise DTypeError(f"Embedding: indices must be integers, got {kind} values{hint}")
        n = self.num_embeddings
        if index.size:
            if type(index) is ndarray:  # two quick passes on the CPU
                low, high = int(index.min()), int(index.max())
                ok = low >= 0 and high < n
            else:  # one reduction read back from the device
                ok = not bool(namespace(index).any((index < 0) | (index >= n)))
            if not ok:
                host = to_numpy(index)
                low, high = int(host.min()), int(host.max())
                raise DataError(f"Embedding: index {low if low < 0 else high} is out of range "
                                f"for {n} embeddings; indices must lie in [0, {n - 1}]")
        return index

    def get_config(self) -> dict[str, Any]:
        return {"num_embeddings": self.num_embeddings, "embedding_dim": self.embedding_dim,
                "padding_idx": self.padding_idx, "dtype": dtype_name(self.weight.data.dtype)}

    @classmethod
    def from_config(cls, config: Any) -> Embedding:
        # The weights come from the file: draw from a fixed seed rather than move the shared
        # generator that manual_seed set.
        return cls(**{"rng": 0, **config})

    def output_shape(self, input_shape: Shape) -> Shape:
        return None if input_shape is None else (*input_shape, self.embedding_dim)

    def extra_repr(self) -> str:
        dtype = dtype_name(self.weight.data.dtype)
        return (f"{self.num_embeddings}, {self.embedding_dim}"
                + ("" if self.padding_idx is None else f", padding_idx={self.padding_idx}")
                + ("" if dtype == "float32" else f", dtype={dtype}"))
