"""Which requests the playground's server answers: the Host and Origin headers that name it,
and the address it listens on.

A request whose Host or Origin header is not this server's own is refused before anything
else happens, which stops a web page elsewhere from reaching the server through DNS
rebinding or a cross-site form (the same guard as Jupyter's).
"""

from __future__ import annotations

import ipaddress
from typing import Any
from urllib.parse import urlsplit

from ..errors import ConfigError
from .command import check_port
from .schema import shown

__all__ = ["HostGuard", "check_address", "is_ipv6", "is_loopback"]


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


def is_ipv6(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).version == 6
    except ValueError:
        return False


def check_address(host: Any, port: Any) -> tuple[str, int]:
    """The host (brackets around an IPv6 address removed) and port, or a ConfigError."""
    port = check_port(port)
    if not isinstance(host, str):
        raise ConfigError(f"the host must be an address or a name, got {shown(host)}")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    return host, port


def is_loopback(host: str) -> bool:
    if host.strip("[]").lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False
