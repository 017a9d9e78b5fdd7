"""Optimizers: update parameters in place from their ``.grad``.

The update rules follow PyTorch's definitions exactly (same defaults, same options, same order
of operations up to rounding), so a model trained here and there from the same start stays in
step.  Parameter groups, per-parameter step counts, ``step(closure)`` and the flat fast path
live in the base class, :class:`~chainrule.optim.optimizer.Optimizer`.

>>> import chainrule as cr
>>> w = cr.tensor([1.0, -2.0], requires_grad=True)
>>> opt = cr.optim.SGD([w], lr=0.1)
>>> (w * w).sum().backward()
>>> opt.step()
>>> w.data
array([ 0.8, -1.6])
"""

from __future__ import annotations

import math
from collections.abc import Iterable

from ..engine import Tensor
from ..engine.backend import NUMPY, namespace, ndarray
from ..errors import ConfigError
from .optimizer import Optimizer, ParamGroup, check_betas

__all__ = ["SGD", "Adam", "AdamW", "Optimizer", "RMSprop"]

Params = Iterable[Tensor] | Iterable[ParamGroup]


class SGD(Optimizer):
    """Stochastic gradient descent; with the whole data set per step, batch gradient descent
    ``W := W - lr dW`` as the course's 2-4-1 network is trained.

    With ``momentum`` m: ``v = g`` on a parameter's first step, then
    ``v = m v + (1 - dampening) g``, and ``w -= lr v`` (``nesterov``: ``w -= lr (g + m v)``);
    ``weight_decay`` adds ``weight_decay * w`` to the gradient and ``maximize`` ascends.
    The default ``lr`` is PyTorch's, 0.001.

    Args:
        params: The tensors to optimise (``model.parameters()``), or a list of parameter groups,
            dicts with a ``params`` entry and any option to override for that group.
        lr: The learning rate.
        momentum: The momentum factor m (0: plain gradient descent).
        dampening: Shrinks the new gradient's share of the momentum:
            ``v = m v + (1 - dampening) g``.
        weight_decay: The L2 penalty's factor, added to the gradient.
        nesterov: Use Nesterov momentum (needs ``momentum > 0`` and ``dampening = 0``).
        maximize: Ascend the objective instead of descending it.

    Raises:
        ConfigError: A negative or non-finite setting, or Nesterov without momentum.
    """

    buffers = ("momentum_buffer",)
    # the compiled update of this rule (optim/kernels.py): its code, settings, S0/S1/S2
    update_rule = ("sgd", ("lr", "weight_decay", "momentum", "dampening", "nesterov",
                           "maximize"), ("momentum_buffer", "", ""))

    def __init__(self, params: Params, lr: float = 1e-3, momentum: float = 0.0,
                 dampening: float = 0.0, weight_decay: float = 0.0, nesterov: bool = False,
                 *, maximize: bool = False) -> None:
        super().__init__(params, {"lr": lr, "momentum": momentum, "dampening": dampening,
                                  "weight_decay": weight_decay, "nesterov": nesterov,
                                  "maximize": maximize})
        if not any(g["momentum"] for g in self.param_groups):
            self._flat_dtype = None  # plain SGD is two calls per parameter: nothing to gain

    def _check(self, group: ParamGroup) -> None:
        super()._check(group)
        self._number(group, "momentum")
        self._number(group, "dampening", low=-math.inf)
        self._number(group, "weight_decay")
        self._flag(group, "nesterov")
        self._flag(group, "maximize")
        if group["nesterov"] and (group["momentum"] <= 0 or group["dampening"] != 0):
            raise ConfigError("SGD: nesterov=True needs momentum > 0 and dampening = 0, got "
                              f"momentum={group['momentum']}, dampening={group['dampening']}")

    def _update(self, w: ndarray, g: ndarray, state: dict[str, ndarray], group: ParamGroup,
                step: int) -> None:
        if group["maximize"]:
            g = -g
        if group["weight_decay"]:
            g = g + group["weight_decay"] * w
        momentum = group["momentum"]
        if momentum:
            buf = self._buffer(state, "momentum_buffer", w)
            if step == 1:  # PyTorch starts the buffer at the first gradient, undamped
                buf[...] = g
            else:
                buf *= momentum
                buf += (1 - group["dampening"]) * g if group["dampening"] else g
            g = g + momentum * buf if group["nesterov"] else buf
        w -= group["lr"] * g


class Adam(Optimizer):
    """Adam with bias correction (Kingma and Ba): the optimizer users reach for.

    ``m = b1 m + (1 - b1) g``, ``v = b2 v + (1 - b2) g**2``,
    ``w -= lr * (m / (1 - b1**t)) / (sqrt(v / (1 - b2**t)) + eps)`` where ``t`` counts this
    parameter's own steps (a step in which it had no gradient does not count).  ``amsgrad``
    divides by the running maximum of ``v`` instead; ``weight_decay`` adds an L2 term to the
    gradient, or with ``decoupled_weight_decay`` shrinks the weights (see :class:`AdamW`).

    Args:
        params: The tensors to optimise (``model.parameters()``), or a list of parameter groups,
            dicts with a ``params`` entry and any option to override for that group.
        lr: The learning rate.
        betas: The decay rates (b1, b2) of the running means of the gradient and its square.
        eps: Added to the denominator, for numerical stability.
        weight_decay: The L2 penalty's factor.
        amsgrad: Divide by the running maximum of ``v`` (the AMSGrad variant).
        maximize: Ascend the objective instead of descending it.
        decoupled_weight_decay: Shrink the weights directly, as :class:`AdamW` does.

    Raises:
        ConfigError: A setting out of range (a beta outside [0, 1), a negative rate).
    """

    buffers = ("exp_avg", "exp_avg_sq", "max_exp_avg_sq")
    nonnegative_buffers = ("exp_avg_sq", "max_exp_avg_sq")
    update_rule = ("adam", ("lr", "betas", "eps", "weight_decay", "amsgrad", "maximize",
                            "decoupled_weight_decay"), ("exp_avg", "exp_avg_sq", "max_exp_avg_sq"))

    def __init__(self, params: Params, lr: float = 1e-3,
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0.0, amsgrad: bool = False, *, maximize: bool = False,
                 decoupled_weight_decay: bool = False) -> None:
        super().__init__(params, {"lr": lr, "betas": betas, "eps": eps,
                                  "weight_decay": weight_decay, "amsgrad": amsgrad,
                                  "maximize": maximize,
                                  "decoupled_weight_decay": decoupled_weight_decay})

    def _check(self, group: ParamGroup) -> None:
        super()._check(group)
        check_betas(group, type(self).__name__)
        self._number(group, "eps")
        self._number(group, "weight_decay")
        self._flag(group, "amsgrad")
        self._flag(group, "maximize")
        self._flag(group, "decoupled_weight_decay")

    def _update(self, w: ndarray, g: ndarray, state: dict[str, ndarray], group: ParamGroup,
                step: int) -> None:
        b1, b2 = group["betas"]
        lr, wd = group["lr"], group["weight_decay"]
        if group["maximize"]:
            g = -g
        if wd:
            if group["decoupled_weight_decay"]:
                w *= 1 - lr * wd
            else:
                g = g + wd * w
        m = self._buffer(state, "exp_avg", w)
        v = self._buffer(state, "exp_avg_sq", w)
        m *= b1
        m += (1 - b1) * g
        v *= b2
        v += (1 - b2) * (g * g)
        xp = namespace(w)
        if group["amsgrad"]:
            v_max = self._buffer(state, "max_exp_avg_sq", w)
            if xp is NUMPY:
                xp.maximum(v_max, v, out=v_max)
            else:
                v_max[...] = xp.maximum(v_max, v)
            v = v_max
        denom = xp.sqrt(v)
        denom /= math.sqrt(1 - b2**step)
        denom += group["eps"]
        w -= (lr / (1 - b1**step)) * (m / denom)


class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov and Hutter): ``w *= 1 - lr * wd`` each step,
    with PyTorch's default ``weight_decay=0.01``.

    Args:
        params: The tensors to optimise (``model.parameters()``), or a list of parameter groups,
            dicts with a ``params`` entry and any option to override for that group.
        lr: The learning rate.
        betas: The decay rates (b1, b2) of the running means of the gradient and its square.
        eps: Added to the denominator, for numerical stability.
        weight_decay: The decoupled weight decay's factor.
        amsgrad: Divide by the running maximum of ``v`` (the AMSGrad variant).
        maximize: Ascend the objective instead of descending it.
    """

    def __init__(self, params: Params, lr: float = 1e-3,
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0.01, amsgrad: bool = False, *,
                 maximize: bool = False) -> None:
        super().__init__(params, lr, betas, eps, weight_decay, amsgrad, maximize=maximize,
                         decoupled_weight_decay=True)


class RMSprop(Optimizer):
    """RMSprop: divide the gradient by a running root mean square of recent gradients.

    ``v = alpha v + (1 - alpha) g**2``, ``w -= lr g / (sqrt(v) + eps)``; optional
    ``momentum``, ``centered`` (subtract the running mean of g) and ``maximize`` as in PyTorch.

    Args:
        params: The tensors to optimise (``model.parameters()``), or a list of parameter groups,
            dicts with a ``params`` entry and any option to override for that group.
        lr: The learning rate.
        alpha: The decay rate of the running mean of squared gradients.
        eps: Added to the denominator, for numerical stability.
        weight_decay: The L2 penalty's factor.
        momentum: The momentum factor (0: none).
        centered: Divide by an estimate of the gradient's variance instead of its raw second
            moment.
        maximize: Ascend the objective instead of descending it.
    """

    buffers = ("square_avg", "grad_avg", "momentum_buffer")
    nonnegative_buffers = ("square_avg",)
    update_rule = ("rmsprop", ("lr", "alpha", "eps", "weight_decay", "momentum", "centered",
                               "maximize"), ("square_avg", "grad_avg", "momentum_buffer"))

    def __init__(self, params: Params, lr: float = 0.01, alpha: float = 0.99,
                 eps: float = 1e-8, weight_decay: float = 0.0, momentum: float = 0.0,
                 centered: bool = False, *, maximize: bool = False) -> None:
        super().__init__(params, {"lr": lr, "alpha": alpha, "eps": eps,
                                  "weight_decay": weight_decay, "momentum": momentum,
                                  "centered": centered, "maximize": maximize})

    def _check(self, group: ParamGroup) -> None:
        super()._check(group)
        for name in ("alpha", "eps", "weight_decay", "momentum"):
            self._number(group, name)
        self._flag(group, "centered")
        self._flag(group, "maximize")

    def _update(self, w: ndarray, g: ndarray, state: dict[str, ndarray], group: ParamGroup,
                step: int) -> None:
        alpha = group["alpha"]
        if group["maximize"]:
            g = -g
        if group["weight_decay"]:
            g = g + group["weight_decay"] * w
        xp = namespace(w)
        v = self._buffer(state, "square_avg", w)
        v *= alpha
        v += (1 - alpha) * (g * g)
        if group["centered"]:
            mean = self._buffer(state, "grad_avg", w)
            mean *= alpha
            mean += (1 - alpha) * g
            denom = xp.sqrt(v - mean * mean)
        else:
            denom = xp.sqrt(v)
        denom += group["eps"]
        if group["momentum"] > 0:
            buf = self._buffer(state, "momentum_buffer", w)
            buf *= group["momentum"]
            buf += g / denom
            w -= group["lr"] * buf
        else:
            w -= group["lr"] * (g / denom)

