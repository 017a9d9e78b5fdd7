"""Shared test helpers."""

from __future__ import annotations

import importlib.util
import os

import numpy as np
import pytest

HAS_TORCH = importlib.util.find_spec("torch") is not None
HAS_SKLEARN = importlib.util.find_spec("sklearn") is not None

needs_torch = pytest.mark.skipif(not HAS_TORCH, reason="PyTorch is not installed")
needs_sklearn = pytest.mark.skipif(not HAS_SKLEARN, reason="scikit-learn is not installed")


TEST_DEVICE = os.environ.get("CHAINRULE_TEST_DEVICE", "cpu")
"""The device the suite runs on: CHAINRULE_TEST_DEVICE=cuda (or array_api_strict, the array API
standard's strict library on the CPU) makes it the default for every tensor and layer."""


SLOW_AREAS = ("bench", "distributed", "docs", "e2e", "examples", "notebooks", "playground")
"""Test folders that start processes, kernels, browsers or MPI jobs, or run every page of the
documentation: ``pytest -m "not slow"`` leaves them out for a quick run of everything else."""


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "slow: in a folder of SLOW_AREAS (subprocesses, kernels, "
                            "browsers, MPI); deselect with -m 'not slow'")
    config.addinivalue_line("markers", "cpu_only: runs on the CPU device only (numba, files, "
                            "host-side tools); skipped under CHAINRULE_TEST_DEVICE")


def pytest_collection_modifyitems(config: pytest.Config, items: list) -> None:
    slow = pytest.mark.slow
    for item in items:
        parts = item.path.parts
        if "tests" in parts and parts[parts.index("tests") + 1] in SLOW_AREAS:
            item.add_marker(slow)
    if TEST_DEVICE == "cpu":
        return
    skip = pytest.mark.skip(reason=f"CPU only; the suite runs on {TEST_DEVICE}")
    for item in items:
        if "cpu_only" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(autouse=True)
def _test_device():
    """Every test makes its tensors and layers on TEST_DEVICE (the CPU unless set)."""
    if TEST_DEVICE == "cpu":
        yield
        return
    from chainrule.engine.devices import set_default_device
    previous = set_default_device(TEST_DEVICE)
    try:
        yield
    finally:
        set_default_device(previous)


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(1234)


def max_rel_err(a: np.ndarray, b: np.ndarray) -> float:
    """Largest |a - b| / max(1, |b|) over all entries."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        raise AssertionError(f"shapes differ: {a.shape} vs {b.shape}")
    if a.size == 0:
        return 0.0
    return float(np.max(np.abs(a - b) / np.maximum(1.0, np.abs(b))))
