"""Smoke test of the benchmark: `bench/run.py --quick` runs every installed peer in its own
process, prints its tables and saves its results, and the peers' sanity figures agree.  It
never looks at the speed."""

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

from bench import machine, run, workloads  # noqa: E402

HAVE = {name: importlib.util.find_spec(mod) is not None
        for name, mod in (("torch", "torch"), ("jax", "jax"), ("jax-epoch", "jax"))}


# Two quick runs side by side, each as small as still shows what the tests check: W0 (the MLP)
# with every peer of the default list, and W5 (the conv net) with the peers its test reads
# (torch, chainrule, and numpy, which must say why it skips); 2 steps a round, 1 round, no
# waiting for a quiet machine.  One run of both workloads with every peer took about three
# times as long, most of it JAX compiling the conv net twice.
RUNS = {"W0": [], "W5": ["--peers", "chainrule,torch,numpy"]}


@pytest.fixture(scope="module")
def quick(tmp_path_factory):
    """The outputs of the quick runs: their printed tables and their results, W0 then W5."""
    folder = tmp_path_factory.mktemp("bench")
    procs = {}
    for name, extra in RUNS.items():
        cmd = [sys.executable, os.path.join(ROOT, "bench", "run.py"), "--quick",
               "--workloads", name, "--steps", "2", "--rounds", "1", "--max-wait", "0",
               "--json", str(folder / f"{name}.json"), *extra]
        procs[name] = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                       text=True, cwd=ROOT)
    texts, workloads_run = [], []
    try:
        for name, proc in procs.items():
            out, err = proc.communicate(timeout=600)
            assert proc.returncode == 0, err[-3000:]
            texts.append(out)
            with open(folder / f"{name}.json") as f:
                workloads_run.extend(json.load(f)["workloads"])
    finally:
        for proc in procs.values():  # a run that failed or hung must not outlive the test
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    return "\n".join(texts), {"workloads": workloads_run}


def test_quick_run_prints_the_tables_without_issue_numbers(quick):
    text, _ = quick
    assert "us/step" in text and "vs torch" in text and "% peak" in text
    assert "kernels" in text          # which BLAS kernel NumPy used
    assert "issue" not in text.lower()


def test_every_installed_peer_ran_w0_and_learned_the_same_weights(quick):
    _, res = quick
    w0 = res["workloads"][0]
    got = w0["peers"]
    expected = {"chainrule", "numpy"} | {p for p, ok in HAVE.items() if ok}
    assert expected <= set(got), w0["skipped"]
    # Same data, weights and steps: every library ends at the same loss (float32 rounding),
    # and training lowered it.
    ref = got["numpy"]["loss"]
    for name, d in got.items():
        assert d["loss"] == pytest.approx(ref, rel=1e-3), name
        assert d["loss"] < w0["init_loss"], name
        assert d["step_seconds"] > 0 and d["rounds"], name


@pytest.mark.skipif(not HAVE["torch"], reason="needs PyTorch")
def test_conv_workload_runs_torch_and_chainrule_runs_or_says_why(quick):
    _, res = quick
    w5 = res["workloads"][1]
    assert "torch" in w5["peers"]
    assert "numpy" in w5["skipped"]            # the hand-written peer is an MLP only
    if "chainrule" in w5["peers"]:
        assert w5["peers"]["chainrule"]["loss"] == pytest.approx(
            w5["peers"]["torch"]["loss"], rel=1e-3)
    else:
        assert "Conv2d" in w5["skipped"]["chainrule"]


def test_peer_env_removes_the_blas_pins_and_keeps_the_rest():
    base = {"OPENBLAS_CORETYPE": "Haswell", "OPENBLAS_L2_SIZE": "1048576", "HOME": "/h",
            "PYTHONPATH": "/x"}
    env = machine.peer_env(base, pythonpath="/src")
    assert not set(machine.PINNED_BLAS) & set(env)
    assert env["HOME"] == "/h"
    assert env["PYTHONPATH"].split(os.pathsep) == ["/src", "/x"]
    assert not env["NUMBA_CACHE_DIR"].startswith(ROOT)      # never inside the repository
    assert base["OPENBLAS_CORETYPE"] == "Haswell"            # the caller's dict is untouched


def test_each_checkout_gets_the_numba_cache_folder_chainrule_would_name(tmp_path):
    from chainrule.nn.kernels import sources_digest

    assert os.path.basename(machine.peer_env({})["NUMBA_CACHE_DIR"]) == sources_digest()
    old = tmp_path / "chainrule"   # an older checkout: read, never imported
    old.mkdir()
    (old / "kernels.py").write_text("import numba\n")
    folder = machine.peer_env({}, pythonpath=str(tmp_path))["NUMBA_CACHE_DIR"]
    assert os.path.basename(folder) not in ("numba", sources_digest())


def test_ratios_are_taken_round_by_round():
    # Round 0: torch 3 s vs 1 s (3x); round 1: 8 s vs 2 s (4x); median 3.5x.  The ratio of
    # the medians would be 5.5 / 1.5 = 3.67x instead.
    res = {"samples_per_step": 1, "flops_per_step": 1.0, "peers": {
        "chainrule": {"rounds": [{"round": 0, "step_seconds": 1.0},
                                 {"round": 1, "step_seconds": 2.0}]},
        "torch": {"rounds": [{"round": 0, "step_seconds": 3.0},
                             {"round": 1, "step_seconds": 8.0}]}}}
    run.summarize(res)
    assert res["peers"]["chainrule"]["vs_torch"] == pytest.approx(3.5)


def test_teacher_data_of_a_shorter_run_is_a_prefix_of_the_longer():
    long_, short = workloads.get("W2"), workloads.get("W2", quick=True)
    Xl, yl = workloads.make_data(long_)
    Xs, ys = workloads.make_data(short)
    np.testing.assert_array_equal(Xs, Xl[: len(Xs)])
    np.testing.assert_array_equal(ys, yl[: len(ys)])


@pytest.mark.parametrize("name", ["W5", "W6"])
def test_shared_evaluator_matches_pytorch_in_float64(name):
    torch = pytest.importorskip("torch")
    from bench.peers import TorchPeer

    wl = workloads.get(name, quick=True)
    X, y = workloads.make_data(wl)
    rng = np.random.default_rng(3)
    weights = [(W + rng.normal(0, 0.1, W.shape).astype(np.float32), b + np.float32(0.1))
               for W, b in workloads.init_weights(wl)]
    peer = TorchPeer()
    peer.prepare(wl, X, y)
    model, _, _ = peer.build(wl, weights)
    model = model.double().train()            # batch statistics, as the evaluator uses
    with torch.no_grad():
        want = model(torch.from_numpy(X[:64].astype(np.float64))).numpy()
    got = workloads.forward64(wl, weights, X[:64])
    np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-9)


def test_flops_count_by_hand():
    # LeNet-5 multiply-adds: conv1 28*28*6*25 = 117,600; conv2 10*10*16*150 = 240,000;
    # linear 400*120 + 120*84 + 84*10 = 58,920; total 416,520.
    assert workloads.multiply_adds(workloads.get("W5")) == 416_520
    assert workloads.multiply_adds(workloads.get("W0")) == 2 * 4 + 4 * 1
