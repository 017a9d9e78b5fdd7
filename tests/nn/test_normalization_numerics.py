"""Batch and layer normalisation of float32 data far from zero: the statistics are taken in
float64 and the mean is subtracted in two parts, so the result keeps float32's relative
accuracy (checked against a float64 reference and against PyTorch's float32)."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

import chainrule as cr
from chainrule import nn
from chainrule.nn.normalization import batch_norm, layer_norm

needs_torch = pytest.mark.skipif(importlib.util.find_spec("torch") is None,
                                 reason="torch not installed")

SHAPES = [(256, 4), (64, 3, 8, 8), (4096, 2), (32, 5, 7)]


def _offset_data(shape: tuple[int, ...], offset: float = 1e4) -> np.ndarray:
    rng = np.random.default_rng(sum(shape))
    return (rng.normal(size=shape) + offset).astype(np.float32)


def _reference(x: np.ndarray, axes: tuple[int, ...], eps: float = 1e-5) -> np.ndarray:
    """The exact answer for these float32 inputs, in float64."""
    x = x.astype(np.float64)
    mean = x.mean(axis=axes, keepdims=True)
    return (x - mean) / np.sqrt(((x - mean) ** 2).mean(axis=axes, keepdims=True) + eps)


def _axes(shape: tuple[int, ...]) -> tuple[int, ...]:
    return (0, *range(2, len(shape)))


@pytest.mark.parametrize("shape", SHAPES)
def test_float32_batch_norm_of_offset_data_is_accurate(shape) -> None:
    x = _offset_data(shape)
    got = batch_norm(cr.tensor(x), None, None, training=True).numpy()
    assert got.dtype == np.float32
    # float32 keeps about 7 digits of values near 1: a few units of 1e-7 at most
    np.testing.assert_allclose(got, _reference(x, _axes(shape)), rtol=0, atol=2e-6)


@needs_torch
@pytest.mark.parametrize("shape", SHAPES)
def test_float32_batch_norm_is_at_least_as_accurate_as_pytorch(shape) -> None:
    import torch

    x = _offset_data(shape)
    ref = _reference(x, _axes(shape))
    theirs = torch.nn.functional.batch_norm(torch.from_numpy(x), None, None,
                                            training=True).numpy()
    ours = batch_norm(cr.tensor(x), None, None, training=True).numpy()
    assert np.abs(ours - ref).max() <= np.abs(theirs - ref).max()


@needs_torch
def test_running_statistics_of_offset_data_match_pytorch_float64() -> None:
    # The running estimates come from the float64 statistics: they agree with PyTorch run in
    # float64 on the same float32 values to float32's precision.
    import torch

    x = _offset_data((128, 3))
    ours = nn.BatchNorm1d(3)
    theirs = torch.nn.BatchNorm1d(3, dtype=torch.float64)
    for _ in range(3):
        ours(x)
        theirs(torch.from_numpy(x.astype(np.float64)))
    np.testing.assert_allclose(ours.running_mean, theirs.running_mean.numpy(), rtol=1e-7)
    np.testing.assert_allclose(ours.running_var, theirs.running_var.numpy(), rtol=1e-6)


def test_running_variance_of_offset_data_in_float32_is_accurate() -> None:
    x = _offset_data((512, 2))
    bn = nn.BatchNorm1d(2, momentum=1.0)  # momentum 1: the running values are the batch's
    bn(x)
    exact = x.astype(np.float64).var(axis=0, ddof=1)
    np.testing.assert_allclose(bn.running_var, exact, rtol=1e-6)
    np.testing.assert_allclose(bn.running_mean, x.astype(np.float64).mean(axis=0), rtol=1e-7)


def test_layer_norm_of_offset_data_is_accurate() -> None:
    x = _offset_data((16, 300))
    got = layer_norm(cr.tensor(x), 300).numpy()
    np.testing.assert_allclose(got, _reference(x, (1,)), rtol=0, atol=2e-6)
