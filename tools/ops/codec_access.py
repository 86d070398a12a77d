"""Who the codec server answers: requests naming it by one of its host names, bearing its token.

A page on any site can make the browser send requests to 127.0.0.1 by rebinding its own DNS
name to that address; the browser then sends that name as the request's `Host`, and sees the
answer as the page's own, out of reach of CORS. Answering only the names the server was told
it serves (`CODEC_ALLOWED_HOSTS`; unset, the address it listens on) defeats that. The token
(`CODEC_AUTH_TOKEN`) keeps out whoever reaches the server at one of its names without it.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass

EVERY_INTERFACE = ("0.0.0.0", "::", "")


@dataclass(frozen=True)
class HostName:
    """A name the server answers to, `name` or `name:port` as a `Host` header writes it; one
    without a port stands for the name on any port."""

    name: str
    port: int | None = None

    @classmethod
    def parse(cls, text: str) -> HostName:
        """`ValueError` when `text` is not a host name with an optional port."""
        name, port = text.strip().lower(), None
        if name.count(":") > 1 and not name.startswith("["):
            name = f"[{name}]"  # an IPv6 address, written without its brackets
        head, colon, tail = name.rpartition(":")
        if colon and not head.endswith(":") and (not head.startswith("[") or head.endswith("]")):
            if not tail.isdigit() or not 0 < int(tail) < 65536:
                raise ValueError(f"{text!r} does not end in a port number")
            name, port = head, int(tail)
        if not name or any(c.isspace() or c in "/@?#," for c in name):
            raise ValueError(f"{text!r} is not a host name")
        return cls(name, port)

    def admits(self, host: str) -> bool:
        """Whether a request's `Host` header names this."""
        try:
            asked = HostName.parse(host)
        except ValueError:
            return False
        return self.name == asked.name and self.port in (None, asked.port)

    def __str__(self) -> str:
        return self.name if self.port is None else f"{self.name}:{self.port}"


def local_names(host: str, port: int) -> list[HostName]:
    """The names a browser on this machine reaches a server listening on host:port by:
    localhost and 127.0.0.1, and `host` itself unless it stands for every interface."""
    names = ["localhost", "127.0.0.1"]
    if host not in EVERY_INTERFACE:
        names.append(HostName.parse(host).name)
    return [HostName(name, port) for name in dict.fromkeys(names)]


def bears_token(authorization: str, token: str) -> bool:
    """Whether an `Authorization` header is `Bearer <token>`."""
    scheme, _, credentials = authorization.strip().partition(" ")
    # In constant time: how much of a guess is right must not show in the answer's delay.
    return scheme.lower() == "bearer" and hmac.compare_digest(
        credentials.strip().encode(), token.encode()
    )
