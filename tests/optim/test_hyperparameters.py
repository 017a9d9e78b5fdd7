"""Bad hyperparameters are refused at construction with a ConfigError naming them.

The cases follow PyTorch's error inputs (torch/testing/_internal/common_optimizers.py:
``optim_error_inputs_func_sgd``, ``_adam``, ``_adamw``, ``_rmsprop``, ``_lbfgs``, e.g.
"Invalid beta parameter at index 1", "Invalid momentum value"), widened to the types PyTorch
lets through silently (strings, bools, NaN).
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import chainrule as cr
from chainrule import optim
from conftest import HAS_TORCH, needs_torch

if HAS_TORCH:
    import torch


def _p() -> list:
    return [cr.tensor([1.0, 2.0], requires_grad=True)]


BAD = [
    ("SGD", {"momentum": -0.5}, r"SGD: momentum must be a number in \[0, inf\), got -0.5"),
    ("SGD", {"momentum": "0.9"}, "SGD: momentum must be a number in .*, got str '0.9'"),
    ("SGD", {"momentum": math.nan}, "SGD: momentum must be"),
    ("SGD", {"weight_decay": -0.1}, "SGD: weight_decay must be a number in"),
    ("SGD", {"weight_decay": math.nan}, "SGD: weight_decay must be"),
    ("SGD", {"dampening": math.inf}, "SGD: dampening must be"),
    ("SGD", {"nesterov": True}, "nesterov=True needs momentum > 0 and dampening = 0"),
    ("SGD", {"nesterov": True, "momentum": 0.9, "dampening": 0.1}, "dampening = 0"),
    ("SGD", {"nesterov": "yes", "momentum": 0.9}, "SGD: nesterov must be True or False"),
    ("SGD", {"maximize": 2}, "SGD: maximize must be True or False"),
    ("SGD", {"lr": -1.0}, r"SGD: lr must be a number in \[0, inf\), got -1.0"),
    ("SGD", {"lr": math.inf}, "SGD: lr must be"),
    ("SGD", {"lr": math.nan}, "SGD: lr must be"),
    ("SGD", {"lr": True}, "SGD: lr must be a number in .*, got bool True"),
    ("SGD", {"lr": "fast"}, "SGD: lr must be"),
    ("Adam", {"betas": (1.5, 0.999)}, r"Adam: betas\[0\] must be a number in \[0, 1\), got 1.5"),
    ("Adam", {"betas": (0.9, 1.0)}, r"Adam: betas\[1\] must be a number in \[0, 1\), got 1.0"),
    ("Adam", {"betas": (-0.1, 0.9)}, r"betas\[0\]"),
    ("Adam", {"betas": 0.9}, "Adam: betas must be a pair of numbers"),
    ("Adam", {"betas": (0.9, 0.99, 0.9)}, "Adam: betas must be a pair"),
    ("Adam", {"eps": -1}, r"Adam: eps must be a number in \[0, inf\), got -1"),
    ("Adam", {"weight_decay": -1e-3}, "Adam: weight_decay must be"),
    ("Adam", {"amsgrad": "no"}, "Adam: amsgrad must be True or False"),
    ("AdamW", {"weight_decay": math.nan}, "AdamW: weight_decay must be"),
    ("AdamW", {"betas": (0.9, math.nan)}, r"AdamW: betas\[1\]"),
    ("RMSprop", {"alpha": -0.5}, r"RMSprop: alpha must be a number in \[0, inf\), got -0.5"),
    ("RMSprop", {"eps": -1e-8}, "RMSprop: eps must be"),
    ("RMSprop", {"momentum": -0.1}, "RMSprop: momentum must be"),
    ("RMSprop", {"centered": None}, "RMSprop: centered must be True or False"),
    ("LBFGS", {"history_size": 0}, "LBFGS: history_size must be an integer >= 1"),
    ("LBFGS", {"max_iter": 2.5}, "LBFGS: max_iter must be an integer"),
    ("LBFGS", {"line_search_fn": "wolfe"}, "unknown line_search_fn 'wolfe'"),
    ("LBFGS", {"tolerance_grad": -1.0}, "LBFGS: tolerance_grad must be"),
]


@pytest.mark.parametrize("cls, kwargs, match", BAD,
                         ids=[f"{c}-{'-'.join(k)}" for c, k, _ in BAD])
def test_bad_hyperparameter_is_refused(cls: str, kwargs: dict, match: str) -> None:
    with pytest.raises(cr.ConfigError, match=match) as info:
        getattr(optim, cls)(_p(), **kwargs)
    assert isinstance(info.value, ValueError)


@pytest.mark.parametrize("cls, kwargs, match", [
    ("SGD", {"lr": 0.1, "momentum": -1.0}, "momentum"),
    ("Adam", {"betas": (0.9, 1.0)}, "beta parameter at index 1"),
    ("Adam", {"eps": -1.0}, "epsilon"),
    ("RMSprop", {"alpha": -0.5}, "alpha"),
    ("SGD", {"lr": -1.0}, "learning rate"),
])
@needs_torch
def test_pytorch_refuses_the_same(cls: str, kwargs: dict, match: str) -> None:
    # The peer: what chainrule refuses here, PyTorch refuses too (ValueError).
    with pytest.raises(ValueError, match=match):
        getattr(torch.optim, cls)([torch.zeros(1, requires_grad=True)], **kwargs)
    with pytest.raises(cr.ConfigError):
        getattr(optim, cls)(_p(), **kwargs)


@pytest.mark.parametrize("lr", [np.float32(0.1), np.float64(0.1), np.int64(1), 0, 1])
def test_numpy_scalars_and_integers_are_accepted(lr) -> None:
    opt = optim.Adam(_p(), lr=lr, betas=(np.float32(0.9), 0.999), eps=np.float64(1e-8))
    assert isinstance(opt.lr, float) and opt.lr == float(lr)
    assert all(type(b) is float for b in opt.param_groups[0]["betas"])


def test_bad_settings_in_a_group_are_refused_too() -> None:
    with pytest.raises(cr.ConfigError, match="SGD: momentum must be"):
        optim.SGD([{"params": _p(), "momentum": -1}], lr=0.1)
    opt = optim.SGD(_p(), lr=0.1)
    with pytest.raises(cr.ConfigError, match="weight_decay must be"):
        opt.add_param_group({"params": _p(), "weight_decay": math.nan})
    with pytest.raises(cr.ConfigError, match=r"unknown setting\(s\) 'betas'"):
        opt.add_param_group({"params": _p(), "betas": (0.9, 0.99)})
    with pytest.raises(cr.ConfigError, match="lr must be"):
        opt.lr = -0.1


def test_bad_parameter_lists() -> None:
    with pytest.raises(cr.ConfigError, match="empty parameter list"):
        optim.SGD([], lr=0.1)
    with pytest.raises(cr.ConfigError, match="got one Tensor; pass"):
        optim.SGD(cr.tensor([1.0], requires_grad=True))
    with pytest.raises(cr.ConfigError, match="expected tensors, got ndarray"):
        optim.SGD([np.zeros(2)])
    with pytest.raises(cr.ConfigError, match="LBFGS: takes one parameter group"):
        optim.LBFGS([{"params": _p()}, {"params": _p()}])


def test_name_table_lists_the_valid_names() -> None:
    assert optim.get("AdamW") is optim.AdamW
    with pytest.raises(cr.ConfigError, match="choose one of adam, adamw, rmsprop, sgd"):
        optim.get("lbfgs")  # needs a closure: built by class, not by name
    with pytest.raises(cr.ConfigError, match="unknown optimizer 3"):
        optim.get(3)  # type: ignore[arg-type]
