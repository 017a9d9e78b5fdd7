"""``bench/run.py --device``: chainrule (and PyTorch) train on another device, the peers that
run on the CPU only are skipped with their reason, and a device this machine lacks stops the
run at once with the reasons.  Never looks at the speed."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, ROOT)

from bench import peers, workloads  # noqa: E402


def _run(*args: str, tmp=None) -> subprocess.CompletedProcess:
    cmd = [sys.executable, os.path.join(ROOT, "bench", "run.py"), "--quick", "--steps", "2",
           "--rounds", "1", "--max-wait", "0", *args]
    return subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, timeout=600)


def _gpu_here() -> bool:
    if importlib.util.find_spec("cupy") is None:
        return False
    try:
        import cupy

        return cupy.cuda.runtime.getDeviceCount() > 0
    except Exception:
        return False


@pytest.mark.skipif(_gpu_here(), reason="this machine has a GPU: nothing to refuse")
def test_cuda_without_a_gpu_stops_at_once_naming_each_peer():
    proc = _run("--device", "cuda", "--workloads", "W0", "--peers", "chainrule,numpy")
    assert proc.returncode != 0
    assert "--device cuda: cannot train there" in proc.stderr
    assert "chainrule:" in proc.stderr and "cupy" in proc.stderr.lower()
    assert "numpy:" not in proc.stderr   # a CPU-only peer is skipped later, not a refusal
    assert "round 0" not in proc.stderr  # nothing was timed


@pytest.mark.skipif(importlib.util.find_spec("array_api_strict") is None,
                    reason="needs array-api-strict")
def test_array_api_strict_device_trains_chainrule_to_the_cpu_loss(tmp_path):
    got = {}
    for device in ("cpu", "array_api_strict"):
        path = tmp_path / f"{device}.json"
        proc = _run("--device", device, "--workloads", "W2", "--peers", "chainrule,numpy",
                    "--json", str(path))
        assert proc.returncode == 0, proc.stderr[-3000:]
        with open(path) as f:
            res = json.load(f)
        assert res["device"] == device
        got[device] = res["workloads"][0]
    strict = got["array_api_strict"]
    assert "runs on cpu only" in strict["skipped"]["numpy"]
    assert strict["peers"]["chainrule"]["loss"] == pytest.approx(
        got["cpu"]["peers"]["chainrule"]["loss"], rel=1e-5)


def test_peers_say_which_devices_they_reach():
    wl = workloads.get("W2", quick=True)
    assert peers.why_not(peers.get("numpy", "cuda"), wl) == "the numpy peer runs on cpu only"
    assert peers.why_not(peers.get("chainrule", "cuda"), wl) is None
    assert "cuda" in peers.PEERS["torch"].devices
    assert peers.get("chainrule").device == "cpu"
    with pytest.raises(KeyError, match="choose from chainrule"):
        peers.get("tensorflow")
