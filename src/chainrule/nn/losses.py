"""Loss functions as modules: ``loss_fn(prediction, target)`` returns a scalar tensor."""

from __future__ import annotations

from typing import Any

from ..engine import Tensor
from . import functional as F
from .module import Module

__all__ = ["BCELoss", "BCEWithLogitsLoss", "CrossEntropyLoss", "MSELoss"]


class _Loss(Module):
    def __init__(self, reduction: str = "mean") -> None:
        super().__init__()
        F._check_reduction(reduction)
        self.reduction = reduction

    def extra_repr(self) -> str:
        return "" if self.reduction == "mean" else f"reduction={self.reduction!r}"


class MSELoss(_Loss):
    """Mean squared error: mean((prediction - target)**2).  Shapes must match exactly.

    >>> import chainrule as cr
    >>> cr.nn.MSELoss()(cr.tensor([1.0, 3.0]), [0.0, 1.0]).item()
    2.5
    """

    def forward(self, input: Tensor, target: Any) -> Tensor:  # noqa: A002
        return F.mse_loss(input, target, self.reduction)


class BCELoss(_Loss):
    """Binary cross-entropy of probabilities (e.g. the output of ``nn.Sigmoid()``).

    After a sigmoid the loss is computed from the logits, so the gradient is exactly p - y.
    """

    def forward(self, input: Tensor, target: Any) -> Tensor:  # noqa: A002
        return F.binary_cross_entropy(input, target, self.reduction)


class BCEWithLogitsLoss(_Loss):
    """Sigmoid followed by binary cross-entropy, in one stable step (the input is logits)."""

    def forward(self, input: Tensor, target: Any) -> Tensor:  # noqa: A002
        return F.binary_cross_entropy_with_logits(input, target, self.reduction)


class CrossEntropyLoss(_Loss):
    """Softmax followed by cross-entropy, from logits of shape (N, C).

    The target is integer labels of shape (N,) or class probabilities of shape (N, C).
    """

    def forward(self, input: Tensor, target: Any) -> Tensor:  # noqa: A002
        return F.cross_entropy(input, target, self.reduction)
