"""The playground tests' shared fixtures: one server per test module, a client per test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playground_client import Client, serving

from chainrule.playground.server import PlaygroundServer


@pytest.fixture(scope="module")
def server() -> Iterator[PlaygroundServer]:
    yield from serving()


@pytest.fixture
def client(server: PlaygroundServer) -> Client:
    return Client(server)
