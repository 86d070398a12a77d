"""The codec server: the Temporal UI and CLI send it encrypted payloads to show them in clear.

Temporal's remote codec protocol: `POST /encode` and `POST /decode` (also under a namespace
prefix, `/<namespace>/decode`) take and give `{"payloads": [...]}`, each payload in proto3 JSON
(its metadata values and data in base64). The browser calls it from the UI's page, so it answers
CORS preflights for the configured origins only. It holds the key: it listens on localhost
unless told otherwise, answers 403 to a request whose `Host` is not one of the names it serves,
and, given a token, 401 to one without `Authorization: Bearer <token>` (`tools.ops.codec_access`
says why); a preflight needs no token, as browsers send it without credentials.
`CodecService` is the protocol without sockets; aiohttp serves it, as it serves the metrics
endpoints, refusing a body over `MAX_BODY_BYTES` with 413. No body is read from a request
refused for its host or its token.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Collection, Mapping
from dataclasses import dataclass

from aiohttp import web
from google.protobuf import json_format
from google.protobuf.message import DecodeError
from temporalio.api.common.v1 import Payload

from runtime.crypto import DecryptionError
from runtime.telemetry.http import serve
from runtime.temporal.encryption import EncryptionCodec
from tools.ops.codec_access import HostName, bears_token

MAX_BODY_BYTES = 16 * 1024 * 1024
READ_TIMEOUT_SECONDS = 10.0
ALLOWED_HEADERS = "Content-Type, X-Namespace, Authorization"
JSON = "application/json"
TEXT = "text/plain; charset=utf-8"


@dataclass(frozen=True)
class Response:
    status: int
    content_type: str
    body: bytes
    headers: tuple[tuple[str, str], ...] = ()


def _text(status: int, message: str, *headers: tuple[str, str]) -> Response:
    return Response(status, TEXT, message.encode() + b"\n", headers)


class CodecService:
    """The protocol, without sockets: one request in, one response out.

    It answers to the `hosts` names only, and, with a `token`, to requests bearing it only.
    """

    def __init__(
        self,
        codec: EncryptionCodec,
        origins: Collection[str],
        *,
        hosts: Collection[HostName],
        token: str | None = None,
    ) -> None:
        self._codec = codec
        self._origins = frozenset(origins)
        self._hosts = tuple(hosts)
        self._token = token

    async def respond(
        self,
        method: str,
        path: str,
        headers: Mapping[str, str],
        read_body: Callable[[], Awaitable[bytes]],
    ) -> Response:
        """`headers` are looked up by lower-case name: aiohttp's are case-insensitive. The body
        is read only once the request has passed the host and token checks."""
        response = await self._route(method, path.split("?", 1)[0], headers, read_body)
        return self._with_cors(response, headers.get("origin", ""))

    async def _route(
        self,
        method: str,
        path: str,
        headers: Mapping[str, str],
        read_body: Callable[[], Awaitable[bytes]],
    ) -> Response:
        action = path.rstrip("/").rsplit("/", 1)[-1]
        refusal = self._refusal(method, action, headers)
        if refusal is not None:
            return refusal
        try:
            payloads = _payloads(await read_body())
            if action == "encode":
                coded = await self._codec.encode(payloads)
            else:
                coded = await self._codec.decode(payloads)
        except (DecryptionError, ValueError, json_format.ParseError, DecodeError) as error:
            return _text(400, str(error) or "bad request")
        document = {"payloads": [json_format.MessageToDict(p) for p in coded]}
        return Response(200, JSON, json.dumps(document).encode())

    def _refusal(self, method: str, action: str, headers: Mapping[str, str]) -> Response | None:
        """The answer to a request that gets no payloads (a preflight's included), or `None`."""
        host = headers.get("host", "")
        if not any(name.admits(host) for name in self._hosts):
            served = ", ".join(map(str, self._hosts))
            return _text(
                403,
                f"this codec server does not answer to Host {host[:100]!r}, only to {served}:"
                " add the name to CODEC_ALLOWED_HOSTS if it is this server's",
            )
        if action not in ("encode", "decode"):
            return _text(404, "not found: /encode, /decode")
        if method == "OPTIONS":
            return Response(204, TEXT, b"")
        if self._token is not None and not bears_token(
            headers.get("authorization", ""), self._token
        ):
            return _text(
                401,
                "this codec server needs its token: send Authorization: Bearer <CODEC_AUTH_TOKEN>",
                ("WWW-Authenticate", 'Bearer realm="codec-server"'),
            )
        if method != "POST":
            return _text(405, "POST only")
        return None

    def _with_cors(self, response: Response, origin: str) -> Response:
        if origin not in self._origins:
            return response  # the browser refuses it to any other page
        cors = (
            ("Access-Control-Allow-Origin", origin),
            ("Access-Control-Allow-Credentials", "true"),
            ("Access-Control-Allow-Methods", "POST, OPTIONS"),
            ("Access-Control-Allow-Headers", ALLOWED_HEADERS),
            ("Vary", "Origin"),
        )
        headers = (*response.headers, *cors)
        return Response(response.status, response.content_type, response.body, headers)


def _payloads(body: bytes) -> list[Payload]:
    """The request's payloads; `ValueError` or a protobuf parse error when the body is not the
    protocol's JSON."""
    try:
        document = json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise ValueError("the body is not JSON") from None
    if not isinstance(document, dict) or not isinstance(document.get("payloads"), list):
        raise ValueError('the body is not {"payloads": [...]}')
    return [json_format.ParseDict(item, Payload()) for item in document["payloads"]]


async def start(
    service: CodecService, host: str, port: int, *, read_timeout: float = READ_TIMEOUT_SECONDS
) -> web.AppRunner:
    """Serve on host:port until the runner is cleaned up; `OSError` when the port cannot be had.
    A client gets `read_timeout` seconds for a request's head, and as many for its body."""
    return await serve(
        application(service, read_timeout), host, port, keepalive_timeout=read_timeout
    )


def application(service: CodecService, read_timeout: float) -> web.Application:
    """Every path and method goes to `service`, which routes them itself."""

    async def answer(request: web.Request) -> web.Response:
        response = await service.respond(
            request.method, request.path, request.headers, lambda: _body(request, read_timeout)
        )
        headers = (("Content-Type", response.content_type), *response.headers)
        return web.Response(status=response.status, body=response.body, headers=headers)

    app = web.Application(client_max_size=MAX_BODY_BYTES)
    app.router.add_route("*", "/{path:.*}", answer)
    return app


async def _body(request: web.Request, read_timeout: float) -> bytes:
    """The whole body; 413 past `MAX_BODY_BYTES` (aiohttp's own check), 408 when it comes too
    slowly, since a handler's `TimeoutError` would otherwise read as the server's 504."""
    try:
        async with asyncio.timeout(read_timeout):
            return await request.read()
    except TimeoutError:
        raise web.HTTPRequestTimeout(text="the request body came too slowly\n") from None
