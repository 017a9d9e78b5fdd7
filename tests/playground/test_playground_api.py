"""The JSON API: create a run, step it, read its state, explain a weight, export it."""

from __future__ import annotations

import math
from collections.abc import Iterator

import numpy as np
import pytest
from playground_client import Client, serving

from chainrule.playground.config import LIMITS
from chainrule.playground.server import MAX_BODY_BYTES, MAX_RUNS, PlaygroundServer


@pytest.fixture(scope="module")
def server() -> Iterator[PlaygroundServer]:
    yield from serving()


@pytest.fixture
def client(server: PlaygroundServer) -> Client:
    return Client(server)



def test_page_and_assets_are_served(client):
    page = client.get("/")
    assert page.status == 200 and page.headers["content-type"].startswith("text/html")
    assert "default-src 'self'" in page.headers["content-security-policy"]
    html = page.body.decode()
    for testid in ("train", "step-once", "step", "loss", "dataset", "init", "export",
                   "weight-detail"):
        assert f'data-testid="{testid}"' in html
    assert "http://" not in html and "https://" not in html  # no CDN: everything is local
    for name in ("app.js", "style.css"):
        asset = client.get(f"/static/{name}")
        assert asset.status == 200 and asset.body
        assert b"https://" not in asset.body
    assert client.get("/static/..%2F__init__.py").status == 404
    assert client.get("/static/nothing.js").status == 404


def test_options_list_the_choices(client):
    o = client.get("/api/options").json()
    names = {d["name"] for d in o["datasets"]}
    assert {"flower", "moons", "circles", "spirals", "xor", "blobs", "csv"} <= names
    assert {a["name"] for a in o["activations"]} == {"tanh", "sigmoid", "relu", "leaky_relu"}
    assert {"constant", "normal"} <= {i["name"] for i in o["inits"]}
    assert {x["name"] for x in o["optimizers"]} == {"gd", "sgd", "momentum", "adam"}


def test_default_run_is_the_course_network(client):
    r = client.create()
    assert r["sizes"] == [2, 4, 1] and r["activation"] == "tanh"
    assert r["output"] == "sigmoid_bce"
    assert len(r["points"]) == 400 and r["m_train"] + r["m_val"] == 400
    st = r["state"]
    assert st["step"] == 0
    # weights of std 0.01 give outputs near 1/2, so the cross-entropy starts near log 2
    assert st["loss"] == pytest.approx(math.log(2), abs=2e-3)
    W1 = np.array(st["weights"][0])
    assert W1.shape == (4, 2) and np.abs(W1).max() < 0.05


def test_steps_lower_the_loss(client):
    r = client.create()
    before = r["state"]["loss"]
    st, taken = client.train(r["id"], 300)
    assert st["step"] == sum(taken) == 300
    assert st["loss"] < before - 0.1
    assert len(st["history"]["steps"]) == 1 + len(taken)  # the start, then once a request
    again = client.get(f"/api/runs/{r['id']}/state").json()
    assert again["step"] == 300 and again["loss"] == st["loss"]
    b = st["boundary"]
    assert b["grid"] ** 2 == len(__import__("base64").b64decode(b["p"]))


def test_work_per_request_is_bounded(client):
    rid = client.create(n_samples=40)["id"]
    too_many = LIMITS["max_steps_per_request"] + 1
    reply = client.post(f"/api/runs/{rid}/step", {"steps": too_many})
    assert reply.status == 400 and "steps" in reply.json()["error"]
    for bad in (-1, 1.5, "10", True):
        assert client.post(f"/api/runs/{rid}/step", {"steps": bad}).status == 400


@pytest.mark.parametrize(("config", "word"), [
    ({"hidden": [99]}, "hidden"), ({"hidden": [4] * 9}, "hidden"), ({"lr": -1}, "lr"),
    ({"lr": "fast"}, "lr"), ({"activation": "swish"}, "activation"),
    ({"dataset": "mnist"}, "data set"), ({"init": "ones"}, "initialisation"),
    ({"n_samples": 10**6}, "n_samples"), ({"dataset": "spirals", "output": "sigmoid_bce"},
                                          "2 classes"),
    ({"colour": "red"}, "unknown"), ({"dataset": "csv"}, "csv"),
])
def test_bad_config_is_a_clear_400(client, config, word):
    reply = client.post("/api/runs", {"config": config})
    assert reply.status == 400
    assert word in reply.json()["error"]


def test_unknown_run_and_endpoint(client):
    assert client.get("/api/runs/nope/state").status == 404
    assert client.get("/api/nothing").status == 404
    assert client.post("/api/runs", raw=b"{not json").status == 400


def test_one_run_per_tab_replace_drops_the_old_one(client):
    first = client.create(n_samples=40)["id"]
    second = client.post("/api/runs", {"config": {"n_samples": 40}, "replace": first}).json()
    assert client.get(f"/api/runs/{first}/state").status == 404
    assert client.get(f"/api/runs/{second['id']}/state").status == 200
    assert client.request("DELETE", f"/api/runs/{second['id']}").json() == {"dropped": True}
    assert client.get(f"/api/runs/{second['id']}/state").status == 404


def test_runs_are_capped(client, server):
    ids = [client.create(n_samples=20, val_split=0)["id"] for _ in range(MAX_RUNS + 2)]
    assert len(server.registry.runs) <= MAX_RUNS
    assert client.get(f"/api/runs/{ids[0]}/state").status == 404
    assert client.get(f"/api/runs/{ids[-1]}/state").status == 200


def _csv(n: int, rng: np.random.Generator) -> str:
    X = rng.normal(size=(n, 2))
    labels = np.where(X[:, 0] * X[:, 1] > 0, "same", "different")
    return "a,b,kind\n" + "".join(f"{x:.5f},{y:.5f},{c}\n" for (x, y), c in zip(X, labels))


def test_csv_upload(client, rng):
    r = client.create(dataset="csv", csv=_csv(120, rng), csv_name="mine.csv",
                      standardize=True, hidden=[6], lr=0.5)
    assert r["class_names"] == ["different", "same"]
    assert r["feature_names"] == ["a", "b"] and len(r["points"]) == 120
    st, taken = client.train(r["id"], 50)
    assert st["step"] == sum(taken) == 50


def test_csv_upload_is_capped(client, rng):
    text = _csv(20, rng)
    big = text + "0.1,0.2,same\n" * (LIMITS["max_csv_bytes"] // 13 + 10)
    reply = client.post("/api/runs", {"config": {"dataset": "csv", "csv": big}})
    assert reply.status in (400, 413)
    huge = b'{"config": {"csv": "' + b"x" * MAX_BODY_BYTES + b'"}}'
    assert client.post("/api/runs", raw=huge).status == 413
    bad = client.post("/api/runs", {"config": {"dataset": "csv", "csv": "x,y\n1,2\n"}})
    assert bad.status == 400 and "3 columns" in bad.json()["error"]


def test_constant_init_shows_the_symmetry_failure(client):
    r = client.create(init="constant")
    assert any(f["kind"] == "symmetry" for f in r["state"]["findings"])
    st = client.post(f"/api/runs/{r['id']}/step", {"steps": 200}).json()
    W1 = np.array(st["weights"][0])
    # every hidden unit got the same gradient at every step, so the rows are still equal
    assert np.allclose(W1, W1[0], atol=1e-12, rtol=0)
    assert any(f["kind"] == "symmetry" and f["layer"] == 1 for f in st["findings"])
    random = client.create(init="normal")
    assert not any(f["kind"] == "symmetry" for f in random["state"]["findings"])


def test_explain_answers_and_rejects(client):
    rid = client.create()["id"]
    client.post(f"/api/runs/{rid}/step", {"steps": 10})
    d = client.post(f"/api/runs/{rid}/explain",
                    {"kind": "weight", "layer": 2, "row": 0, "col": 1}).json()
    assert d["name"] == "W2[0,1]" and d["general"] == "dJ/dW2 = (1/m) dZ2 A1ᵀ"
    assert d["grad"] == pytest.approx(d["formula_grad"], rel=1e-9, abs=1e-15)
    u = client.post(f"/api/runs/{rid}/explain", {"kind": "unit", "layer": 1, "unit": 2,
                                                 "example": 3}).json()
    assert u["m"] == 1 and "Backward pass" in u["table"]
    for bad in ({"kind": "weight", "layer": 3, "row": 0, "col": 0},
                {"kind": "weight", "layer": 1, "row": 4, "col": 0},
                {"kind": "unit", "layer": 1, "unit": 0, "example": 10**6},
                {"kind": "bias"}):
        assert client.post(f"/api/runs/{rid}/explain", bad).status == 400, bad


def test_diverging_run_reports_and_stays_json(client):
    r = client.create(lr=100.0, init="default", hidden=[8], activation="relu",
                      output="linear_mse")
    st, taken = client.train(r["id"], 200)
    # it diverges within a few steps (its seed is fixed); the page pauses and shows the message
    assert st["diverged"] is not None and "learning rate" in st["diverged"]
    assert st["step"] == sum(taken) < 200
