"""Which loss goes with which output layer, and how outputs become classes or probabilities.

A :class:`Task` names one way of reading a network's last output.  Everything that trains or
predicts asks this module, so the rules exist once:

====================  ==============  ==================  ===================================
task                  last layer      loss                probabilities / classes
====================  ==============  ==================  ===================================
``binary``            ``Sigmoid``     ``bce``             the output itself / ``p > 0.5``
``binary_logits``     none (logits)   ``bce_with_logits`` ``cr.sigmoid(z)`` / ``z > 0``
``multiclass``        none (logits)   ``cross_entropy``   ``cr.softmax(z)`` / ``argmax``
``multiclass_probs``  ``Softmax``     ``cross_entropy``   the output itself / ``argmax``
``regression``        none            ``mse``             (values, no classes)
====================  ==============  ==================  ===================================

Probabilities come from the library's numerically stable :func:`chainrule.sigmoid` and
:func:`chainrule.softmax`, so a logit of 1000 gives probability 1, not an overflow.  A
one-column binary output gives two columns of probabilities, ``[1 - p, p]``; several sigmoid
columns (one yes/no decision each) stay one probability per column.

>>> import numpy as np
>>> get("binary_logits").probabilities(np.array([[0.0], [1000.0]])).tolist()
[[0.5, 0.5], [0.0, 1.0]]
>>> get("multiclass").classes(np.array([[0.1, 2.0, -1.0]])).tolist()
[1]
>>> get("softmax")  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
chainrule.errors.ConfigError: unknown task 'softmax'; choose one of binary, binary_logits, ...
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from .. import nn
from ..engine import Tensor, no_grad, sigmoid, softmax
from ..errors import ConfigError

__all__ = ["TASKS", "Task", "as_rows", "default_loss", "for_target", "get", "infer",
           "last_layer", "output_width"]

Array = np.ndarray


@dataclass(frozen=True)
class Task:
    """One way of reading a network's output.

    ``loss`` is the loss name (see :data:`chainrule.training.LOSSES`) that fits it,
    ``output`` the last layer :func:`chainrule.training.build_mlp` adds (``identity``,
    ``sigmoid`` or ``softmax``), ``kind`` is ``classification`` or ``regression``.

    The readout, as data (an exporter rebuilds it from these): ``squash`` is the function
    that turns raw outputs into probabilities (``"sigmoid"``, ``"softmax"``, or None where
    the last layer already gives them, or for regression); with ``binary`` each output
    column is one yes/no decision, output > ``cut`` (0 for a logit, 0.5 for a
    probability), and one column gives the two probabilities [1 - p, p]; otherwise there is
    one output per class and the class is the largest.
    """

    name: str
    loss: str
    output: str
    kind: str
    squash: str | None = None
    binary: bool = False
    cut: float = 0.0

    @property
    def is_classifier(self) -> bool:
        """Whether outputs stand for classes."""
        return self.kind == "classification"

    def n_outputs(self, n_classes: int | None = None) -> int:
        """Network outputs for ``n_classes`` classes (one for binary tasks and regression)."""
        if self.is_classifier and not self.binary:
            if n_classes is None or n_classes < 2:
                raise ConfigError(f"task {self.name!r} needs the number of classes (>= 2), "
                                  f"got {n_classes!r}")
            return int(n_classes)
        return 1

    def probabilities(self, out: Any) -> Array:
        """Class probabilities (float64) from the raw outputs ``out`` (one row per example)."""
        z = _array(out)
        if not self.is_classifier:
            raise ConfigError("a regression task has no class probabilities; use its values")
        with no_grad():  # on the host, whatever the default device: these are read here
            if self.squash == "sigmoid":
                z = sigmoid(Tensor(z, device="cpu")).data
            elif self.squash == "softmax":
                z = softmax(Tensor(z, device="cpu"), axis=1).data
        if self.binary and z.shape[1] == 1:
            return np.hstack([1.0 - z, z])
        return z

    def classes(self, out: Any) -> Array:
        """Predicted classes (int64) from the raw outputs: one label per example, or one 0/1
        decision per column for several binary columns."""
        if type(out) is np.ndarray and out.dtype.char in "fd" and out.ndim == 2 \
                and self.is_classifier:
            # The largest output, or an output past a cut the outputs' own float type holds
            # exactly (0 or 0.5), is the same in that type: the float64 copy (a tenth of an
            # epoch of a small network) is left out.
            if not self.binary:
                return out.argmax(axis=1).astype(np.int64)
            cut = out.dtype.type(self.cut)
            if cut == self.cut:
                decided = out > cut
                return decided[:, 0].astype(np.int64) if out.shape[1] == 1 else \
                    decided.astype(np.int64)
        z = _array(out)
        if not self.is_classifier:
            raise ConfigError("a regression task has no classes; use its values")
        if self.binary:
            # Thresholding the logit at 0 equals thresholding the probability at 0.5, with no
            # rounding at the boundary.
            decided = z > self.cut
            return decided[:, 0].astype(np.int64) if z.shape[1] == 1 else \
                decided.astype(np.int64)
        return z.argmax(axis=1).astype(np.int64)

    def target_classes(self, y: Any) -> Array:
        """True classes from prepared targets: integer labels stay, one-hot or probability
        rows give their argmax, 0/1 columns give 0/1 (one per column when several)."""
        y = np.asarray(y)
        if self.binary:
            y = as_rows(y) > 0.5
            return y[:, 0].astype(np.int64) if y.shape[1] == 1 else y.astype(np.int64)
        if y.ndim == 2 and y.shape[1] > 1:
            return y.argmax(axis=1).astype(np.int64)
        return y.reshape(len(y)).astype(np.int64)


def as_rows(a: Array) -> Array:
    """``a`` as a 2-D array with one row per example (zero rows allowed)."""
    return a if a.ndim == 2 else a.reshape(a.shape[0], int(np.prod(a.shape[1:])))


def _array(out: Any) -> Array:
    return as_rows(np.asarray(out.data if isinstance(out, Tensor) else out, dtype=np.float64))


TASKS: dict[str, Task] = {
    "binary": Task("binary", "bce", "sigmoid", "classification", binary=True, cut=0.5),
    "binary_logits": Task("binary_logits", "bce_with_logits", "identity", "classification",
                          squash="sigmoid", binary=True),
    "multiclass": Task("multiclass", "cross_entropy", "identity", "classification",
                       squash="softmax"),
    "multiclass_probs": Task("multiclass_probs", "cross_entropy", "softmax", "classification"),
    "regression": Task("regression", "mse", "identity", "regression"),
}


def get(name: str) -> Task:
    """The :class:`Task` called ``name`` (see :data:`TASKS`)."""
    try:
        return TASKS[name]
    except (KeyError, TypeError):
        raise ConfigError(f"unknown task {name!r}; choose one of "
                          f"{', '.join(sorted(TASKS))}") from None


def for_target(kind: str, n_classes: int | None = None) -> Task:
    """The task a new network gets for a target: ``binary`` (a Sigmoid output trained with
    binary cross-entropy) for two classes, ``multiclass`` (logits trained with cross-entropy)
    for more, ``regression`` for numbers.

    >>> for_target("classification", 2).name, for_target("classification", 3).name
    ('binary', 'multiclass')
    """
    if kind == "regression":
        return TASKS["regression"]
    if kind != "classification":
        raise ConfigError(f"unknown target kind {kind!r}; choose classification or regression")
    if n_classes is None or n_classes < 2:
        raise ConfigError(f"a classification target needs at least two classes, got "
                          f"{n_classes!r}")
    return TASKS["binary" if n_classes == 2 else "multiclass"]


def last_layer(model: nn.Module) -> nn.Module:
    """The module that produces the output (the last one of nested Sequentials)."""
    while isinstance(model, nn.Sequential) and len(model):
        model = list(model)[-1]
    return model


def infer(model: nn.Module, loss: Any = None, classification: bool | None = None) -> Task:
    """The task of a network from its last layer and its loss (a loss module or name).

    The last layer decides first (``Sigmoid``: ``binary``, ``Softmax``: ``multiclass_probs``);
    then the loss; without one, ``classification=True`` gives ``binary_logits`` for one
    output and ``multiclass`` otherwise, and anything else ``regression``.
    """
    last = last_layer(model)
    if isinstance(last, nn.Sigmoid):
        return TASKS["binary"]
    if isinstance(last, nn.Softmax):
        return TASKS["multiclass_probs"]
    kind = nn.losses.get(loss) if isinstance(loss, str) else type(loss)
    if isinstance(kind, type) and issubclass(kind, nn.losses.Loss) and kind.task != "regression":
        # the loss's own fields: what it classifies, and whether it reads logits
        if kind.task == "binary":
            return TASKS["binary_logits" if kind.from_logits else "binary"]
        return TASKS["multiclass"]
    if loss is None and classification:
        width = output_width(model)
        return TASKS["binary_logits" if width == 1 else "multiclass"]
    return TASKS["regression"]


def default_loss(model: nn.Module, y: Array) -> str:
    """The loss ``loss="auto"`` picks: ``bce`` after a final Sigmoid, ``cross_entropy`` for
    integer labels of shape (N,), ``mse`` otherwise."""
    if isinstance(last_layer(model), nn.Sigmoid):
        return "bce"
    if y.ndim == 1 and y.dtype.kind in "iub":
        return "cross_entropy"
    return "mse"


def output_width(model: nn.Module) -> int | None:
    """Outputs per example of a Sequential whose last Linear is followed only by element-wise
    layers (activations, Dropout); None when that cannot be told without running it."""
    if not isinstance(model, nn.Sequential):
        return None
    for m in reversed(list(model)):
        if isinstance(m, nn.Linear):
            return int(m.out_features)
        if isinstance(m, nn.Sequential):
            return output_width(m)
        if not isinstance(m, (nn.activations.Activation, nn.Dropout, nn.Flatten,
                              nn.Unflatten)):
            return None  # a custom module could change the width
    return None

