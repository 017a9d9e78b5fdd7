"""Four tabs at once: each run steps, explains and exports while the others do, and each ends
exactly where it would have ended alone.

A barrier starts every round in all four threads together, and the tabs take turns at the
two kinds of request that set grad mode differently (a step records a graph; drawing the
state runs under no_grad), so one thread's no_grad overlaps another's recording each round.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator

import numpy as np
import pytest
from playground_client import Client, serving

from chainrule.playground.config import parse_config
from chainrule.playground.server import PlaygroundServer
from chainrule.playground.session import Run

ROUNDS = 4
STEPS = 15
CONFIGS = [
    {"dataset": "moons", "n_samples": 60, "hidden": [4, 3], "optimizer": "adam", "lr": 0.05},
    {"dataset": "xor", "n_samples": 60, "hidden": [5], "optimizer": "sgd", "batch_size": 7,
     "lr": 0.3, "seed": 2},
    {"dataset": "spirals", "n_samples": 60, "hidden": [6], "activation": "relu",
     "optimizer": "momentum", "lr": 0.05, "standardize": True, "seed": 3},
    {"dataset": "blobs", "n_samples": 60, "hidden": [3], "output": "linear_mse",
     "activation": "leaky_relu", "lr": 0.1, "seed": 4},
]


@pytest.fixture(scope="module")
def server() -> Iterator[PlaygroundServer]:
    yield from serving()


def test_four_tabs_at_once_all_succeed_and_train_as_alone(server):
    client = Client(server)
    ids = [client.post("/api/runs", {"config": cfg}).json()["id"] for cfg in CONFIGS]
    barrier = threading.Barrier(len(ids), timeout=60)
    statuses: list[list[tuple[str, int]]] = [[] for _ in ids]
    taken: list[list[int]] = [[] for _ in ids]  # a step request may stop at its time budget
    failures: list[BaseException] = []

    def tab(i: int) -> None:
        c, rid = Client(server), ids[i]

        def ask(what: str, reply) -> None:
            statuses[i].append((what, reply.status))

        def step(c: Client, rid: str) -> None:
            reply = c.post(f"/api/runs/{rid}/step", {"steps": STEPS})
            ask("step", reply)
            if reply.status == 200:
                taken[i].append(reply.json()["taken"])

        try:
            for r in range(ROUNDS):
                barrier.wait()
                if (i + r) % 2:  # half the tabs record a graph while the others draw
                    step(c, rid)
                    ask("state", c.get(f"/api/runs/{rid}/state"))
                else:
                    ask("state", c.get(f"/api/runs/{rid}/state"))
                    step(c, rid)
                barrier.wait()
                ask("explain", c.post(f"/api/runs/{rid}/explain",
                                      {"kind": "weight", "layer": 1, "row": 0, "col": 1}))
                ask("explain one", c.post(f"/api/runs/{rid}/explain",
                                          {"kind": "unit", "layer": 1, "unit": 0,
                                           "example": r}))
                barrier.wait()
                ask("model", c.get(f"/api/runs/{rid}/model.safetensors"))
                ask("code", c.get(f"/api/runs/{rid}/train.py"))
                ask("describe", c.get(f"/api/runs/{rid}"))
        except BaseException as err:  # reported below, with the other threads' statuses
            failures.append(err)
            barrier.abort()

    threads = [threading.Thread(target=tab, args=(i,)) for i in range(len(ids))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not failures, failures
    bad = [(i, what, status) for i, s in enumerate(statuses) for what, status in s
           if not 200 <= status < 300]
    assert not bad, bad
    assert all(len(s) == ROUNDS * 7 for s in statuses)
    assert client.get("/api/options").status == 200  # the server is still up
    # each run trained exactly as it does alone, in this process
    for cfg, rid, steps in zip(CONFIGS, ids, taken):
        state = client.get(f"/api/runs/{rid}/state").json()
        alone = Run(parse_config(cfg))
        for n in steps:
            assert alone.train(n, budget_s=float("inf")) == n
        assert state["step"] == alone.step == sum(steps) > 0
        for theirs, mine in zip(state["weights"], alone.linears):
            np.testing.assert_array_equal(np.array(theirs), mine.weight.data)
