"""The flat buffers a compiled step's kernel (:mod:`chainrule.training.kernel`) works on, and
the bookkeeping that keeps them the user's own tensors.

:class:`FlatStep` lays a captured plan's weights and biases end to end in one array and makes
each parameter's ``.data`` a view into it, so the kernel updates the model in place and
``model.state_dict()``, checkpoints and ``p.data`` always show the current values.  The
gradients live in a second flat array (each ``p.grad`` a view after every step, as
``backward()`` leaves them), and the optimizer's state in one array per buffer: the
optimizer's own flat buffer where it keeps one, otherwise a new one whose views replace its
per-parameter arrays.  So ``optimizer.state_dict()`` reads what the kernel wrote, and an
eager step taken later (the model changed, a batch the kernel refuses) continues from it.

Before each step it checks, in a few C-level comparisons, that these views are still the
ones in use (a ``load_state_dict`` that swapped an array is copied in again), that every
parameter has taken as many steps as the others and that the optimizer's settings are those
the settings vector holds (a learning-rate schedule changes them).  What it cannot run (an
optimizer without a kernel update, parameter groups, a frozen weight) is refused up front
with the reason, and the caller falls back to the NumPy plan.
"""

from __future__ import annotations

import operator
from typing import Any, NamedTuple

import numpy as np

from ..engine import Tensor
from ..engine.ops import stable_sigmoid
from ..nn.losses import BCEWithLogitsLoss, CrossEntropyLoss, MSELoss
from ..optim import kernels as updates
from . import kernel
from .plan import Plan, weights

__all__ = ["EpochRun", "EpochsRun", "FlatStep", "KernelFallbackWarning", "KernelRefusedError"]

_DATA = operator.attrgetter("data")

_FLOOR = {np.dtype(np.float32): -87.0, np.dtype(np.float64): -708.0}  # stable_sigmoid's


class EpochRun(NamedTuple):
    """What :meth:`FlatStep.run_epoch` did: batches up to ``stop`` stepped (all of them when
    ``code`` is 0; 1: batch ``stop``'s loss or a gradient was not finite, not stepped; 2:
    batch ``stop``'s update made a weight non-finite), each batch's loss in ``losses`` and
    the model's outputs in ``outputs`` (a row per example, in the epoch's order; a buffer the
    next :meth:`FlatStep.run_epoch` writes again)."""

    stop: int
    code: int
    losses: np.ndarray
    outputs: np.ndarray


class EpochsRun(NamedTuple):
    """What :meth:`FlatStep.run_epochs` did: every epoch before ``epoch`` whole, and, where
    ``code`` is not 0, epoch ``epoch`` up to batch ``stop`` (the codes of :class:`EpochRun`);
    each epoch's batch losses in a row of ``losses`` and its outputs in ``outputs[epoch]``
    (buffers the next call writes again)."""

    epoch: int
    stop: int
    code: int
    losses: np.ndarray
    outputs: np.ndarray


class KernelRefusedError(Exception):
    """The step kernel cannot run this plan with this optimizer (the message says why)."""


class KernelFallbackWarning(UserWarning):
    """A compiled step replays the NumPy plan instead of the one-call kernel (slower, same
    numbers); the message says why."""


class FlatStep:
    """One plan's weights, gradients and optimizer state in flat buffers, run by the step
    kernel; ``optimizer=None`` computes the gradients only (the caller steps)."""

    def __init__(self, plan: Plan, optimizer: Any, x_shape: tuple[int, ...],
                 y_shape: tuple[int, ...]) -> None:
        self.kernels = kernel.kernels()
        if self.kernels is None:
            raise KernelRefusedError("numba is not installed")
        self.plan, self.optimizer = plan, optimizer
        self.rule = None if optimizer is None else updates.rule_of(optimizer)
        dtype = self.dtype = plan.dtype
        if dtype not in _FLOOR:
            raise KernelRefusedError(f"the kernel computes float32 and float64, not {dtype}")
        tensors = weights(plan.layers)
        self.params = self._order(tensors, optimizer)
        offsets, total = {}, 0
        for p in self.params:
            offsets[id(p)] = total
            total += p.data.size
        n = x_shape[0]
        self.n, self.n_out = n, plan.layers[-1].weight.data.shape[0]
        self.labels = plan.labels
        if not self.labels and tuple(y_shape) != (n, self.n_out):
            raise KernelRefusedError(f"the targets' shape {tuple(y_shape)} is not the "
                                     f"output's {(n, self.n_out)}")
        rows, slopes, used = [], [], 0
        for L in plan.layers:
            out, inp = L.weight.data.shape
            act = kernel.ACT.get(L.activation)
            if act is None:
                raise KernelRefusedError(f"the kernel has no {L.activation.__name__}")
            b_off = -1 if L.bias is None else offsets[id(L.bias)]
            rows.append((inp, out, offsets[id(L.weight)], b_off, act, used, used + n * out,
                         int(n * inp * out >= kernel.BLAS)))
            slopes.append(L.param)
            used += 2 * n * out
        self.meta = np.array(rows, dtype=np.int64)
        self.work = np.zeros(used, dtype)
        self.P = np.empty(total, dtype)
        self.G = np.zeros(total, dtype)
        self.hp = np.zeros(kernel.HP["slopes"] + len(plan.layers), np.float64)
        self.hp[kernel.HP["scale"]] = plan.loss_scale((n, self.n_out))
        self.hp[kernel.HP["floor"]] = _FLOOR[dtype]
        self.hp[kernel.HP["slopes"]:] = slopes
        self.loss = self._loss_code()
        self.grads = [self.G[offsets[id(p)]:offsets[id(p)] + p.data.size].reshape(p.data.shape)
                      for p in self.params]
        self.trained = [(p, g) for p, g in zip(self.params, self.grads) if p.requires_grad]
        self.no_labels = np.empty(0, np.int64)
        self.no_targets = np.empty((0, 0), dtype)
        self.states: list[np.ndarray] = [self.no_targets.reshape(0)] * 3
        self._adopt_params()
        self._settings: list[Any] | None = None
        self._backup: np.ndarray | None = None  # the weights before an epoch's update
        self._epoch: tuple[Any, ...] | None = None  # run_epoch's buffers, for its shapes
        self._epochs: tuple[Any, ...] | None = None  # run_epochs' (their shapes first)
        self._state_views: list[tuple[dict[str, Any], str, Any]] = []
        self.code = kernel.OPTIMIZER["none"]
        if optimizer is not None:
            self.code = updates.KINDS[self.rule[0]]

    @staticmethod
    def _order(tensors: list[Tensor], optimizer: Any) -> list[Tensor]:
        """The parameters in the optimizer's order (its flat state's), after checking that
        the kernel can update them as the optimizer would."""
        if optimizer is None:
            return tensors
        kind = updates.rule_of(optimizer)
        if kind is None:
            raise KernelRefusedError(f"the kernel has no update rule for "
                                     f"{type(optimizer).__name__}")
        if len(optimizer.param_groups) != 1:
            raise KernelRefusedError("the optimizer has several parameter groups")
        params = list(optimizer.params)
        if len(params) != len(tensors) or {id(p) for p in params} != {id(t) for t in tensors}:
            raise KernelRefusedError("the optimizer's parameters are not the network's weights")
        if not all(p.requires_grad for p in params):
            raise KernelRefusedError("a weight is frozen")
        return params

    def _loss_code(self) -> int:
        loss = self.plan.loss
        if loss is MSELoss:
            return kernel.LOSS["mse"]
        if loss is BCEWithLogitsLoss:
            return kernel.LOSS["bce_logits"]
        if loss is CrossEntropyLoss:
            return kernel.LOSS["ce_labels" if self.labels else "ce_soft"]
        raise KernelRefusedError(f"the kernel has no {loss.__name__}")

    # -- keeping the buffers the user's ---------------------------------------------------------
    def _adopt_params(self) -> None:
        """Copy each parameter's values into P and make its ``.data`` the view into P."""
        views = []
        offset = 0
        for p in self.params:
            size = p.data.size
            self.P[offset:offset + size] = p.data.reshape(-1)
            view = self.P[offset:offset + size].reshape(p.data.shape)
            p.data = view
            views.append(view)
            offset += size
        self.views = views
        self._data_ids = list(map(id, views))

    def _adopt_state(self) -> bool:
        """Find (or make) one flat array per state buffer the optimizer's settings use; False
        where a buffer does not exist yet (the next eager update creates it)."""
        opt = self.optimizer
        names = self.rule[2]
        group = opt.param_groups[0]
        used = [updates.uses(group, name) for name in names]
        states: list[np.ndarray] = []
        checks = []
        for name, needed in zip(names, used):
            if not needed:
                states.append(self.no_targets.reshape(0))
                continue
            own = [opt.state[i].get(name) for i in range(len(self.params))]
            if any(v is None for v in own):
                return False
            flat = self._flat_base(own)
            if flat is None:  # per-parameter arrays: one flat array, its views in their place
                flat = np.concatenate([v.reshape(-1) for v in own]).astype(self.dtype)
                offset = 0
                for i, v in enumerate(own):
                    opt.state[i][name] = flat[offset:offset + v.size].reshape(v.shape)
                    offset += v.size
            states.append(flat)
            checks.append((opt.state[0], name, opt.state[0][name]))
        self.states = states
        self._state_views = checks
        return True

    def _flat_base(self, views: list[Any]) -> np.ndarray | None:
        """The one flat array that ``views`` (a buffer, per parameter) are consecutive pieces
        of, in order (the optimizer's own flat state), or None."""
        base = views[0].base
        if not (isinstance(base, np.ndarray) and base.ndim == 1 and base.dtype == self.dtype
                and base.size == self.P.size and base.flags.c_contiguous):
            return None
        start = base.__array_interface__["data"][0]
        offset = 0
        for v in views:
            if (v.base is not base or not v.flags.c_contiguous
                    or v.__array_interface__["data"][0] != start + offset * base.itemsize):
                return None
            offset += v.size
        return base

    def _read_settings(self) -> bool:
        self.hp[:kernel.HP["scale"]] = 0.0
        updates.fill_settings(self.hp, self.rule, self.optimizer.param_groups[0])
        return self._adopt_state()

    # -- one step ---------------------------------------------------------------------------
    def run(self, x: np.ndarray, y: np.ndarray) -> float | None:
        """One step on the batch (the plan's arrays): forward, loss, backward and the update;
        returns the loss, or None where the kernel cannot take this step (the caller runs the
        plan instead).  Nothing has changed when it returns None."""
        opt = self.optimizer
        if not self._ready():
            return None
        if opt is not None:
            self.hp[kernel.HP["step"]] = opt.steps[0] + 1
        if self.labels:
            labels, targets = np.asarray(y, dtype=np.int64), self.no_targets
        else:
            labels, targets = self.no_labels, np.ascontiguousarray(y, dtype=self.dtype)
        s = self.states
        value = self.kernels.train_step(np.ascontiguousarray(x, dtype=self.dtype), targets,
                                        labels, self.P, self.G, s[0], s[1], s[2], self.work,
                                        self.meta, self.hp, self.loss, self.code)
        if value == -np.inf:  # a label outside the classes (ignore_index): eager's business
            return None
        if opt is not None:
            self._count_updates(1)
        for p, g in self.trained:
            p.grad = g
        return value

    def _ready(self) -> bool:
        """Whether the buffers are the user's current ones and the settings vector holds the
        optimizer's settings (read again where a schedule changed them); False where the
        kernel cannot step now (the parameters have taken different numbers of steps, or a
        state buffer does not exist yet)."""
        opt = self.optimizer
        if opt is not None:
            steps = opt.steps
            if steps.count(steps[0]) != len(steps):
                return False
            group = opt.param_groups[0]
            values = list(map(group.__getitem__, self.rule[1]))
            if values != self._settings:
                self._settings = None
                if not self._read_settings():
                    return False
                self._settings = values
            for own, name, view in self._state_views:
                if own.get(name) is not view and not self._adopt_state():
                    return False
        if list(map(id, map(_DATA, self.params))) != self._data_ids:
            self._adopt_params()
        return True

    def _count_updates(self, k: int) -> None:
        opt = self.optimizer
        opt.step_count += k
        opt.steps[:] = [opt.steps[0] + k] * len(opt.steps)

    def run_epochs(self, X: np.ndarray, y: np.ndarray, orders: np.ndarray,
                   starts: np.ndarray, scales: np.ndarray, epochs: int, guard: bool,
                   in_order: bool = False) -> EpochsRun | None:
        """``epochs`` whole epochs in one kernel call (see
        :func:`chainrule.training.kernel_loops.train_epochs`), epoch ``e`` over the rows
        ``orders[e]`` (one row of ``orders``: the same order every epoch), batched as
        :meth:`run_epoch` batches them (``in_order``: as :meth:`run_epoch`'s).  None (and
        nothing changed) where the kernel cannot step now."""
        if self.optimizer is None or not self._ready():
            return None
        steps, n = len(starts) - 1, orders.shape[1]
        hp = self.hp
        hp[kernel.HP["step"]] = self.optimizer.steps[0]
        labels, targets = (y, self.no_targets) if self.labels else (self.no_labels, y)
        losses, outputs, xb, yb, lb = self._buffers(epochs, n, steps, X.shape[1])
        s = self.states
        scale = hp[kernel.HP["scale"]]
        try:
            epoch, stop, code = self.kernels.train_epochs(
                X, targets, labels, orders, starts, scales, epochs, self.P, self.G, s[0], s[1],
                s[2], self._backup, self.work, self.meta, hp, self.loss, self.code, guard,
                losses, outputs, xb, yb, lb, not in_order)
        finally:
            hp[kernel.HP["scale"]] = scale
        self._count_updates(epoch * steps + stop + (code == 2))
        for p, g in self.trained:
            p.grad = g
        if self.plan.layers[-1].sigmoid_after:
            outputs = stable_sigmoid(outputs[:epoch + (code != 0)])
        return EpochsRun(epoch, stop, code, losses, outputs)

    def _buffers(self, epochs: int, n: int, steps: int, width: int) -> tuple[np.ndarray, ...]:
        """run_epochs' buffers for ``epochs`` epochs (kept, and grown where more are asked
        for): the losses, the outputs, and one batch's inputs, targets and labels."""
        kept = self._epochs
        if kept is None or kept[0][1:] != (n, steps, width) or kept[0][0] < epochs:
            self._backup = np.empty_like(self.P)
            kept = self._epochs = (
                (epochs, n, steps, width), np.zeros((epochs, steps), np.float64),
                np.empty((epochs, n, self.n_out), self.dtype),
                np.empty((self.n, width), self.dtype),
                self.no_targets if self.labels else np.empty((self.n, self.n_out), self.dtype),
                np.empty(self.n if self.labels else 0, np.int64))
        _, losses, outputs, xb, yb, lb = kept
        return losses[:epochs], outputs[:epochs], xb, yb, lb

    def run_epoch(self, X: np.ndarray, y: np.ndarray, order: np.ndarray, starts: np.ndarray,
                  scales: np.ndarray, first: int, guard: bool,
                  in_order: bool = False) -> EpochRun | None:
        """Batches ``first``... of an epoch in one kernel call (see
        :func:`chainrule.training.kernel_loops.train_epoch`): batch ``b`` is the rows
        ``order[starts[b]:starts[b + 1]]`` of ``X`` and ``y``, none larger than the batch
        this step was laid out for, its loss scaled by ``scales[b]`` (``in_order``:
        ``order`` is every row in order, and each batch is read where it lies, not
        copied).  None (and nothing changed) where the kernel cannot step now."""
        if self.optimizer is None or not self._ready():
            return None
        steps = len(starts) - 1
        hp = self.hp
        hp[kernel.HP["step"]] = self.optimizer.steps[0]
        if self.labels:
            labels, targets = y, self.no_targets
        else:
            labels, targets = self.no_labels, y
        shape = (len(order), steps, X.shape[1])
        if self._epoch is None or self._epoch[0] != shape:  # the epoch's buffers, kept
            self._backup = np.empty_like(self.P)
            self._epoch = (shape, np.zeros(steps, np.float64),
                           np.empty((len(order), self.n_out), self.dtype),
                           np.empty((self.n, X.shape[1]), self.dtype),
                           self.no_targets if self.labels else
                           np.empty((self.n, self.n_out), self.dtype),
                           np.empty(self.n if self.labels else 0, np.int64))
        _, losses, outputs, xb, yb, lb = self._epoch
        s = self.states
        scale = hp[kernel.HP["scale"]]
        try:
            stop, code = self.kernels.train_epoch(
                X, targets, labels, order, starts, scales, first, self.P, self.G, s[0], s[1],
                s[2], self._backup, self.work, self.meta, hp, self.loss, self.code, guard,
                losses, outputs, xb, yb, lb, not in_order)
        finally:
            hp[kernel.HP["scale"]] = scale
        self._count_updates(stop - first + (code == 2))
        for p, g in self.trained:
            p.grad = g
        if self.plan.layers[-1].sigmoid_after:
            outputs = stable_sigmoid(outputs)
        return EpochRun(stop, code, losses.copy(), outputs)

    def restore(self) -> None:
        """The weights from before the last update of :meth:`run_epoch` (which overflowed)."""
        self.P[...] = self._backup

    def output(self) -> np.ndarray:
        """What the model returned for the last batch (a new array, an example per row)."""
        last = self.meta[-1]
        out = self.work[last[5]:last[5] + self.n * self.n_out].reshape(self.n_out, self.n).T
        if self.plan.layers[-1].sigmoid_after:
            return stable_sigmoid(out)
        return out.copy()
