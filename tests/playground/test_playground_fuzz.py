"""Random bodies for every endpoint of the JSON API: each answer is a 2xx or a 4xx with a
message (never a 500), nothing escapes a request handler, and the server still answers."""

from __future__ import annotations

import json
import math
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from playground_client import Client

from chainrule.playground.config import (
    ACTIVATIONS,
    DATASETS,
    INITS,
    OPTIMIZERS,
    OUTPUTS,
    RunConfig,
)
from chainrule.playground.server import PlaygroundServer, make_server

KEYS = list(RunConfig.__dataclass_fields__)
NAMES = [*DATASETS, *ACTIVATIONS, *OUTPUTS, *INITS, *OPTIMIZERS, "weight", "unit"]
FUZZ = settings(max_examples=60, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.too_slow,
                                       HealthCheck.function_scoped_fixture])


@pytest.fixture(scope="module")
def server() -> Iterator[PlaygroundServer]:
    srv = make_server("127.0.0.1", 0, request_timeout=10.0)
    srv.escaped = []  # exceptions that left a request handler (the base class prints them)
    srv.handle_error = lambda request, address: srv.escaped.append(address)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield srv
    srv.shutdown()
    srv.server_close()


def _nested(depth: int, leaf: Any) -> Any:
    for i in range(depth):
        leaf = [leaf] if i % 2 else {"k": leaf}
    return leaf


scalars = st.one_of(
    st.none(), st.booleans(), st.integers(), st.integers(-10**40, 10**40),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([1e308, -1e308, 5e-324, 0.0, -0.0, 2**53 + 1, 10**400]),
    st.text(max_size=20), st.sampled_from(NAMES), st.sampled_from(["true", "false", "1e3",
                                                                    "NaN", "\ud800"]),
)
values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=4)
                      | st.dictionaries(st.text(max_size=6), inner, max_size=4),
                      max_leaves=12)
deep = st.builds(_nested, st.integers(1, 60), scalars)
wrong = st.one_of(scalars, values, deep, st.lists(st.integers(-3, 20), max_size=8))
configs = st.dictionaries(st.sampled_from(KEYS), wrong, max_size=6)
fields = st.sampled_from(["kind", "layer", "row", "col", "unit", "example", "steps"])
explains = st.dictionaries(fields, st.one_of(st.integers(-2, 20), wrong), max_size=6)


def _encode(value: Any) -> bytes:
    """JSON as a careless client writes it: NaN and Infinity bare, lone surrogates escaped."""
    return json.dumps(value, allow_nan=True).encode()


def _valid_id(client: Client) -> str:
    return client.post("/api/runs", {"config": {"n_samples": 40, "hidden": [3, 2]}}).json()["id"]


def _check(reply) -> None:
    assert 200 <= reply.status < 300 or 400 <= reply.status < 500, \
        (reply.status, reply.body[:300])
    if reply.status >= 400:
        assert reply.json()["error"]


@pytest.fixture(scope="module")
def run_id(server: PlaygroundServer) -> dict[str, str]:
    return {"id": _valid_id(Client(server))}


def _ask(client: Client, run: dict[str, str], method: str, action: str, raw: bytes):
    path = f"/api/runs/{run['id']}/{action}" if action else "/api/runs"
    reply = client.request(method, path, raw=raw if method == "POST" else None)
    if reply.status == 404 and action:  # the run was dropped to make room: use a new one
        run["id"] = _valid_id(client)
    return reply


@FUZZ
@given(config=configs, replace=st.one_of(st.none(), wrong))
def test_random_configs(server, run_id, config, replace):
    client = Client(server)
    body: dict[str, Any] = {"config": config}
    if replace is not None:
        body["replace"] = replace
    _check(_ask(client, run_id, "POST", "", _encode(body)))


@FUZZ
@given(body=st.one_of(explains, values, deep),
       action=st.sampled_from(["step", "explain", "delete"]))
def test_random_bodies_for_a_run(server, run_id, body, action):
    client = Client(server)
    if action == "delete" and isinstance(body, dict) and body.get("kind") == "unit":
        action = "state"  # keep the run (and reach a GET too)
    method = "GET" if action == "state" else "POST"
    _check(_ask(client, run_id, method, action, _encode(body)))


@FUZZ
@given(raw=st.one_of(st.binary(max_size=300),
                     st.text(max_size=200).map(str.encode),
                     st.sampled_from([b"Infinity", b"-Infinity", b"NaN", b"1" * 5000,
                                      b"[" * 50_000, b'{"steps": 1e999}', b"\xef\xbb\xbf{}",
                                      b'{"steps": 5}' * 3, b"{}" + b"\x00" * 10])),
       where=st.sampled_from(["", "step", "explain", "delete"]))
def test_random_bytes(server, run_id, raw, where):
    _check(_ask(Client(server), run_id, "POST", where, raw))


def test_the_server_is_alive_afterwards(server):
    client = Client(server)
    assert client.get("/api/options").status == 200
    rid = _valid_id(client)
    st_ = client.post(f"/api/runs/{rid}/step", {"steps": 5}).json()
    # a step request may stop at its time budget: it takes at least one step, never more
    assert st_["step"] == st_["taken"] and 1 <= st_["taken"] <= 5
    assert math.isfinite(st_["loss"])
    assert server.escaped == []
