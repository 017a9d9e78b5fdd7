"""The playground's JSON API, apart from HTTP: the runs the server holds, and what a request
may ask of them (checked by :mod:`.schema` against the run's sizes before its lock is taken).
"""

from __future__ import annotations

import math
import secrets
import threading
import time
from collections import OrderedDict
from http import HTTPStatus
from typing import Any

from . import schema
from .config import LIMITS
from .schema import shown
from .session import Run

__all__ = ["ENDPOINTS", "HTTPError", "Registry", "clean", "explained", "requested_steps"]


class HTTPError(Exception):
    """A request the API answers with ``status`` and a JSON ``{"error": message}``."""

    def __init__(self, status: HTTPStatus, message: str) -> None:
        super().__init__(message)
        self.status = status


class Registry:
    """The live runs by id, dropping the least recently used beyond ``max_runs``."""

    def __init__(self, max_runs: int) -> None:
        self.lock = threading.Lock()
        self.max_runs = max_runs
        self.runs: OrderedDict[str, Run] = OrderedDict()

    def add(self, run: Run) -> str:
        key = secrets.token_hex(8)
        with self.lock:
            self.runs[key] = run
            while len(self.runs) > self.max_runs:
                self.runs.popitem(last=False)
        return key

    def get(self, key: str) -> Run:
        with self.lock:
            if key not in self.runs:
                raise HTTPError(HTTPStatus.NOT_FOUND,
                                f"no run {shown(key)} (it ended, or the server restarted); "
                                "reload the page to start a new one")
            self.runs.move_to_end(key)
            run = self.runs[key]
        run.touched = time.monotonic()
        return run

    def drop(self, key: str) -> bool:
        with self.lock:
            return self.runs.pop(key, None) is not None


def clean(value: Any) -> Any:
    """JSON has no NaN or infinity: a diverged run's numbers become null."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [clean(v) for v in value]
    return value


# (method, action) of the requests on one run (``/api/runs/ID/action``)
ENDPOINTS = {("GET", ""), ("GET", "state"), ("POST", "step"), ("POST", "explain"),
              ("GET", "model.safetensors"), ("GET", "train.py"), ("DELETE", ""),
              ("POST", "delete")}


def requested_steps(body: Any) -> int:
    """The number of steps a step request asks for."""
    body = schema.obj(body, 'the body (send {"steps": n})')
    schema.check_keys(body, ("steps",), "step request")
    return int(schema.whole(body, "steps", 0, LIMITS["max_steps_per_request"], 1))


def explained(run: Run, body: Any) -> dict[str, Any]:
    """What an explain request asks about, checked against the run's layers and examples."""
    body = schema.obj(body, 'the body (send {"kind": "weight", "layer": l, "row": j, '
                            '"col": k} or {"kind": "unit", "layer": l, "unit": j})')
    kind = schema.member(body, "kind", {"weight": 0, "unit": 0}, "kind of explanation")
    L = len(run.linears)
    m = len(run.data.X_train)
    example = schema.whole(body, "example", 0, m - 1, None)
    if kind == "weight":
        schema.check_keys(body, ("kind", "layer", "row", "col", "example"), "explain")
        layer = schema.whole(body, "layer", 1, L)
        return {"kind": kind, "layer": layer, "example": example,
                "row": schema.whole(body, "row", 0, run.sizes[layer] - 1),
                "col": schema.whole(body, "col", 0, run.sizes[layer - 1] - 1)}
    schema.check_keys(body, ("kind", "layer", "unit", "example"), "explain")
    layer = schema.whole(body, "layer", 0, L)
    return {"kind": kind, "layer": layer, "example": example,
            "unit": schema.whole(body, "unit", 0, run.sizes[layer] - 1)}
