"""The metrics and health endpoints: `/metrics`, `/healthz` and `/readyz` over plain HTTP/1.1.

They are served from the process's own event loop on purpose: an answer from `/healthz` then
proves that the loop doing the process's work is running, where a server thread (as
`prometheus_client.start_http_server` runs) would keep answering with that loop blocked, and
could not probe clients that belong to the loop. The loop-native HTTP servers each cost more
than these three GET routes: aiohttp is a framework of its own, uvicorn takes over SIGTERM and
SIGINT, which the processes handle themselves, hypercorn brings an HTTP/2 and WebSocket stack.
So the transport is `asyncio.start_server` answering one bounded request per connection, and
the part that is easy to get wrong, the exposition format, is prometheus-client's.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from dataclasses import dataclass

from prometheus_client import CollectorRegistry
from prometheus_client.exposition import choose_encoder

from observability.readiness import Readiness

log = logging.getLogger(__name__)

MAX_REQUEST_BYTES = 8 * 1024
JSON = "application/json"
TEXT = "text/plain; charset=utf-8"


@dataclass(frozen=True)
class Response:
    status: int
    reason: str
    content_type: str
    body: bytes
    headers: tuple[tuple[str, str], ...] = ()

    def encode(self, *, head: bool = False) -> bytes:
        extra = "".join(f"{name}: {value}\r\n" for name, value in self.headers)
        headers = (
            f"HTTP/1.1 {self.status} {self.reason}\r\n"
            f"Content-Type: {self.content_type}\r\n"
            f"Content-Length: {len(self.body)}\r\n"
            f"{extra}"
            "Cache-Control: no-store\r\n"
            "Connection: close\r\n\r\n"
        )
        return headers.encode("ascii") + (b"" if head else self.body)


def _json(status: int, reason: str, document: object) -> Response:
    return Response(status, reason, JSON, json.dumps(document).encode() + b"\n")


BAD_REQUEST = Response(400, "Bad Request", TEXT, b"bad request\n")
NOT_FOUND = Response(404, "Not Found", TEXT, b"not found: /metrics, /healthz, /readyz\n")
NOT_ALLOWED = Response(405, "Method Not Allowed", TEXT, b"GET or HEAD only\n")
SERVER_ERROR = Response(500, "Internal Server Error", TEXT, b"internal error\n")


class Endpoints:
    """The three routes, and the server that answers them once `start` has bound its port."""

    def __init__(
        self, registry: CollectorRegistry, readiness: Readiness, *, read_timeout: float = 5.0
    ) -> None:
        self._registry = registry
        self._readiness = readiness
        self._read_timeout = read_timeout
        self._server: asyncio.Server | None = None

    async def start(self, host: str, port: int) -> None:
        """Bind and serve; `OSError` when the port cannot be had."""
        self._server = await asyncio.start_server(self._answer, host, port, limit=MAX_REQUEST_BYTES)

    @property
    def port(self) -> int:
        """The bound port: the one asked for, or the one the system chose for port 0."""
        assert self._server is not None, "not started"
        return int(self._server.sockets[0].getsockname()[1])

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    async def respond(self, method: str, path: str, accept: str = "") -> Response:
        if method not in ("GET", "HEAD"):
            return NOT_ALLOWED
        if path == "/healthz":
            # Answering at all is the proof: this runs on the loop that does the work.
            return _json(200, "OK", {"status": "alive"})
        if path == "/readyz":
            down = await self._readiness.down()
            if down:
                return _json(503, "Service Unavailable", {"status": "unready", "down": down})
            return _json(200, "OK", {"status": "ready"})
        if path == "/metrics":
            encode, content_type = choose_encoder(accept)
            return Response(200, "OK", content_type, encode(self._registry))
        return NOT_FOUND

    async def _answer(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            try:
                async with asyncio.timeout(self._read_timeout):
                    head = await reader.readuntil(b"\r\n\r\n")
            except (asyncio.LimitOverrunError, asyncio.IncompleteReadError, TimeoutError):
                return  # too long, cut short or too slow: dropped without an answer
            method, path, accept = _parse(head)
            try:
                response = await self.respond(method, path, accept) if method else BAD_REQUEST
            except Exception:
                log.exception("%s %s failed", method, path)
                response = SERVER_ERROR
            writer.write(response.encode(head=method == "HEAD"))
            await writer.drain()
        except ConnectionError:
            pass  # the client left; nothing to tell it
        finally:
            await close_quietly(writer)


def _parse(head: bytes) -> tuple[str, str, str]:
    """Method, path (without its query) and `Accept` of a request head; empty when it is not
    HTTP/1.x."""
    request = parse_head(head)
    if request is None:
        return "", "", ""
    method, path, headers = request
    return method, path.split("?", 1)[0], headers.get("accept", "")


def parse_head(head: bytes) -> tuple[str, str, dict[str, str]] | None:
    """Method, path and headers (names in lower case, the last of a repeated one) of an HTTP/1.x
    request head; `None` when it is not one."""
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ")
    if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
        return None
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return parts[0], parts[1], headers


async def close_quietly(writer: asyncio.StreamWriter) -> None:
    """Close a connection whose client may already have left."""
    writer.close()
    with contextlib.suppress(ConnectionError):
        await writer.wait_closed()
