"""``chainrule train --device``: the array API's strict library stands in for a GPU."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys

import pytest


def _train(tmp_path, *extra):
    return subprocess.run([sys.executable, "-m", "chainrule", "train", "--dataset", "moons",
                           "--epochs", "3", "--json", "--out", str(tmp_path), *extra],
                          capture_output=True, text=True, timeout=300)


def test_train_on_the_strict_device_gives_the_cpu_run_and_a_cpu_model_file(tmp_path):
    pytest.importorskip("array_api_strict")
    cpu = _train(tmp_path / "cpu")
    dev = _train(tmp_path / "dev", "--device", "array_api_strict")
    assert cpu.returncode == 0, cpu.stderr
    assert dev.returncode == 0, dev.stderr
    a, b = json.loads(cpu.stdout), json.loads(dev.stdout)
    assert a["validation"] == pytest.approx(b["validation"], rel=1e-5)
    # the file written from the device loads and predicts on a CPU-only process
    from chainrule import load
    model = load(str(tmp_path / "dev" / "model.safetensors"))
    assert getattr(model, "network", model).device == "cpu"


def test_unknown_device_is_refused_with_the_choices(tmp_path):
    r = _train(tmp_path, "--device", "tpu")
    assert r.returncode == 2
    assert "unknown device 'tpu'; choose from cpu, cuda" in r.stderr
    assert "Traceback" not in r.stderr


@pytest.mark.skipif(importlib.util.find_spec("cupy") is not None, reason="CuPy is installed")
def test_cuda_without_cupy_names_the_install_command(tmp_path):
    r = _train(tmp_path, "--device", "cuda")
    assert r.returncode == 2
    assert "pip install chainrule[gpu]" in r.stderr and "Traceback" not in r.stderr
