"""Loss functions as modules: ``loss_fn(prediction, target)`` returns a scalar tensor; and
their name table.

Each loss class says what it is in fields, so training, compiling and exporting read them
instead of class names or display text: ``name`` (its key in :data:`LOSSES`), ``task`` (the
target it fits: ``"regression"``, ``"binary"`` or ``"multiclass"``), ``from_logits`` (whether
its input is logits rather than probabilities or values), ``accepts_sample_weight`` (whether
``loss_fn(prediction, target, sample_weight=w)`` weighs the examples) and ``function`` (the
:mod:`chainrule.nn.functional` loss its forward calls).

>>> get("mean_squared_error") is MSELoss, CrossEntropyLoss.task, BCELoss.from_logits
(True, 'multiclass', False)
>>> get("hinge")  # doctest: +ELLIPSIS
Traceback (most recent call last):
    ...
chainrule.errors.ConfigError: unknown loss 'hinge'; choose one of bce, ...
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

from ..engine import Tensor
from ..errors import ConfigError
from . import functional as F
from ._checks import lookup
from .module import Module

__all__ = [
    "ALIASES",
    "LOSSES",
    "TASKS",
    "BCELoss",
    "BCEWithLogitsLoss",
    "CrossEntropyLoss",
    "Loss",
    "MSELoss",
    "get",
]

TASKS = ("regression", "binary", "multiclass")
"""The values of a loss's ``task``."""


class Loss(Module, saved=False):
    """A loss: ``forward(input, target, sample_weight=None)`` returns a tensor, reduced as
    ``reduction`` says ('mean', 'sum' or 'none').

    Calling a loss: ``loss(input, target, sample_weight=None)``, where ``sample_weight`` is
    one non-negative weight per example (row): ``'mean'`` is then the weighted mean.

    Args:
        reduction: ``'mean'`` (the default), ``'sum'``, or ``'none'`` for one loss per
            element.

    Raises:
        ConfigError: ``reduction`` is not one of the three.
    """

    name: ClassVar[str]
    """Its key in :data:`LOSSES`."""
    task: ClassVar[str]
    """The target it fits, one of :data:`TASKS`."""
    from_logits: ClassVar[bool]
    """True when its input is logits (the loss applies the sigmoid or softmax itself)."""
    accepts_sample_weight: ClassVar[bool]
    """True when ``forward`` takes ``sample_weight``, one weight per example (row)."""
    function: ClassVar[Callable[..., Tensor]]
    """The functional loss its forward calls: ``function(input, target, reduction,
    sample_weight)``."""

    def __init__(self, reduction: str = "mean") -> None:
        super().__init__()
        F._check_reduction(reduction)
        self.reduction = reduction

    def forward(self, input: Tensor, target: Any,  # noqa: A002
                sample_weight: Any = None) -> Tensor:
        return type(self).function(input, target, self.reduction, sample_weight)

    def extra_repr(self) -> str:
        return "" if self.reduction == "mean" else f"reduction={self.reduction!r}"


class MSELoss(Loss):
    """Mean squared error: mean((prediction - target)**2).  Shapes must match exactly.

    >>> import chainrule as cr
    >>> cr.nn.MSELoss()(cr.tensor([1.0, 3.0]), [0.0, 1.0]).item()
    2.5

    Args:
        reduction: ``'mean'`` (the default), ``'sum'``, or ``'none'`` for one loss per
            element.

    Shapes: input any shape; target the same shape; output a scalar, or the input's shape
    for ``'none'``.

    Raises:
        ConfigError: ``reduction`` is unknown.
        ShapeError: When called, target (or ``sample_weight``) does not match the input.
        DataError: When called, the target is not numeric or the weights are invalid.
    """

    name = "mse"
    task = "regression"
    from_logits = False
    accepts_sample_weight = True
    function = staticmethod(F.mse_loss)


class BCELoss(Loss):
    """Binary cross-entropy of probabilities (e.g. the output of ``nn.Sigmoid()``).

    After a sigmoid the loss is computed from the logits, so the gradient is exactly p - y.

    >>> import chainrule as cr
    >>> round(cr.nn.BCELoss()(cr.tensor([0.5]), [1.0]).item(), 4)  # -log 0.5
    0.6931

    Args:
        reduction: ``'mean'`` (the default), ``'sum'``, or ``'none'`` for one loss per
            element.

    Shapes: input probabilities of any shape; target (0/1 or in [0, 1]) the same shape;
    output a scalar, or the input's shape for ``'none'``.

    Raises:
        ConfigError: ``reduction`` is unknown.
        ShapeError: When called, target (or ``sample_weight``) does not match the input.
        DataError: When called, an input is outside [0, 1] or the weights are invalid.
    """

    name = "bce"
    task = "binary"
    from_logits = False
    accepts_sample_weight = True
    function = staticmethod(F.binary_cross_entropy)


class BCEWithLogitsLoss(Loss):
    """Sigmoid followed by binary cross-entropy, in one stable step (the input is logits).

    >>> import chainrule as cr
    >>> round(cr.nn.BCEWithLogitsLoss()(cr.tensor([0.0]), [1.0]).item(), 4)  # -log 0.5
    0.6931

    Args:
        reduction: ``'mean'`` (the default), ``'sum'``, or ``'none'`` for one loss per
            element.

    Shapes: input logits of any shape; target (0/1 or in [0, 1]) the same shape; output a
    scalar, or the input's shape for ``'none'``.

    Raises:
        ConfigError: ``reduction`` is unknown.
        ShapeError: When called, target (or ``sample_weight``) does not match the input.
    """

    name = "bce_with_logits"
    task = "binary"
    from_logits = True
    accepts_sample_weight = True
    function = staticmethod(F.binary_cross_entropy_with_logits)


class CrossEntropyLoss(Loss):
    """Softmax followed by cross-entropy, from logits of shape (N, C) (or PyTorch's
    (N, C, d1, ...), a class per position, or (C,)).

    The target is integer labels of shape (N,) (or (N, d1, ...)) or class probabilities shaped
    like the logits.  Labels equal to ``ignore_index`` (-100 by default, as PyTorch's: padding)
    count for nothing; ``'mean'`` divides by the labels kept.

    >>> import chainrule as cr
    >>> z = cr.tensor([[[0.0, 0.0, 0.0]] * 3])          # N=1, C=3 classes, d1=3 positions
    >>> round(cr.nn.CrossEntropyLoss(ignore_index=0)(z, [[2, 0, 0]]).item(), 4)  # log 3
    1.0986

    Args:
        reduction: ``'mean'`` (the default, over the labels kept), ``'sum'``, or ``'none'``
            for one loss per example (and position).
        ignore_index: A label that contributes no loss and no gradient.

    Shapes: input ``(N, C)``, ``(N, C, d1, ...)`` or ``(C,)``; target ``(N,)``/``(N, d1, ...)``
    labels in [0, C) or probabilities shaped like the input; output a scalar, or ``(N,)``/
    ``(N, d1, ...)`` for ``'none'``.

    Raises:
        ConfigError: ``reduction`` is unknown or ``ignore_index`` is not an integer.
        ShapeError: When called, the logits or target have the wrong shape.
        DataError: When called, a label is outside [0, C) or labels are not integers.
    """

    name = "cross_entropy"
    task = "multiclass"
    from_logits = True
    accepts_sample_weight = True
    function = staticmethod(F.cross_entropy)

    def __init__(self, reduction: str = "mean", ignore_index: int = -100) -> None:
        super().__init__(reduction)
        if isinstance(ignore_index, bool) or not isinstance(ignore_index, int):
            raise ConfigError(f"CrossEntropyLoss: ignore_index must be an integer label, got "
                              f"{ignore_index!r}")
        self.ignore_index = ignore_index

    def forward(self, input: Tensor, target: Any,  # noqa: A002
                sample_weight: Any = None) -> Tensor:
        return F.cross_entropy(input, target, self.reduction, sample_weight, self.ignore_index)

    def extra_repr(self) -> str:
        parts = [super().extra_repr()] if self.reduction != "mean" else []
        if self.ignore_index != -100:
            parts.append(f"ignore_index={self.ignore_index}")
        return ", ".join(parts)


LOSSES: dict[str, type[Loss]] = {
    cls.name: cls for cls in (MSELoss, BCELoss, BCEWithLogitsLoss, CrossEntropyLoss)
}
"""The built-in losses by name."""

ALIASES: dict[str, str] = {
    "mean_squared_error": "mse",
    "binary_cross_entropy": "bce",
    "binary_crossentropy": "bce",
    "binary_cross_entropy_with_logits": "bce_with_logits",
    "crossentropy": "cross_entropy",
    "categorical_crossentropy": "cross_entropy",
    "ce": "cross_entropy",
}
"""Other names a loss is known by (Keras's, the functional form's), each to its key in
:data:`LOSSES`."""


def get(name: str) -> type[Loss]:
    """The loss class called ``name``: a key of :data:`LOSSES` or :data:`ALIASES`, in any
    case, with ``-`` or ``_``; ConfigError listing the valid names otherwise."""
    return lookup(LOSSES, ALIASES, name, "loss")
