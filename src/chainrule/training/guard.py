"""The non-finite guard: the first NaN or infinity stops training, named, with a hint.

Before each update the loss and every gradient are checked, and after it every parameter.
The first non-finite number stops training with a message naming the epoch, the batch and
the parameter (its dotted name and layer), and the model keeps the weights it had before that
step (an update that overflowed is undone).  This is the only mechanism: the
:class:`~chainrule.training.TerminateOnNaN` callback is another name for it.

Under MPI the checks run on the averaged gradients, which are the same on every rank, so all
ranks stop at the same step with the same message.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from .. import nn
from ..engine import Tensor, no_grad
from ..engine.backend import namespace
from ..engine.devices import to_numpy
from ..errors import Option, OptionWarning

__all__ = ["NonFiniteGuard", "Suggested", "first_nonfinite", "literal"]

Array = np.ndarray


def first_nonfinite(params: list[tuple[str, Tensor]], grads: bool) -> str | None:
    """The name of the first parameter whose gradient (``grads``) or value is not finite."""
    for name, p in params:
        a = p.grad if grads else p.data
        if a is None:
            continue
        if type(a) is not np.ndarray:  # on a device: one reduction there, one number back
            xp = namespace(a)
            if not bool(xp.all(xp.isfinite(a))):
                return name
        # A sum is one pass with no temporary and carries any NaN or inf through; only when
        # it is not finite (or overflowed) look element by element.
        elif not math.isfinite(a.sum()) and not np.isfinite(a).all():
            return name
    return None


class NonFiniteGuard:
    """Checks one optimizer step of ``model``; ``enabled=False`` lets every step through."""

    def __init__(self, model: nn.Module, enabled: bool = True) -> None:
        self.model = model
        self.enabled = enabled
        self.params = list(model.named_parameters())
        self.tensors = [p for _, p in self.params]
        self._backup = [np.empty_like(p.data) for _, p in self.params] if enabled else []

    def layer_of(self, name: str) -> str:
        """``layer 2, Linear`` for the parameter ``2.bias``."""
        owner = name.rpartition(".")[0]
        module = dict(self.model.named_modules()).get(owner)
        kind = type(module).__name__ if module is not None else "?"
        return f"layer {owner}, {kind}" if owner else kind

    def check_before(self, loss: float, xb: Tensor, note: str = "") -> str | None:
        """What went wrong in the loss or the gradients (None when all are finite)."""
        if not self.enabled:
            return None
        if not math.isfinite(loss):
            return f"the loss became {loss}{note}" + self.where_forward(xb)
        bad = first_nonfinite(self.params, grads=True)
        if bad is None:
            return None
        g = to_numpy(dict(self.params)[bad].grad)
        kind = "nan" if np.isnan(g).any() else "inf"
        return (f"the gradient of {bad} ({self.layer_of(bad)}) became {kind} first (the loss "
                f"was {loss}){note}")

    def step(self, update: Callable[[], None]) -> str | None:
        """Run ``update`` (the optimizer step); undo it and say why when it made a parameter
        non-finite."""
        if not self.enabled:
            update()
            return None
        backup = self._backup
        for i, (_, p) in enumerate(self.params):
            if type(p.data) is np.ndarray and type(backup[i]) is np.ndarray:
                np.copyto(backup[i], p.data)
            else:  # a parameter on a device (model.to): its copy lives there too
                backup[i] = namespace(p.data).asarray(p.data, copy=True)
        update()

        def restore() -> None:
            for b, (_, p) in zip(backup, self.params):
                p.data[...] = b
        return self.overflowed(restore)

    def overflowed(self, restore: Callable[[], None]) -> str | None:
        """After an update: None where every parameter is finite; else ``restore()`` the
        weights from before it, and say which parameter it made non-finite."""
        bad = first_nonfinite(self.params, grads=False)
        if bad is None:
            return None
        restore()
        return (f"the update made {bad} ({self.layer_of(bad)}) non-finite although every "
                "gradient was finite (the step overflowed)")

    def where_forward(self, xb: Tensor) -> str:
        """Which layer of a Sequential first gave a non-finite output on ``xb`` (and how large
        its weights are), as text to add to a message; empty when it cannot be told."""
        if not isinstance(self.model, nn.Sequential) or not xb.data.size \
                or not np.isfinite(to_numpy(xb.data)).all():
            return ""
        out = xb
        with no_grad():
            for i, module in enumerate(self.model):
                out = module(out)
                if not np.isfinite(to_numpy(out.data)).all():
                    sizes = [float(np.max(np.abs(p.numpy()))) for p in module.parameters()
                             if p.data.size]
                    big = f" (its largest |weight| is {max(sizes):.3g})" if sizes else ""
                    return (f"; the first non-finite output came from layer {i} "
                            f"({type(module).__name__}){big}")
        sizes = {k: float(np.max(np.abs(p.numpy()))) for k, p in self.params if p.data.size}
        if not sizes:
            return ""
        name = max(sizes, key=sizes.__getitem__)
        return (f" although every layer's output was finite (largest |output| "
                f"{float(np.max(np.abs(out.numpy()))):.3g}; the largest weight is in {name}, "
                f"|w| = {sizes[name]:.3g})")

    @staticmethod
    def message(epoch: int, batch: int, what: str, xb: Tensor, lr: float) -> OptionWarning:
        """The full warning: where, what, and what to try.  The learning rate to try and the
        scaler it suggests are :class:`~chainrule.errors.Option` s (a command line names its
        own flags for them).

        >>> w = NonFiniteGuard.message(0, 2, "the loss became nan", Tensor([[50.0]]), 0.5)
        >>> str(w)  # doctest: +NORMALIZE_WHITESPACE
        'non-finite numbers in epoch 1, batch 3: the loss became nan; the learning rate (0.5)
        is probably too high: try 0.05; or the inputs are not scaled (largest |x| in the batch
        is 50): standardise them, e.g. with chainrule.data.StandardScaler. The model keeps its
        last finite weights (from before this step)'
        """
        scale = float(np.max(np.abs(to_numpy(xb.data)))) if xb.data.size else 0.0
        hints = [f"the learning rate ({lr:g}) is probably too high: try {{lr}}"]
        if scale > 10:
            hints.append(f"the inputs are not scaled (largest |x| in the batch is {scale:.3g}): "
                         "standardise them, e.g. with {scaler}")
        else:
            hints.append("check the inputs are standardised")
        where = f"non-finite numbers in epoch {epoch + 1}, batch {batch + 1}: {what}; "
        return OptionWarning(
            literal(where) + "; or ".join(hints) + ". The model keeps its last finite weights "
            "(from before this step)", lr=Suggested("lr", lr / 10),
            scaler=Option("chainrule.data.StandardScaler"))


class Suggested(Option):
    """An argument named by the value to try: Python's text is the number alone (``try
    0.05``), a command line's its flag and the value (``try --lr 0.05``).

    >>> str(Suggested("lr", 0.05)), Suggested("lr", 0.05).name
    ('0.05', 'lr')
    """

    def __str__(self) -> str:
        return format(self.value, "g")


def literal(text: str) -> str:
    """``text`` as it reads inside an :class:`~chainrule.errors.OptionWarning` template
    (braces doubled, so a name holding one is not taken for an option)."""
    return text.replace("{", "{{").replace("}", "}}")
