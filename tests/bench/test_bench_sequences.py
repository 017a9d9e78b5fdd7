"""The sequence workloads W7 (GRU) and W8 (causal transformer) of the benchmark: a quick run
of `bench/run.py` for chainrule and PyTorch, the same network in both libraries and in the
shared float64 evaluator, and the data.  Never looks at the speed."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys

import numpy as np
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, ROOT)

from bench import peers, sequences, workloads  # noqa: E402

HAVE_TORCH = importlib.util.find_spec("torch") is not None
needs_torch = pytest.mark.skipif(not HAVE_TORCH, reason="needs PyTorch")


@pytest.fixture(scope="module")
def quick(tmp_path_factory):
    """The results of `run.py --quick` on W7 and W8: 3 steps a round, 1 round, no waiting."""
    out = tmp_path_factory.mktemp("bench") / "seq.json"
    cmd = [sys.executable, os.path.join(ROOT, "bench", "run.py"), "--quick",
           "--workloads", "W7,W8", "--peers", "chainrule,torch,numpy", "--steps", "3",
           "--rounds", "1", "--max-wait", "0", "--json", str(out)]
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    with open(out) as f:
        return {w["name"]: w for w in json.load(f)["workloads"]}


@pytest.mark.parametrize("name", ["W7", "W8"])
def test_quick_run_trains_chainrule_and_torch_to_the_same_loss(quick, name):
    w = quick[name]
    assert "chainrule" in w["peers"], w["skipped"]
    assert "sequence" in w["skipped"]["numpy"]        # says why it does not run
    got = w["peers"]["chainrule"]
    assert got["loss"] < w["init_loss"] and got["step_seconds"] > 0
    if HAVE_TORCH:
        # 9 Adam steps from the same weights on the same batches, in float32.
        assert got["loss"] == pytest.approx(w["peers"]["torch"]["loss"], rel=1e-4)


@needs_torch
@pytest.mark.parametrize("name", ["W7", "W8"])
def test_both_peers_learn_the_same_weights(name):
    wl = workloads.get(name, quick=True, steps=4)
    X, y = workloads.make_data(wl)
    w0 = workloads.init_weights(wl)
    batches = workloads.batch_indices(wl, wl.round_samples, wl.round_epochs, seed=1)
    trained = []
    for key in ("chainrule", "torch"):
        peer = peers.get(key)
        assert peers.why_not(peer, wl) is None
        peer.prepare(wl, X, y)
        trained.append(peer.train(wl, w0, wl.round_samples, wl.round_epochs, batches)[1])
    losses = [workloads.evaluate(wl, w, X, y, limit=256)[0] for w in trained]
    assert losses[0] == pytest.approx(losses[1], rel=1e-5)
    d = sequences.D_MODEL
    for group_cr, group_torch, names in zip(*trained, sequences.param_names(wl.net)):
        for a, b, n in zip(group_cr, group_torch, names):
            if n.endswith("in_proj_bias"):
                # The key bias shifts every score of a query equally, which softmax ignores:
                # its true gradient is 0, so Adam's g / sqrt(v) turns float32 rounding noise
                # into steps of up to lr in either direction, differently in each library.
                np.testing.assert_allclose(a[d:2 * d], b[d:2 * d], atol=wl.lr * wl.round_steps)
                a, b = np.delete(a, np.s_[d:2 * d]), np.delete(b, np.s_[d:2 * d])
            np.testing.assert_allclose(a, b, rtol=1e-4, atol=2e-5, err_msg=n)


@pytest.mark.parametrize("net", sequences.NETS)
def test_chainrule_network_matches_the_float64_evaluator(net):
    import chainrule as cr

    X, _ = sequences.char_data(8)
    w = sequences.init_weights(net)
    model = sequences.build_chainrule(cr, net, w)
    want = sequences.forward64(net, w, X).reshape(-1, sequences.VOCAB)
    np.testing.assert_allclose(model(X).data, want, rtol=1e-4, atol=1e-5)
    names = {n for g in sequences.param_names(net) for n in g}
    assert {n for n, _ in model.named_parameters()} == names


@needs_torch
@pytest.mark.parametrize("net", sequences.NETS)
def test_float64_evaluator_matches_pytorch(net):
    import torch

    X, _ = sequences.char_data(8)
    rng = np.random.default_rng(5)
    w = [tuple(a + rng.normal(0, 0.1, a.shape).astype(np.float32) for a in g)
         for g in sequences.init_weights(net)]
    model = sequences.build_torch(torch, net, w).double()
    with torch.no_grad():
        want = model(torch.from_numpy(X)).numpy()
    got = sequences.forward64(net, w, X).reshape(-1, sequences.VOCAB)
    np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-9)


def test_data_are_next_tokens_and_a_shorter_run_sees_a_prefix():
    X, y = sequences.char_data(100)
    Xs, ys = sequences.char_data(40)
    np.testing.assert_array_equal(Xs, X[:40])
    np.testing.assert_array_equal(ys, y[:40])
    assert (X[:, 0] == 0).all()                              # every name starts with '.'
    np.testing.assert_array_equal(X[:, 1:], y[:, :-1])
    assert X.dtype == np.int64 and X.min() >= 0 and X.max() < sequences.VOCAB


def test_weights_regroup_as_saved():
    wl = workloads.get("W8")
    w0 = workloads.init_weights(wl)
    flat = [a for g in w0 for a in g]
    back = workloads.regroup(wl, flat)
    assert [len(g) for g in back] == [len(g) for g in sequences.param_names("transformer")]
    assert all(a is b for g, h in zip(w0, back) for a, b in zip(g, h))
    assert workloads.multiply_adds(wl) > workloads.multiply_adds(workloads.get("W7"))
