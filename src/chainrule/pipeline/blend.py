"""A network averaged with a linear model, as one plain network.

On small, mostly linear tables a one-hidden-layer network stopped early on a few dozen
validation rows lands a little below a linear model, and a linear model below the network
where the table is not linear.  Their average (of the outputs before the output activation:
the logits of a classifier) is rarely far below the better of the two, and often above both
(measured on 18 real tables against scikit-learn's linear and MLP pipelines; see
``tests/e2e/compare_with_sklearn.py``).

The average needs no new layer: with a ReLU hidden layer a linear term of the inputs is
``x = relu(x) - relu(-x)``, so the network ``n -> h -> out`` averaged with the linear model
``n -> out`` is exactly the network ``n -> h + 2n -> out`` that :func:`merge` builds: the
hidden layer gains the units ``relu(x_i)`` and ``relu(-x_i)``, the output layer takes half of
each model's weights.  A model file, ``predict`` and the ONNX export see a plain network.

>>> import numpy as np
>>> from chainrule.training import build_mlp
>>> net, lin = build_mlp(3, [4], 2, rng=0), build_mlp(3, [], 2, rng=1)
>>> both = merge(net, lin)
>>> both
Sequential(
  (0): Linear(3, 10)
  (1): ReLU()
  (2): Linear(10, 2)
)
>>> x = np.random.default_rng(2).normal(size=(5, 3)).astype(np.float32)
>>> want = (net(x).data + lin(x).data) / 2
>>> bool(np.allclose(both(x).data, want, atol=1e-6))
True
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import ConfigError
from ..nn import Linear, ReLU, Sequential

__all__ = ["RIDGE", "can_merge", "merge", "ridge"]

RIDGE = 1.0
"""The ridge penalty of :func:`ridge` (scikit-learn's ``Ridge`` default), on standardised
inputs and a standardised target: it keeps the solution defined where columns are
collinear (one-hot categories with their missing level) and moves little else."""


def _parts(network: Any) -> list[Any]:
    return list(network) if isinstance(network, Sequential) else []


def can_merge(network: Any) -> bool:
    """Whether ``network`` is Linear, ReLU, Linear (then any output activation), the shape
    :func:`merge` averages with a linear model."""
    parts = _parts(network)
    return len(parts) >= 3 and isinstance(parts[0], Linear) and isinstance(parts[1], ReLU) \
        and isinstance(parts[2], Linear) and not any(isinstance(p, Linear) for p in parts[3:])


def merge(network: Any, linear: Any) -> Sequential:
    """The network whose outputs are the average of ``network``'s (Linear, ReLU, Linear,
    then its output activation, if any) and ``linear``'s (one Linear, then the same
    activation) before the activation; see the module docstring."""
    if not can_merge(network):
        raise ConfigError("merge needs a network of Linear, ReLU, Linear (then an output "
                          f"activation), got {network!r:.200}")
    first, _, last, *tail = _parts(network)
    lin = _parts(linear)[0] if _parts(linear) else linear
    if not isinstance(lin, Linear):
        raise ConfigError(f"merge needs a linear model (one Linear layer), got {linear!r:.200}")
    w1, b1 = np.asarray(first.weight.data), np.asarray(first.bias.data)
    w2, b2 = np.asarray(last.weight.data), np.asarray(last.bias.data)
    wl, bl = np.asarray(lin.weight.data), np.asarray(lin.bias.data)
    n, h, out = w1.shape[1], w1.shape[0], w2.shape[0]
    if wl.shape != (out, n):
        raise ConfigError(f"merge: the linear model maps {wl.shape[1]} inputs to "
                          f"{wl.shape[0]} outputs; the network {n} to {out}")
    dtype = w1.dtype
    eye = np.eye(n, dtype=dtype)
    hidden = Linear(n, h + 2 * n, dtype=dtype, rng=0)
    hidden.weight.data = np.concatenate([w1, eye, -eye]).astype(dtype)
    hidden.bias.data = np.concatenate([b1, np.zeros(2 * n, dtype)]).astype(dtype)
    top = Linear(h + 2 * n, out, dtype=dtype, rng=0)
    top.weight.data = (np.concatenate([w2, wl, -wl], axis=1) / 2).astype(dtype)
    top.bias.data = ((b2 + bl) / 2).astype(dtype)
    return Sequential(hidden, ReLU(), top, *tail)


def ridge(Z: np.ndarray, y: np.ndarray, comm: Any = None, alpha: float = RIDGE,
          dtype: Any = np.float32) -> Sequential:
    """The linear model ``Z -> y`` of least squares with the penalty ``alpha * |w|^2`` (the
    intercept unpenalised), solved exactly, as a network of one Linear layer.  With ``comm``
    (a ``chainrule.distributed.Communicator``) ``Z`` and ``y`` are this rank's rows and every
    rank gets the fit of all the rows together.

    >>> Z = np.array([[0.0], [1.0], [2.0], [3.0]])
    >>> model = ridge(Z, 2 * Z + 1, alpha=0.0, dtype=np.float64)
    >>> np.round(model[0].weight.data, 6).tolist(), np.round(model[0].bias.data, 6).tolist()
    ([[2.0]], [1.0])
    """
    Z = np.asarray(Z, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64).reshape(len(Z), -1)
    A = np.column_stack([Z, np.ones(len(Z))])
    gram, cross = A.T @ A, A.T @ y
    if comm is not None:
        gram, cross = comm.sum(gram), comm.sum(cross)
    penalty = np.full(A.shape[1], float(alpha))
    penalty[-1] = 0.0
    w = np.linalg.lstsq(gram + np.diag(penalty), cross, rcond=None)[0]
    layer = Linear(Z.shape[1], y.shape[1], dtype=dtype, rng=0)
    layer.weight.data = np.ascontiguousarray(w[:-1].T).astype(dtype)
    layer.bias.data = w[-1].astype(dtype)
    return Sequential(layer)
