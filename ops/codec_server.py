"""The codec server: the Temporal UI and CLI send it encrypted payloads to show them in clear.

Temporal's remote codec protocol: `POST /encode` and `POST /decode` (also under a namespace
prefix, `/<namespace>/decode`) take and give `{"payloads": [...]}`, each payload in proto3 JSON
(its metadata values and data in base64). The browser calls it from the UI's page, so it answers
CORS preflights for the configured origins only. It holds the key: it listens on localhost
unless told otherwise. The transport is the same one-request-per-connection asyncio server as
the metrics endpoints, reading a body up to `MAX_BODY_BYTES`.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Collection, Mapping

from google.protobuf import json_format
from google.protobuf.message import DecodeError
from temporalio.api.common.v1 import Payload

from observability.http import JSON, TEXT, Response, close_quietly, parse_head
from temporal_connection.encryption import EncryptionCodec, PayloadDecryptionError

MAX_HEAD_BYTES = 16 * 1024
MAX_BODY_BYTES = 16 * 1024 * 1024
READ_TIMEOUT_SECONDS = 10.0
ALLOWED_HEADERS = "Content-Type, X-Namespace, Authorization"


def _text(status: int, reason: str, message: str) -> Response:
    return Response(status, reason, TEXT, message.encode() + b"\n")


class CodecService:
    """The protocol, without sockets: one request in, one response out."""

    def __init__(self, codec: EncryptionCodec, origins: Collection[str]) -> None:
        self._codec = codec
        self._origins = frozenset(origins)

    async def respond(
        self, method: str, path: str, headers: Mapping[str, str], body: bytes
    ) -> Response:
        """`headers` are keyed by lower-case name."""
        response = await self._route(method, path.split("?", 1)[0], body)
        return self._with_cors(response, headers.get("origin", ""))

    async def _route(self, method: str, path: str, body: bytes) -> Response:
        action = path.rstrip("/").rsplit("/", 1)[-1]
        if action not in ("encode", "decode"):
            return _text(404, "Not Found", "not found: /encode, /decode")
        if method == "OPTIONS":
            return Response(204, "No Content", TEXT, b"")
        if method != "POST":
            return _text(405, "Method Not Allowed", "POST only")
        try:
            payloads = _payloads(body)
            if action == "encode":
                coded = await self._codec.encode(payloads)
            else:
                coded = await self._codec.decode(payloads)
        except (PayloadDecryptionError, ValueError, json_format.ParseError, DecodeError) as error:
            return _text(400, "Bad Request", str(error) or "bad request")
        document = {"payloads": [json_format.MessageToDict(p) for p in coded]}
        return Response(200, "OK", JSON, json.dumps(document).encode())

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
        return Response(
            response.status, response.reason, response.content_type, response.body, cors
        )


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


async def start(service: CodecService, host: str, port: int) -> asyncio.Server:
    """Serve on host:port until the server is closed; `OSError` when the port cannot be had."""

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            request = await _read(reader)
            if request is not None:
                writer.write((await service.respond(*request)).encode())
                await writer.drain()
        except ConnectionError:
            pass  # the client left; nothing to tell it
        finally:
            await close_quietly(writer)

    return await asyncio.start_server(answer, host, port, limit=MAX_HEAD_BYTES)


async def _read(reader: asyncio.StreamReader) -> tuple[str, str, dict[str, str], bytes] | None:
    """Method, path, headers and body of one HTTP/1.x request; `None` when it is not one, is
    too large or too slow."""
    try:
        async with asyncio.timeout(READ_TIMEOUT_SECONDS):
            request = parse_head(await reader.readuntil(b"\r\n\r\n"))
            if request is None:
                return None
            method, path, headers = request
            length = int(headers.get("content-length", "0"))
            if not 0 <= length <= MAX_BODY_BYTES:
                return None
            body = await reader.readexactly(length)
    except (asyncio.LimitOverrunError, asyncio.IncompleteReadError, TimeoutError, ValueError):
        return None
    return method, path, headers, body
