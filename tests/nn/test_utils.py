"""Gradient clipping against torch.nn.utils (float64).

Cases re-expressed from PyTorch's test/nn/test_clip_grad.py (``test_clip_grad_norm``:
norm types 0.5, 1, 2, 4 and inf, the returned total norm, scaling only when above
``max_norm``; ``test_clip_grad_value``; ``test_clip_grad_norm_error_if_nonfinite``;
parameters without gradients are skipped).
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import chainrule as cr
from chainrule.nn.utils import (
    clip_grad_norm_,
    clip_grad_value_,
    clip_grads_with_norm_,
    get_total_norm,
)
from conftest import HAS_TORCH, max_rel_err, needs_torch

if HAS_TORCH:
    import torch

SHAPES = [(3, 4), (5,), (2, 2)]


def _pair(scale: float, none_at: int | None = None):
    rng = np.random.default_rng(0)
    grads = [rng.normal(size=s) * scale for s in SHAPES]
    ours = [cr.tensor(np.zeros(s), requires_grad=True) for s in SHAPES]
    theirs = [torch.zeros(s, dtype=torch.float64, requires_grad=True) for s in SHAPES]
    for i, (p, tp, g) in enumerate(zip(ours, theirs, grads)):
        if i != none_at:
            p.grad, tp.grad = g.copy(), torch.tensor(g)
    return ours, theirs


@needs_torch
@pytest.mark.parametrize("norm_type", [0.5, 1, 2, 4, math.inf, "inf", -math.inf])
@pytest.mark.parametrize("scale", [0.01, 10.0])   # below and above max_norm
@pytest.mark.parametrize("none_at", [None, 1])
def test_clip_grad_norm_matches_pytorch(norm_type, scale: float, none_at) -> None:
    ours, theirs = _pair(scale, none_at)
    total = clip_grad_norm_(ours, max_norm=1.25, norm_type=norm_type)
    ttotal = torch.nn.utils.clip_grad_norm_(theirs, max_norm=1.25, norm_type=norm_type)
    assert abs(float(total) - ttotal.item()) <= 1e-12 * max(1.0, ttotal.item())
    for p, tp in zip(ours, theirs):
        assert (p.grad is None) == (tp.grad is None)
        if p.grad is not None:
            assert max_rel_err(p.grad, tp.grad.numpy()) < 1e-12


def test_clip_grad_norm_worked_example() -> None:
    # gradients (3, 4) and (12,): total 2-norm sqrt(9 + 16 + 144) = 13; scaled by
    # 6.5 / (13 + 1e-6) to norm ~6.5; the inf norm is the largest entry, 12.
    a = cr.tensor([0.0, 0.0], requires_grad=True)
    b = cr.tensor([0.0], requires_grad=True)
    a.grad, b.grad = np.array([3.0, 4.0]), np.array([12.0])
    assert clip_grad_norm_([a, b], 6.5) == 13.0
    np.testing.assert_allclose(b.grad, [12 * 6.5 / (13 + 1e-6)])
    assert clip_grad_norm_([a, b], 100.0, norm_type="inf") == pytest.approx(12 * 6.5 / 13)


@needs_torch
def test_clip_grad_value_matches_pytorch() -> None:
    ours, theirs = _pair(2.0, none_at=2)
    assert clip_grad_value_(ours, 0.7) is None
    torch.nn.utils.clip_grad_value_(theirs, 0.7)
    for p, tp in zip(ours[:2], theirs[:2]):
        np.testing.assert_array_equal(p.grad, tp.grad.numpy())
    assert ours[2].grad is None


@needs_torch
def test_total_norm_and_clip_with_norm_match_pytorch() -> None:
    ours, theirs = _pair(3.0)
    total = get_total_norm([p.grad for p in ours], 3.0)
    ttotal = torch.nn.utils.get_total_norm([p.grad for p in theirs], 3.0)
    assert abs(float(total) - ttotal.item()) < 1e-12
    clip_grads_with_norm_(ours, 1.0, total)
    torch.nn.utils.clip_grads_with_norm_(theirs, 1.0, ttotal)
    for p, tp in zip(ours, theirs):
        assert max_rel_err(p.grad, tp.grad.numpy()) < 1e-12


@pytest.mark.parametrize("bad", [math.nan, math.inf])
def test_non_finite_norm(bad: float) -> None:
    p = cr.tensor([0.0, 0.0], requires_grad=True)
    p.grad = np.array([1.0, bad])
    with pytest.raises(cr.DataError, match="total norm of order 2 of the gradients is"):
        clip_grad_norm_([p], 1.0, error_if_nonfinite=True)
    total = clip_grad_norm_(p, 1.0)  # PyTorch's default: scale by it anyway
    assert not math.isfinite(total)


def test_no_gradients_gives_zero_and_bad_arguments_are_refused() -> None:
    p = cr.tensor([1.0], requires_grad=True)
    assert clip_grad_norm_([p], 1.0) == 0.0
    with pytest.raises(cr.ConfigError, match="max_norm must be >= 0"):
        clip_grad_norm_([p], -1.0)
    with pytest.raises(cr.ConfigError, match="norm_type must be a number"):
        clip_grad_norm_([p], 1.0, norm_type="two")
    with pytest.raises(cr.ConfigError, match="clip_value must be a finite number"):
        clip_grad_value_([p], math.nan)
    with pytest.raises(cr.ConfigError, match="expected tensors"):
        clip_grad_norm_([np.zeros(2)], 1.0)
