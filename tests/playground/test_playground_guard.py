"""The Host/Origin guard: only the server's own names may drive it (DNS rebinding, CSRF)."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest
from playground_client import Client, serving

from chainrule.playground.guard import HostGuard
from chainrule.playground.server import PlaygroundServer


@pytest.fixture(scope="module")
def server() -> Iterator[PlaygroundServer]:
    yield from serving()


@pytest.fixture
def client(server: PlaygroundServer) -> Client:
    return Client(server)



def test_own_names_pass(client):
    port = client.port
    for host in (f"127.0.0.1:{port}", f"localhost:{port}", f"LOCALHOST:{port}",
                 f"box.example:{port}"):
        reply = client.get("/api/options", headers={"Host": host})
        assert reply.status == 200, host


@pytest.mark.parametrize("host", ["evil.example", "evil.example:{port}", "127.0.0.1",
                                  "127.0.0.1:1", "localhost.evil.example:{port}", ""])
def test_foreign_host_is_refused(client, host):
    reply = client.get("/api/options", headers={"Host": host.format(port=client.port)})
    assert reply.status == 403
    assert "not this server's" in reply.json()["error"]


@pytest.mark.parametrize("origin", ["http://evil.example", "http://evil.example:{port}",
                                    "null", "http://127.0.0.1:1", "file://",
                                    "ftp://127.0.0.1:{port}"])
def test_foreign_origin_is_refused_and_does_nothing(client, server, origin):
    before = len(server.registry.runs)
    reply = client.post("/api/runs", {"config": {}},
                        headers={"Origin": origin.format(port=client.port)})
    assert reply.status == 403
    assert len(server.registry.runs) == before  # no run was created


def test_own_origin_passes(client):
    for origin in (f"http://127.0.0.1:{client.port}", f"http://localhost:{client.port}",
                   f"http://box.example:{client.port}"):
        reply = client.post("/api/runs", {"config": {"n_samples": 40}},
                            headers={"Origin": origin})
        assert reply.status == 201, origin


def test_refused_before_static_files_too(client):
    assert client.get("/", headers={"Host": "evil.example"}).status == 403
    assert client.get("/static/app.js", headers={"Host": "evil.example"}).status == 403


def test_request_without_host_is_refused(client):
    with socket.create_connection(("127.0.0.1", client.port), timeout=10) as s:
        s.sendall(b"GET /api/options HTTP/1.0\r\n\r\n")
        head = s.recv(200)
    assert head.split()[1] == b"403"


def test_guard_names():
    g = HostGuard(9000, ["0.0.0.0", "http://lab.local:8080", "pc.lan", "pc2:9100"])
    assert g.refusal("pc.lan:9000", "http://pc.lan:9000") is None
    assert g.refusal("lab.local:8080", "https://lab.local:8080") is None
    assert g.refusal("pc2:9100", None) is None
    assert g.refusal("0.0.0.0:9000", None) is not None  # "every address" is not a name
    assert g.refusal("pc.lan:9001", None) is not None
    assert g.refusal(None, None) is not None
