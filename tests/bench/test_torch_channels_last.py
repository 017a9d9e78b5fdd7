"""The ``torch-cl`` peer of the benchmark (PyTorch with the conv nets in channels_last): it
trains W5 and W6 to the weights of the plain PyTorch peer (the same arithmetic in another
memory layout, float32 rounding apart) and says why it skips the MLPs.  Never looks at the
speed."""

from __future__ import annotations

import importlib.util
import os
import sys

import numpy as np
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, ROOT)

from bench import peers, workloads  # noqa: E402

needs_torch = pytest.mark.skipif(importlib.util.find_spec("torch") is None,
                                 reason="needs PyTorch")


@needs_torch
@pytest.mark.parametrize("name", ["W5", "W6"])
def test_channels_last_learns_the_weights_of_the_default_layout(name):
    wl = workloads.get(name, quick=True, steps=3)
    X, y = workloads.make_data(wl)
    w0 = workloads.init_weights(wl)
    batches = workloads.batch_indices(wl, wl.round_samples, wl.round_epochs, seed=1)
    trained = []
    for key in ("torch", "torch-cl"):
        peer = peers.get(key)
        assert peers.why_not(peer, wl) is None
        peer.prepare(wl, X, y)
        trained.append(peer.train(wl, w0, wl.round_samples, wl.round_epochs, batches)[1])
    for (wa, ba), (wb, bb) in zip(*trained):
        np.testing.assert_allclose(wa, wb, rtol=1e-4, atol=1e-5)
        np.testing.assert_allclose(ba, bb, rtol=1e-4, atol=1e-5)
    assert any(not np.array_equal(a, b) for a, b in zip(trained[0][0], w0[0]))  # it trained


def test_channels_last_skips_the_mlps_and_sequence_models():
    peer = peers.get("torch-cl")
    for name in ("W2", "W7"):
        why = peers.why_not(peer, workloads.get(name, quick=True))
        assert why is not None and ("conv nets" in why or "sequence" in why
                                    or "not installed" in why)
