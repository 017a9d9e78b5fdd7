"""Export: the model file chainrule train writes, and code that retrains it exactly."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator

import numpy as np
import pytest
from playground_client import Client, serving

import chainrule as cr
from chainrule.playground.config import RunConfig
from chainrule.playground.export import model_bytes, python_code
from chainrule.playground.server import PlaygroundServer
from chainrule.playground.session import Run
from chainrule.tools.saving import load_with_metadata


@pytest.fixture(scope="module")
def server() -> Iterator[PlaygroundServer]:
    yield from serving()


@pytest.fixture
def client(server: PlaygroundServer) -> Client:
    return Client(server)



def test_model_file_over_http_loads_and_predicts_the_same(client, tmp_path):
    r = client.create(dataset="moons", hidden=[5], optimizer="adam", lr=0.02)
    client.train(r["id"], 120)
    reply = client.get(f"/api/runs/{r['id']}/model.safetensors")
    assert reply.status == 200
    assert "attachment" in reply.headers["content-disposition"]
    path = tmp_path / "model.safetensors"
    path.write_bytes(reply.body)
    model, meta = load_with_metadata(str(path))
    pre = meta["preprocessing"]
    assert pre["task"] == "classification" and pre["class_names"] == ["0", "1"]
    assert meta["training"]["steps"] == 120
    state = client.get(f"/api/runs/{r['id']}/state").json()
    for mine, theirs in zip(model.parameters()[::2], state["weights"]):
        np.testing.assert_array_equal(mine.data, np.array(theirs))
    code = client.get(f"/api/runs/{r['id']}/train.py")
    assert code.status == 200 and b"nn.Sequential(" in code.body


@pytest.mark.parametrize("cfg", [
    RunConfig(),
    RunConfig(dataset="spirals", hidden=[5, 3], activation="relu", optimizer="sgd", lr=0.1,
              batch_size=17, standardize=True, init="kaiming_normal"),
    RunConfig(init="constant", optimizer="adam", lr=0.01, val_split=0.0),
    RunConfig(dataset="blobs", output="linear_mse", optimizer="momentum", lr=0.05,
              init="default", activation="leaky_relu"),
], ids=["course", "spirals-sgd", "constant-adam", "blobs-mse"])
def test_exported_code_retrains_the_same_weights(cfg, tmp_path):
    run = Run(cfg)
    assert run.train(37, budget_s=float("inf")) == 37  # no time budget: all 37, however slow
    (tmp_path / "train.py").write_text(python_code(run))
    done = subprocess.run([sys.executable, "train.py"], cwd=tmp_path, capture_output=True,
                          text=True, timeout=120,
                          env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})
    assert done.returncode == 0, done.stderr
    model, meta = load_with_metadata(str(tmp_path / "model.safetensors"))
    for mine, theirs in zip(run.model.parameters(), model.parameters()):
        np.testing.assert_array_equal(mine.data, theirs.data)
    assert meta["training"]["steps"] == 37


def test_exported_file_matches_the_live_network(tmp_path):
    run = Run(RunConfig(dataset="circles", standardize=True, hidden=[3]))
    run.train(30)
    path = tmp_path / "m.safetensors"
    path.write_bytes(model_bytes(run))
    model, meta = load_with_metadata(str(path))
    scaler = cr.data.StandardScaler.from_dict(meta["preprocessing"]["scaler"])
    X = run.data.X[:20]
    with cr.no_grad():
        out = model(cr.tensor(scaler.transform(X))).data
    np.testing.assert_allclose(out, run._outputs(run.data.scaler.transform(X)), rtol=0,
                               atol=0)
