"""The playground's web server: the page, its files, and a small JSON API over the runs.

Built on the standard library's ThreadingHTTPServer.  Each browser tab owns one run; every
request does a bounded amount of work (at most ``max_steps_per_request`` optimizer steps and
about a quarter of a second), and request bodies are capped in size.  Requests whose Host or
Origin header is not this server's own are refused with 403 before anything else happens
(:mod:`.guard`).

A request's body is read in full (within ``request_timeout``) before its run is locked and is
checked by :mod:`.schema`; every bad request is answered with a 4xx and ``{"error":
message}`` and logs no traceback.  Only a bug in the server answers 500.

The API (JSON in and out; see docs/playground.md):

=======================================  =========================================================
``GET  /api/options``                    the choices for every selector, and the limits
``POST /api/runs``                       create a run from a config (``replace``: a run to drop)
``GET  /api/runs/ID``                    the run's description (layers, points) and state
``POST /api/runs/ID/step``               ``{"steps": n}``: train n steps, return the new state
``POST /api/runs/ID/explain``            ``{"kind": "weight", "layer": l, "row": j, "col": k}``
                                         or ``{"kind": "unit", "layer": l, "unit": j}``, with
                                         ``"example": i`` for one training example
``GET  /api/runs/ID/model.safetensors``  the model file, as ``chainrule train`` writes it
                                         (409 for a diverged run: no finite weights to save)
``GET  /api/runs/ID/train.py``           Python code that rebuilds and trains the network
``DELETE /api/runs/ID``                  forget the run (also ``POST /api/runs/ID/delete``)
=======================================  =========================================================
"""

from __future__ import annotations

import errno
import json
import socket
import sys
import threading
import time
import traceback
from argparse import Namespace
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from ..errors import ChainruleError, ConfigError
from . import schema
from .api import ENDPOINTS, HTTPError, Registry, clean, explained, requested_steps
from .config import LIMITS, options, parse_config
from .equations import explain_unit, explain_weight
from .export import model_bytes, python_code, unsavable
from .guard import HostGuard, check_address, is_ipv6, is_loopback
from .schema import shown
from .session import Run

__all__ = ["MAX_BODY_BYTES", "MAX_RUNS", "REQUEST_TIMEOUT_S", "PlaygroundServer", "make_server",
           "run", "serve"]

STATIC = Path(__file__).parent / "static"
MAX_BODY_BYTES = LIMITS["max_csv_bytes"] + 16 * 1024  # a CSV upload plus the config around it
MAX_RUNS = 16  # beyond this the least recently used run is dropped
REQUEST_TIMEOUT_S = 30.0  # a client silent this long (mid-request or idle) is disconnected
_TYPES = {".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8",
          ".css": "text/css; charset=utf-8", ".svg": "image/svg+xml", ".png": "image/png"}
_CSP = ("default-src 'self'; img-src 'self' data: blob:; style-src 'self'; script-src 'self'; "
        "connect-src 'self'; frame-ancestors 'none'")


class PlaygroundServer(ThreadingHTTPServer):
    """A ThreadingHTTPServer holding the runs and the Host/Origin guard.

    ``request_timeout`` bounds how long one connection may wait for the client: reading a
    request's head or body, or idling between keep-alive requests.  An IPv6 address
    (``::1``) listens on IPv6.
    """

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], allow_origins: list[str] | None = None,
                 quiet: bool = True, request_timeout: float = REQUEST_TIMEOUT_S) -> None:
        host, port = check_address(*address)
        if is_ipv6(host):
            self.address_family = socket.AF_INET6
        super().__init__((host, port), Handler)
        self.guard = HostGuard(self.server_address[1], [host, *(allow_origins or [])])
        self.registry = Registry(MAX_RUNS)
        self.quiet = quiet
        self.request_timeout = request_timeout

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that goes away or stops talking is normal; anything else is reported.
        if isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):
            return
        super().handle_error(request, client_address)

    @property
    def port(self) -> int:
        return int(self.server_address[1])


class Handler(BaseHTTPRequestHandler):
    """Routes one request: the guard first, then the page, its files or the API.

    A request's body is read and checked in full before its run is locked, so a client that
    stalls mid-body holds only its own connection (until ``request_timeout``), never a run.
    """

    server: PlaygroundServer
    server_version = "chainrule-playground"
    protocol_version = "HTTP/1.1"
    # Headers and body leave in one write with Nagle off: otherwise each keep-alive reply
    # waits ~40 ms for a delayed ACK, which caps the page at about 17 redraws a second.
    disable_nagle_algorithm = True
    wbufsize = 256 * 1024

    def setup(self) -> None:
        self.timeout = self.server.request_timeout  # the socket's timeout, set by setup()
        super().setup()

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        if not self.server.quiet:
            super().log_message(format, *args)

    def do_GET(self) -> None:
        self._handle("GET")

    def do_POST(self) -> None:
        self._handle("POST")

    def do_DELETE(self) -> None:
        self._handle("DELETE")

    # -- plumbing -------------------------------------------------------------------------------
    def _handle(self, method: str) -> None:
        self._body_done = False
        refusal = self.server.guard.refusal(self.headers.get("Host"),
                                            self.headers.get("Origin"))
        if refusal:
            self.close_connection = True
            self._send_json(HTTPStatus.FORBIDDEN, {"error": refusal + "; open the page at "
                                                   f"http://127.0.0.1:{self.server.port}/ or "
                                                   "start it with --allow-origin NAME"})
            return
        try:
            self._route(method, urlsplit(self.path).path)
        except HTTPError as err:
            self._fail(err.status, str(err))
        except ChainruleError as err:
            self._fail(HTTPStatus.BAD_REQUEST, str(err))
        except (ConnectionError, TimeoutError):  # the client went away or stopped reading
            self.close_connection = True
        except Exception as err:  # a bug here: report it, keep serving
            traceback.print_exc(file=sys.stderr)
            self._fail(HTTPStatus.INTERNAL_SERVER_ERROR,
                       f"internal error ({type(err).__name__}); the server's log has the "
                       "details")

    def _fail(self, status: HTTPStatus, message: str) -> None:
        if not self._body_done:  # an unread body would be taken for the next request
            self.close_connection = True
        self._send_json(status, {"error": message})

    def _raw_body(self) -> bytes:
        """The request's body, read in full within ``request_timeout`` (HTTPError if not)."""
        lengths = self.headers.get_all("Content-Length") or []
        if not lengths:
            raise HTTPError(HTTPStatus.LENGTH_REQUIRED, "send a Content-Length header")
        value = lengths[0].strip()
        if len(set(lengths)) > 1 or not (value.isascii() and value.isdigit()) or \
                len(value) > 15:
            raise HTTPError(HTTPStatus.BAD_REQUEST, "Content-Length must be one whole number "
                            f"of bytes, got {shown(', '.join(lengths))}")
        n = int(value)
        if n > MAX_BODY_BYTES:
            raise HTTPError(HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
                            f"the request has {n} bytes; at most {MAX_BODY_BYTES} are taken "
                            f"(CSV files up to {LIMITS['max_csv_bytes']} bytes)")
        deadline = time.monotonic() + self.server.request_timeout
        chunks, got = [], 0
        while got < n:
            left = deadline - time.monotonic()
            if left <= 0:
                raise HTTPError(HTTPStatus.REQUEST_TIMEOUT, f"the body stopped after {got} of "
                                f"{n} bytes; send it in full")
            self.connection.settimeout(left)
            try:
                chunk = self.rfile.read1(min(n - got, 1 << 16))
            except TimeoutError:
                chunk = None
            if chunk is None:
                raise HTTPError(HTTPStatus.REQUEST_TIMEOUT, f"the body stopped after {got} of "
                                f"{n} bytes; send it in full")
            if not chunk:
                raise HTTPError(HTTPStatus.BAD_REQUEST, f"the body ended after {got} of {n} "
                                "bytes (Content-Length)")
            chunks.append(chunk)
            got += len(chunk)
        self.connection.settimeout(self.server.request_timeout)
        self._body_done = True
        return b"".join(chunks)

    def _body(self) -> Any:
        """The request's JSON body (``{}`` when empty), checked by :mod:`.schema`."""
        raw = self._raw_body()
        return schema.parse_json(raw) if raw.strip() else {}

    def _send(self, status: HTTPStatus, body: bytes, content_type: str,
              extra: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("X-Frame-Options", "DENY")
        if self.close_connection:
            self.send_header("Connection", "close")
        for key, value in (extra or {}).items():
            self.send_header(key, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _send_json(self, status: HTTPStatus, obj: Any) -> None:
        body = json.dumps(clean(obj), allow_nan=False, ensure_ascii=False).encode("utf-8")
        self._send(status, body, "application/json; charset=utf-8")

    # -- routes ---------------------------------------------------------------------------------
    def _route(self, method: str, path: str) -> None:
        parts = [p for p in path.split("/") if p]
        if method == "POST":  # every POST's body is read and checked before anything else
            body = self._body()
        elif self.headers.get("Content-Length", "0").strip() not in ("", "0"):
            self.close_connection = True  # a body nothing reads: end the connection after
        if method == "GET" and not parts:
            return self._static("index.html")
        if method == "GET" and len(parts) == 2 and parts[0] == "static":
            return self._static(parts[1])
        if parts[:1] != ["api"]:
            raise HTTPError(HTTPStatus.NOT_FOUND, f"no page {shown(path)}")
        api = parts[1:]
        if method == "GET" and api == ["options"]:
            return self._send_json(HTTPStatus.OK, options())
        if api == ["runs"] and method == "POST":
            return self._create(body)
        action = api[2] if len(api) == 3 else None
        if len(api) not in (2, 3) or api[0] != "runs" or \
                (method, action or "") not in ENDPOINTS:
            raise HTTPError(HTTPStatus.NOT_FOUND, f"no API endpoint {method} {shown(path)}")
        key, registry = api[1], self.server.registry
        if action in (None, "delete") and method in ("DELETE", "POST"):
            return self._send_json(HTTPStatus.OK, {"dropped": registry.drop(key)})
        run = registry.get(key)
        # checked against the run's sizes, which never change, before its lock is taken
        steps = requested_steps(body) if action == "step" else 0
        where = explained(run, body) if action == "explain" else {}
        with run.lock:
            if action is None:
                return self._send_json(HTTPStatus.OK, {"id": key, **run.describe(),
                                                       "state": run.state()})
            if action == "state":
                return self._send_json(HTTPStatus.OK, run.state())
            if action == "step":
                taken = run.train(steps)
                return self._send_json(HTTPStatus.OK, {"taken": taken, **run.state()})
            if action == "explain":
                explain = explain_weight if where.pop("kind") == "weight" else explain_unit
                return self._send_json(HTTPStatus.OK, explain(run, **where))
            if action == "model.safetensors":
                problem = unsavable(run)
                if problem:
                    raise HTTPError(HTTPStatus.CONFLICT, problem)
                data = model_bytes(run)
                return self._send(HTTPStatus.OK, data, "application/octet-stream",
                                  {"Content-Disposition":
                                   'attachment; filename="model.safetensors"'})
            code = python_code(run).encode("utf-8")
        return self._send(HTTPStatus.OK, code, "text/x-python; charset=utf-8",
                          {"Content-Disposition": 'attachment; filename="train.py"'})

    def _static(self, name: str) -> None:
        files = {p.name: p for p in STATIC.iterdir() if p.is_file()}
        if name not in files:  # only the package's own files, by exact name
            raise HTTPError(HTTPStatus.NOT_FOUND, f"no file {shown(name)}")
        path = files[name]
        extra = {"Content-Security-Policy": _CSP} if path.suffix == ".html" else None
        self._send(HTTPStatus.OK, path.read_bytes(),
                   _TYPES.get(path.suffix, "application/octet-stream"), extra)

    def _create(self, body: Any) -> None:
        body = schema.obj(body, 'the body (send {"config": {...}})')
        schema.check_keys(body, ("config", "replace"), "request")
        replace = schema.text(body, "replace", 64, None)
        run = Run(parse_config(schema.obj(body.get("config", {}), "config")))
        if replace is not None:  # the tab's previous run, once the new one stands
            self.server.registry.drop(replace)
        key = self.server.registry.add(run)
        with run.lock:
            self._send_json(HTTPStatus.CREATED, {"id": key, **run.describe(),
                                                 "state": run.state()})


def run(args: Namespace) -> int:
    """Serve the playground with the options of :func:`~.command.add_arguments` until Ctrl-C;
    returns the exit status."""
    return serve(host=args.host, port=args.port, open_browser=not args.no_browser,
                 allow_origins=list(args.allow_origin or []))


def make_server(host: str = "127.0.0.1", port: int = 0,
                allow_origins: list[str] | None = None, quiet: bool = True,
                request_timeout: float = REQUEST_TIMEOUT_S) -> PlaygroundServer:
    """A ready server (call ``serve_forever()``); ``port=0`` picks a free port.

    A port outside 0..65535 is a ConfigError; an address that cannot be listened on, an
    OSError.
    """
    return PlaygroundServer((host, port), allow_origins, quiet, request_timeout)


def serve(host: str = "127.0.0.1", port: int = 8765, open_browser: bool = True,
          allow_origins: list[str] | None = None) -> int:
    """Serve the playground until Ctrl-C; returns the exit status (nonzero, with a message
    on stderr, when it cannot listen)."""
    try:
        server = make_server(host, port, allow_origins, quiet=True)
    except ConfigError as err:
        sys.stderr.write(f"chainrule playground: {err}\n")
        return 2
    except (OSError, OverflowError, ValueError) as err:
        busy = isinstance(err, OSError) and err.errno == errno.EADDRINUSE
        hint = ("choose another --port (0 picks a free one)" if busy else
                "give --host an address of this machine, e.g. 127.0.0.1 or ::1")
        sys.stderr.write(f"chainrule playground: cannot listen on {shown(host)} port {port}: "
                         f"{getattr(err, 'strerror', None) or err}\n    hint: {hint}\n")
        return 1
    name = server.server_address[0]
    if name in ("0.0.0.0", "::", ""):  # every address: this machine's loopback reaches it
        name = "::1" if server.address_family == socket.AF_INET6 else "127.0.0.1"
    url = f"http://[{name}]:{server.port}/" if ":" in name else f"http://{name}:{server.port}/"
    print(f"chainrule playground: {url}  (Ctrl-C to stop)", flush=True)
    if not is_loopback(host):
        print("note: listening beyond this machine; anyone who can reach it can train "
              "networks here", flush=True)
    if open_browser:
        import webbrowser

        threading.Timer(0.3, webbrowser.open, args=(url,)).start()
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        print("\nchainrule playground: stopped", flush=True)
    finally:
        server.server_close()
    return 0
