"""The playground's web server: the page, its files, and a small JSON API over the runs.

Built on the standard library's ThreadingHTTPServer.  Each browser tab owns one run; every
request does a bounded amount of work (at most ``max_steps_per_request`` optimizer steps and
about a quarter of a second), and request bodies are capped in size.  Requests whose Host or
Origin header is not this server's own are refused with 403 before anything else happens,
which stops a web page elsewhere from reaching the server through DNS rebinding or a
cross-site form (the same guard as Jupyter's).

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
``GET  /api/runs/ID/train.py``           Python code that rebuilds and trains the network
``DELETE /api/runs/ID``                  forget the run (also ``POST /api/runs/ID/delete``)
=======================================  =========================================================
"""

from __future__ import annotations

import json
import math
import secrets
import sys
import threading
import time
import traceback
from collections import OrderedDict
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from ..errors import ChainruleError
from .config import LIMITS, options, parse_config
from .equations import explain_unit, explain_weight
from .export import model_bytes, python_code
from .session import Run

__all__ = ["MAX_BODY_BYTES", "MAX_RUNS", "HostGuard", "PlaygroundServer", "make_server",
           "serve"]

STATIC = Path(__file__).parent / "static"
MAX_BODY_BYTES = LIMITS["max_csv_bytes"] + 16 * 1024  # a CSV upload plus the config around it
MAX_RUNS = 16  # beyond this the least recently used run is dropped
_TYPES = {".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8",
          ".css": "text/css; charset=utf-8", ".svg": "image/svg+xml", ".png": "image/png"}
_CSP = ("default-src 'self'; img-src 'self' data: blob:; style-src 'self'; script-src 'self'; "
        "connect-src 'self'; frame-ancestors 'none'")


class HostGuard:
    """Which Host and Origin headers the server accepts: its own names, nothing else.

    >>> g = HostGuard(8765, ["box.local"])
    >>> g.refusal("127.0.0.1:8765", None) is None, g.refusal("localhost:8765", None) is None
    (True, True)
    >>> g.refusal("box.local:8765", "http://box.local:8765") is None
    True
    >>> g.refusal("evil.example:8765", None)
    "Host 'evil.example:8765' is not this server's"
    >>> g.refusal("127.0.0.1:8765", "http://evil.example")
    "Origin 'http://evil.example' is not this server's"
    """

    def __init__(self, port: int, names: list[str] | None = None) -> None:
        self.port = port
        allowed = {f"127.0.0.1:{port}", f"localhost:{port}", f"[::1]:{port}"}
        for name in names or []:
            name = name.strip().lower().rstrip("/")
            if not name or name in ("0.0.0.0", "::", "[::]"):  # "every address" names nothing
                continue
            if "://" in name:
                parts = urlsplit(name)
                allowed.add(parts.netloc if parts.port else f"{parts.hostname}:{port}")
            elif ":" in name and not name.startswith("[") and name.count(":") == 1:
                allowed.add(name)
            else:
                allowed.add(f"[{name}]:{port}" if ":" in name and not name.startswith("[")
                            else f"{name}:{port}")
        self.allowed = allowed

    def refusal(self, host: str | None, origin: str | None) -> str | None:
        """None when the request may proceed; otherwise why it is refused."""
        if not host or host.strip().lower() not in self.allowed:
            return f"Host {host!r} is not this server's"
        if origin is None:  # same-origin navigations and GETs send no Origin
            return None
        parts = urlsplit(origin.strip().lower())
        if parts.scheme not in ("http", "https") or parts.netloc not in self.allowed:
            return f"Origin {origin!r} is not this server's"
        return None


class Registry:
    """The live runs by id, dropping the least recently used beyond MAX_RUNS."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.runs: OrderedDict[str, Run] = OrderedDict()

    def add(self, run: Run) -> str:
        key = secrets.token_hex(8)
        with self.lock:
            self.runs[key] = run
            while len(self.runs) > MAX_RUNS:
                self.runs.popitem(last=False)
        return key

    def get(self, key: str) -> Run:
        with self.lock:
            if key not in self.runs:
                raise LookupError(f"no run {key!r} (it ended, or the server restarted); "
                                  "reload the page to start a new one")
            self.runs.move_to_end(key)
            run = self.runs[key]
        run.touched = time.monotonic()
        return run

    def drop(self, key: str) -> bool:
        with self.lock:
            return self.runs.pop(key, None) is not None


def _clean(value: Any) -> Any:
    """JSON has no NaN or infinity: a diverged run's numbers become null."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    return value


class PlaygroundServer(ThreadingHTTPServer):
    """A ThreadingHTTPServer holding the runs and the Host/Origin guard."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], allow_origins: list[str] | None = None,
                 quiet: bool = True) -> None:
        super().__init__(address, Handler)
        self.guard = HostGuard(self.server_address[1], [address[0], *(allow_origins or [])])
        self.registry = Registry()
        self.quiet = quiet

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A browser that closes a connection early is normal; anything else is reported.
        if isinstance(sys.exc_info()[1], (BrokenPipeError, ConnectionResetError)):
            return
        super().handle_error(request, client_address)

    @property
    def port(self) -> int:
        return int(self.server_address[1])


class HTTPError(Exception):
    """A request the API answers with ``status`` and a JSON ``{"error": message}``."""

    def __init__(self, status: HTTPStatus, message: str) -> None:
        super().__init__(message)
        self.status = status


class Handler(BaseHTTPRequestHandler):
    """Routes one request: the guard first, then the page, its files or the API."""

    server: PlaygroundServer
    server_version = "chainrule-playground"
    protocol_version = "HTTP/1.1"
    # Headers and body leave in one write with Nagle off: otherwise each keep-alive reply
    # waits ~40 ms for a delayed ACK, which caps the page at about 17 redraws a second.
    disable_nagle_algorithm = True
    wbufsize = 256 * 1024

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
        refusal = self.server.guard.refusal(self.headers.get("Host"),
                                            self.headers.get("Origin"))
        if refusal:
            self._send_json(HTTPStatus.FORBIDDEN, {"error": refusal + "; open the page at "
                                                   f"http://127.0.0.1:{self.server.port}/ or "
                                                   "start it with --allow-origin NAME"})
            self.close_connection = True
            return
        try:
            self._route(method, urlsplit(self.path).path)
        except HTTPError as err:
            self._send_json(err.status, {"error": str(err)})
        except LookupError as err:
            self._send_json(HTTPStatus.NOT_FOUND, {"error": str(err).strip("'\"")})
        except ChainruleError as err:
            self._send_json(HTTPStatus.BAD_REQUEST, {"error": str(err)})
        except Exception as err:  # keep serving; the page shows the message
            traceback.print_exc(file=sys.stderr)
            self._send_json(HTTPStatus.INTERNAL_SERVER_ERROR,
                            {"error": f"{type(err).__name__}: {err}"})

    def _body(self) -> Any:
        length = self.headers.get("Content-Length")
        if length is None or not length.isdigit():
            raise HTTPError(HTTPStatus.LENGTH_REQUIRED, "send a Content-Length header")
        n = int(length)
        if n > MAX_BODY_BYTES:
            self.close_connection = True  # do not read what we refuse
            raise HTTPError(HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
                            f"the request has {n} bytes; at most {MAX_BODY_BYTES} are taken "
                            f"(CSV files up to {LIMITS['max_csv_bytes']} bytes)")
        raw = self.rfile.read(n) if n else b"{}"
        try:
            return json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as err:
            raise HTTPError(HTTPStatus.BAD_REQUEST, f"the body is not JSON: {err}") from None

    def _send(self, status: HTTPStatus, body: bytes, content_type: str,
              extra: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("X-Frame-Options", "DENY")
        for key, value in (extra or {}).items():
            self.send_header(key, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _send_json(self, status: HTTPStatus, obj: Any) -> None:
        body = json.dumps(_clean(obj), allow_nan=False, ensure_ascii=False).encode("utf-8")
        self._send(status, body, "application/json; charset=utf-8")

    # -- routes ---------------------------------------------------------------------------------
    def _route(self, method: str, path: str) -> None:
        parts = [p for p in path.split("/") if p]
        if method == "GET" and not parts:
            return self._static("index.html")
        if method == "GET" and len(parts) == 2 and parts[0] == "static":
            return self._static(parts[1])
        if parts[:1] != ["api"]:
            raise HTTPError(HTTPStatus.NOT_FOUND, f"no page {path!r}")
        api = parts[1:]
        if method == "GET" and api == ["options"]:
            return self._send_json(HTTPStatus.OK, options())
        if api == ["runs"] and method == "POST":
            return self._create(self._body())
        if len(api) < 2 or api[0] != "runs":
            raise HTTPError(HTTPStatus.NOT_FOUND, f"no API endpoint {method} {path!r}")
        key, action = api[1], api[2] if len(api) > 2 else ""
        registry = self.server.registry
        if (method, action) in (("DELETE", ""), ("POST", "delete")):
            return self._send_json(HTTPStatus.OK, {"dropped": registry.drop(key)})
        run = registry.get(key)
        with run.lock:
            if method == "GET" and action == "":
                return self._send_json(HTTPStatus.OK, {"id": key, **run.describe(),
                                                       "state": run.state()})
            if method == "GET" and action == "state":
                return self._send_json(HTTPStatus.OK, run.state())
            if method == "POST" and action == "step":
                return self._step(run, self._body())
            if method == "POST" and action == "explain":
                return self._explain(run, self._body())
            if method == "GET" and action == "model.safetensors":
                return self._send(HTTPStatus.OK, model_bytes(run), "application/octet-stream",
                                  {"Content-Disposition":
                                   'attachment; filename="model.safetensors"'})
            if method == "GET" and action == "train.py":
                return self._send(HTTPStatus.OK, python_code(run).encode("utf-8"),
                                  "text/x-python; charset=utf-8",
                                  {"Content-Disposition": 'attachment; filename="train.py"'})
        raise HTTPError(HTTPStatus.NOT_FOUND, f"no API endpoint {method} {path!r}")

    def _static(self, name: str) -> None:
        files = {p.name: p for p in STATIC.iterdir() if p.is_file()}
        if name not in files:  # only the package's own files, by exact name
            raise HTTPError(HTTPStatus.NOT_FOUND, f"no file {name!r}")
        path = files[name]
        extra = {"Content-Security-Policy": _CSP} if path.suffix == ".html" else None
        self._send(HTTPStatus.OK, path.read_bytes(),
                   _TYPES.get(path.suffix, "application/octet-stream"), extra)

    def _create(self, body: Any) -> None:
        if not isinstance(body, dict):
            raise HTTPError(HTTPStatus.BAD_REQUEST, "send a JSON object: {\"config\": {...}}")
        replace = body.get("replace")
        if isinstance(replace, str):  # the tab's previous run: one run per tab
            self.server.registry.drop(replace)
        run = Run(parse_config(body.get("config", {})))
        key = self.server.registry.add(run)
        with run.lock:
            self._send_json(HTTPStatus.CREATED, {"id": key, **run.describe(),
                                                 "state": run.state()})

    def _step(self, run: Run, body: Any) -> None:
        steps = body.get("steps", 1) if isinstance(body, dict) else None
        limit = LIMITS["max_steps_per_request"]
        if not isinstance(steps, int) or isinstance(steps, bool) or not 0 <= steps <= limit:
            raise HTTPError(HTTPStatus.BAD_REQUEST,
                            f"steps must be a whole number from 0 to {limit}, got {steps!r}")
        taken = run.train(steps)
        self._send_json(HTTPStatus.OK, {"taken": taken, **run.state()})

    def _explain(self, run: Run, body: Any) -> None:
        if not isinstance(body, dict) or body.get("kind") not in ("weight", "unit"):
            raise HTTPError(HTTPStatus.BAD_REQUEST,
                            'send {"kind": "weight", "layer": l, "row": j, "col": k} or '
                            '{"kind": "unit", "layer": l, "unit": j}')
        example = body.get("example")
        if body["kind"] == "weight":
            found = explain_weight(run, body.get("layer"), body.get("row"), body.get("col"),
                                   example)
        else:
            found = explain_unit(run, body.get("layer"), body.get("unit"), example)
        self._send_json(HTTPStatus.OK, found)


def make_server(host: str = "127.0.0.1", port: int = 0,
                allow_origins: list[str] | None = None, quiet: bool = True) -> PlaygroundServer:
    """A ready server (call ``serve_forever()``); ``port=0`` picks a free port."""
    return PlaygroundServer((host, port), allow_origins, quiet)


def serve(host: str = "127.0.0.1", port: int = 8765, open_browser: bool = True,
          allow_origins: list[str] | None = None) -> int:
    """Serve the playground until Ctrl-C; returns the exit status."""
    try:
        server = make_server(host, port, allow_origins, quiet=True)
    except OSError as err:
        sys.stderr.write(f"chainrule playground: cannot listen on {host}:{port}: "
                         f"{err.strerror or err}\n    hint: choose another --port (0 picks a "
                         "free one)\n")
        return 1
    shown = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host
    url = f"http://{shown}:{server.port}/"
    print(f"chainrule playground: {url}  (Ctrl-C to stop)", flush=True)
    if host not in ("127.0.0.1", "localhost", "::1"):
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
