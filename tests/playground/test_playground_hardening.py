"""The server stays up and answers every bad request with a 4xx and a message: stalled and
malformed bodies, numbers JSON should not hold, wrong types, bad CSV files, a diverged run's
model, a bad port; and it listens on IPv6."""

from __future__ import annotations

import http.client
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator

import pytest
from playground_client import Client, serving

from chainrule.errors import ConfigError
from chainrule.playground.server import PlaygroundServer, make_server, serve

# the test server's request_timeout: long enough that a loaded machine still reads a client's
# own head and body within it, short enough that the tests that wait it out stay quick
TIMEOUT_S = 3.0


@pytest.fixture(scope="module")
def server() -> Iterator[PlaygroundServer]:
    yield from serving()


@pytest.fixture
def client(server: PlaygroundServer) -> Client:
    return Client(server)


@pytest.fixture
def impatient() -> Iterator[PlaygroundServer]:
    """A server that waits at most TIMEOUT_S for a client."""
    srv = make_server("127.0.0.1", 0, request_timeout=TIMEOUT_S)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield srv
    srv.shutdown()
    srv.server_close()


def _head(port: int, method: str, path: str, length: str, body: bytes = b"") -> bytes:
    head = (f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {length}\r\n\r\n")
    try:  # HTTP headers are Latin-1: "²" as the one byte 0xB2, as a raw client sends it
        return head.encode("latin-1") + body
    except UnicodeEncodeError:
        return head.encode() + body


def _reply_status(sock: socket.socket) -> int:
    data = b""
    while b"\r\n" not in data:
        chunk = sock.recv(4096)
        if not chunk:
            break
        data += chunk
    return int(data.split()[1])


def _assert_4xx(reply, *words: str) -> str:
    assert 400 <= reply.status < 500, (reply.status, reply.body[:300])
    message = reply.json()["error"]
    assert message and "Traceback" not in message
    for word in words:
        assert word in message, message
    return message


# -- a stalled client holds its own connection, not the run --------------------------------------
def test_a_client_stalled_mid_body_does_not_freeze_the_run(impatient):
    client = Client(impatient)
    rid = client.create(n_samples=40)["id"]
    with socket.create_connection(("127.0.0.1", impatient.port), timeout=30) as stalled:
        stalled.sendall(_head(impatient.port, "POST", f"/api/runs/{rid}/step", "100",
                              b'{"steps": '))
        # the same run answers others at once (before: it waited for the stalled body)
        taken = 0  # a step request may stop at its time budget, so count what each took
        for _ in range(3):
            reply = client.post(f"/api/runs/{rid}/step", {"steps": 2})
            assert reply.status == 200
            taken += reply.json()["taken"]
        assert client.get(f"/api/runs/{rid}/state").status == 200
        # and the stalled request ends with 408 once the server stops waiting
        assert _reply_status(stalled) == 408
    assert client.get(f"/api/runs/{rid}/state").json()["step"] == taken >= 3


def test_an_idle_connection_is_closed(impatient):
    with socket.create_connection(("127.0.0.1", impatient.port), timeout=30) as idle:
        assert idle.recv(100) == b""  # the server hung up after TIMEOUT_S of silence
    assert Client(impatient).get("/api/options").status == 200


def test_a_body_shorter_than_its_length_is_a_400(impatient):
    with socket.create_connection(("127.0.0.1", impatient.port), timeout=30) as s:
        s.sendall(_head(impatient.port, "POST", "/api/runs", "50", b"{}"))
        s.shutdown(socket.SHUT_WR)
        assert _reply_status(s) == 400


# -- bodies JSON should not hold, lengths that are not lengths ----------------------------------
def _raw_cases(rid: str) -> list[tuple[str, bytes]]:
    step, runs = f"/api/runs/{rid}/step", "/api/runs"
    return [
        (step, b'{"steps": Infinity}'), (step, b'{"steps": NaN}'),
        (step, b'{"steps": -Infinity}'), (runs, b'{"config": {"lr": Infinity}}'),
        (runs, b'{"config": {"noise": NaN}}'),
        (step, b'{"steps": 1' + b"0" * 400 + b"}"),
        (step, b'{"steps": 1' + b"0" * 5000 + b"}"),  # beyond Python's int-parsing limit
        (runs, b'{"config": {"lr": 1e400}}'), (runs, b'{"config": {"seed": 1' + b"0" * 400
                                                      + b"}}"),
        (runs, b'{"config": {"lr": 0.' + b"1" * 400 + b"}}"),
        (runs, b"[" * 50_000 + b"]" * 50_000),
        (runs, b'{"a":' * 50_000 + b"1" + b"}" * 50_000),
        (runs, b'{"config": {"hidden": [[[[[[[[[[[4]]]]]]]]]]]}}'),
        (runs, b'{"config": {"csv_name": "\\ud800.csv"}}'),  # a lone surrogate
        (runs, b'{"\\udfff": 1}'), (runs, b"\xff\xfe{}"), (runs, b"{not json"),
        (runs, b'"config"'), (runs, b"[]"), (runs, b"17"), (runs, b"null"),
        (step, b'{"steps": 5, "extra": 1}'), (step, b"[5]"),
    ]


def test_bad_json_bodies_are_4xx(client, capfd):
    rid = client.create(n_samples=40)["id"]
    for path, raw in _raw_cases(rid):
        reply = client.post(path, raw=raw)
        assert 400 <= reply.status < 500, (path, raw[:60], reply.status, reply.body[:200])
        assert reply.json()["error"]
    assert client.get("/api/options").status == 200
    assert "Traceback" not in capfd.readouterr().err


@pytest.mark.parametrize("length", ["²", "-1", "+5", "1e3", "0x10", " ", "five", "٣",
                                    "1" * 40])
def test_a_content_length_that_is_not_a_length_is_4xx(server, length, capfd):
    with socket.create_connection(("127.0.0.1", server.port), timeout=30) as s:
        s.sendall(_head(server.port, "POST", "/api/runs", length, b"{}"))
        assert 400 <= _reply_status(s) < 500
    assert "Traceback" not in capfd.readouterr().err


def test_two_different_content_lengths_are_a_400(server):
    with socket.create_connection(("127.0.0.1", server.port), timeout=30) as s:
        s.sendall(f"POST /api/runs HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\n"
                  "Content-Length: 2\r\nContent-Length: 3\r\n\r\n{}".encode())
        assert _reply_status(s) == 400


# -- one schema: JSON's own types, in range ------------------------------------------------------
@pytest.mark.parametrize(("config", "word"), [
    ({"standardize": "false"}, "standardize"), ({"standardize": "true"}, "standardize"),
    ({"standardize": 1}, "standardize"), ({"standardize": None}, "standardize"),
    ({"lr": True}, "lr"), ({"lr": "0.5"}, "lr"), ({"noise": [0.1]}, "noise"),
    ({"seed": 1.5}, "seed"), ({"seed": "7"}, "seed"), ({"seed": True}, "seed"),
    ({"seed": -1}, "seed"), ({"batch_size": 2.0}, "batch_size"),
    ({"n_samples": {"n": 5}}, "n_samples"), ({"dataset": ["moons"]}, "data set"),
    ({"activation": None}, "activation"), ({"csv_name": 5}, "csv_name"),
    ({"csv_name": "x" * 300}, "csv_name"), ({"hidden": [True]}, "hidden"),
    ({"hidden": [2.0]}, "hidden"), ({"hidden": "4"}, "hidden"), ({"val_split": 1e308}, "val_split"),
])
def test_config_fields_take_json_types_only(client, config, word):
    _assert_4xx(client.post("/api/runs", {"config": {"n_samples": 40, **config}}), word)


def test_a_refused_config_keeps_the_tab_s_run(client):
    rid = client.create(n_samples=40)["id"]
    reply = client.post("/api/runs", {"config": {"lr": -1}, "replace": rid})
    _assert_4xx(reply, "lr")
    assert client.get(f"/api/runs/{rid}/state").status == 200  # still there to go on with


def test_standardize_false_is_false(client):
    for value in (False, True):
        r = client.create(n_samples=40, standardize=value)
        assert r["config"]["standardize"] is value


@pytest.mark.parametrize("body", [
    {"config": {}, "replace": 5}, {"config": [], "replace": None}, {"config": "moons"},
    {"configuration": {}},
])
def test_create_body_is_checked(client, body):
    _assert_4xx(client.post("/api/runs", body))


@pytest.mark.parametrize(("body", "word"), [
    ({"kind": "unit", "layer": 1, "unit": 0, "example": True}, "example"),
    ({"kind": "unit", "layer": 1, "unit": 0, "example": 1.0}, "example"),
    ({"kind": "unit", "layer": 1, "unit": 0, "example": "1"}, "example"),
    ({"kind": "unit", "layer": 1, "unit": 0, "example": -1}, "example"),
    ({"kind": "unit", "layer": 1, "unit": 0, "example": 10**30}, "example"),
    ({"kind": "unit", "layer": True, "unit": 0}, "layer"),
    ({"kind": "unit", "layer": 1, "unit": False}, "unit"),
    ({"kind": "unit", "layer": 1, "unit": 0.0}, "unit"),
    ({"kind": "unit", "layer": 9, "unit": 0}, "layer"),
    ({"kind": "weight", "layer": 1.0, "row": 0, "col": 0}, "layer"),
    ({"kind": "weight", "layer": 1, "row": True, "col": 0}, "row"),
    ({"kind": "weight", "layer": 1, "row": 0, "col": [0]}, "col"),
    ({"kind": "weight", "layer": 1, "row": 0, "col": 2}, "col"),
    ({"kind": "weight", "layer": 1, "row": 0}, "col"),
    ({"kind": "weight", "layer": 1, "row": 0, "col": 0, "unit": 1}, "unknown"),
    ({"kind": ["weight"]}, "kind"), ({"kind": None}, "kind"), ({}, "kind"),
])
def test_explain_fields_are_whole_numbers_in_range(client, body, word):
    rid = client.create(n_samples=40)["id"]
    reply = client.post(f"/api/runs/{rid}/explain", body)
    assert reply.status == 400, (reply.status, reply.body[:200])
    _assert_4xx(reply, word)


def test_example_true_is_not_example_one(client):
    rid = client.create(n_samples=40)["id"]
    good = client.post(f"/api/runs/{rid}/explain",
                       {"kind": "unit", "layer": 1, "unit": 0, "example": 1})
    assert good.status == 200 and good.json()["m"] == 1


def test_unknown_paths_and_runs_are_404(client):
    rid = client.create(n_samples=40)["id"]
    for method, path in [("GET", "/api/runs/nope"), ("GET", f"/api/runs/{rid}/nothing"),
                         ("POST", f"/api/runs/{rid}/state"), ("GET", f"/api/runs/{rid}/a/b"),
                         ("GET", "/api/runs"), ("DELETE", "/api/options")]:
        reply = client.request(method, path, body={} if method == "POST" else None)
        assert reply.status == 404, (method, path, reply.status)


# -- messages name the uploaded file, never the server's temporary files -------------------------
@pytest.mark.parametrize("text", [
    "a,b,kind\n1,2,x\n3,,y\n",  # a missing value
    "a,b,kind\n1,2,x\n3,4\n",  # a short row
    "a,b,kind\n",  # no data rows
    "a,a,kind\n1,2,x\n3,4,y\n",  # one name twice
    "a,b,kind\n1,2,x\n3,four,y\n",  # text in a feature
    'a,b,kind\n1,2,"x\n3,4,y\n',  # an open quote
    "a,b,kind\n1,2,x\n3,4,x\n",  # one class
    "a,b,c,kind\n1,2,3,x\n",  # four columns
    "a\x00,b,kind\n1,2,x\n",  # a NUL byte
    "\n\n\n",
])
def test_csv_errors_name_the_upload_not_a_temporary_file(client, text):
    reply = client.post("/api/runs", {"config": {"dataset": "csv", "csv": text,
                                                 "csv_name": "mine.csv"}})
    message = _assert_4xx(reply)
    assert "mine.csv" in message
    assert tempfile.gettempdir() not in message and "chainrule-playground-" not in message
    assert "upload.csv" not in message


# -- a diverged run has no model file to download ------------------------------------------------
def test_a_diverged_run_refuses_its_model_file_and_says_why(client, server):
    r = client.create(dataset="moons", n_samples=40, lr=100.0, init="default", hidden=[8],
                      activation="relu", output="linear_mse")
    st, _ = client.train(r["id"], 50)
    assert st["diverged"] is not None
    reply = client.get(f"/api/runs/{r['id']}/model.safetensors")
    assert reply.status == 409
    message = reply.json()["error"]
    assert "learning rate" in message and "diverged" in message
    assert client.get(f"/api/runs/{r['id']}/train.py").status == 200  # the recipe still is


def test_a_diverged_sigmoid_run_keeps_answering(client):
    # its probabilities became NaN: every step used to fail with the loss's "inputs must be
    # probabilities" instead of showing the divergence
    r = client.create(dataset="circles", noise=0.0, n_samples=21, val_split=0.4,
                      hidden=[14, 13, 11, 11], activation="leaky_relu", output="sigmoid_bce",
                      init="kaiming_normal", lr=100.0, seed=3)
    for _ in range(30):
        reply = client.post(f"/api/runs/{r['id']}/step", {"steps": 1})
        assert reply.status == 200, reply.body[:300]
    st = reply.json()
    assert st["diverged"] is not None and "learning rate" in st["diverged"]
    assert client.post(f"/api/runs/{r['id']}/explain",
                       {"kind": "unit", "layer": 1, "unit": 0, "example": 0}).status == 200
    assert client.get(f"/api/runs/{r['id']}/model.safetensors").status == 409


# -- the port and the host ----------------------------------------------------------------------
@pytest.mark.parametrize("port", [70000, -1, 65536, "80", 2**70])
def test_a_bad_port_is_a_message_not_a_traceback(port, capsys):
    assert serve("127.0.0.1", port, open_browser=False) != 0
    err = capsys.readouterr().err
    assert "65535" in err and "Traceback" not in err


@pytest.mark.parametrize("port", [True, 1.5, "0", None, 70000])
def test_make_server_refuses_a_port_that_is_not_one(port):
    with pytest.raises(ConfigError, match="65535"):
        make_server("127.0.0.1", port)


@pytest.mark.parametrize("argv", [["-m", "chainrule", "playground"],
                                  ["-m", "chainrule.playground"]])
@pytest.mark.parametrize("port", ["70000", "-1", "²", "http"])
def test_the_command_refuses_a_bad_port(argv, port):
    done = subprocess.run([sys.executable, *argv, "--port", port, "--no-browser"],
                          capture_output=True, text=True, timeout=60,
                          env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})
    assert done.returncode != 0
    assert "--port" in done.stderr and "65535" in done.stderr
    assert "Traceback" not in done.stderr


def _ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


@pytest.mark.skipif(not _ipv6_loopback(), reason="this machine has no IPv6 loopback")
@pytest.mark.parametrize("host", ["::1", "[::1]"])
def test_ipv6_loopback_serves(host):
    srv = make_server(host, 0)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    try:
        conn = http.client.HTTPConnection("::1", srv.port, timeout=30)
        conn.request("POST", "/api/runs", body=json.dumps({"config": {"n_samples": 40}}),
                     headers={"Host": f"[::1]:{srv.port}",
                              "Origin": f"http://[::1]:{srv.port}"})
        reply = conn.getresponse()
        assert reply.status == 201, reply.read()[:200]
        conn.close()
    finally:
        srv.shutdown()
        srv.server_close()
