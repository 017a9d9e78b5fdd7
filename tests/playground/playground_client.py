"""Test helpers: a playground server on a free port, and an HTTP client that sets any header."""

from __future__ import annotations

import http.client
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from chainrule.playground.server import PlaygroundServer, make_server


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body.decode("utf-8"))


class Client:
    """Requests to one server; Host and Origin default to the server's own."""

    def __init__(self, server: PlaygroundServer) -> None:
        self.server = server
        self.port = server.port

    def request(self, method: str, path: str, body: Any = None,
                headers: dict[str, str] | None = None, raw: bytes | None = None) -> Reply:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        data = raw if raw is not None else (None if body is None else json.dumps(body).encode())
        hdrs = {"Host": f"127.0.0.1:{self.port}"}
        if data is not None:
            hdrs["Content-Type"] = "application/json"
        hdrs.update(headers or {})
        try:
            conn.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
            for k, v in hdrs.items():
                if v is not None:
                    conn.putheader(k, v)
            if data is not None and "Content-Length" not in hdrs:
                conn.putheader("Content-Length", str(len(data)))
            conn.endheaders(data)
            res = conn.getresponse()
            return Reply(res.status, {k.lower(): v for k, v in res.getheaders()}, res.read())
        finally:
            conn.close()

    def get(self, path: str, **kw: Any) -> Reply:
        return self.request("GET", path, **kw)

    def post(self, path: str, body: Any = None, **kw: Any) -> Reply:
        return self.request("POST", path, body if body is not None else {}, **kw)

    def create(self, **config: Any) -> dict[str, Any]:
        reply = self.post("/api/runs", {"config": config})
        assert reply.status == 201, reply.body
        return reply.json()

    def train(self, rid: str, steps: int) -> tuple[dict[str, Any], list[int]]:
        """Step run ``rid`` until ``steps`` steps are taken (or it diverges): the last reply's
        state and each reply's ``taken``.  One request may stop at its time budget (0.25 s)
        and take fewer, as on a loaded machine, so no test may count on one request."""
        taken: list[int] = []
        while True:
            reply = self.post(f"/api/runs/{rid}/step", {"steps": steps - sum(taken)})
            assert reply.status == 200, reply.body[:300]
            state = reply.json()
            taken.append(state["taken"])
            if sum(taken) >= steps or state["diverged"] is not None:
                return state, taken


def serving(allow_origins: list[str] | None = None) -> Iterator[PlaygroundServer]:
    """A running server on a free port of 127.0.0.1, shut down when the generator ends.

    Each test module wraps it in its own ``server`` fixture (a conftest.py here would shadow
    the top-level one, which other tests import by name).
    """
    server = make_server("127.0.0.1", 0, ["box.example"] if allow_origins is None
                         else allow_origins)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server
    server.shutdown()
    server.server_close()
