"""The codec server over HTTP on an ephemeral local port, asked as the Temporal UI asks it: CORS,
the body limit, slow clients and kept-alive connections."""

from __future__ import annotations

import asyncio
import contextlib
import http.client
import json
import re
import socket
from collections.abc import AsyncIterator, Iterator, Mapping
from dataclasses import dataclass

import pytest
from google.protobuf import json_format
from temporalio.api.common.v1 import Payload

from observability.http import bound_port
from ops import codec_server
from ops.codec_server import MAX_BODY_BYTES, CodecService
from temporal_connection.encryption import EncryptionCodec

LOCALHOST = "127.0.0.1"
KEY = bytes(range(32))
UI = "http://localhost:8233"
CLEAR = Payload(metadata={"encoding": b"json/plain"}, data=b'{"email":"ada@example.com"}')


@dataclass(frozen=True)
class Answer:
    status: int
    headers: Mapping[str, str]
    body: bytes

    def payloads(self) -> list[Payload]:
        return [json_format.ParseDict(p, Payload()) for p in json.loads(self.body)["payloads"]]


def body_of(*payloads: Payload) -> bytes:
    return json.dumps({"payloads": [json_format.MessageToDict(p) for p in payloads]}).encode()


@contextlib.asynccontextmanager
async def serving(*, read_timeout: float = 10.0) -> AsyncIterator[int]:
    service = CodecService(EncryptionCodec("k1", KEY), [UI])
    runner = await codec_server.start(service, LOCALHOST, 0, read_timeout=read_timeout)
    try:
        yield bound_port(runner)
    finally:
        await runner.cleanup()


def _exchange(
    connection: http.client.HTTPConnection,
    method: str,
    path: str,
    body: bytes = b"",
    headers: Mapping[str, str] | None = None,
) -> Answer:
    connection.request(method, path, body=body, headers=dict(headers or {}))
    with connection.getresponse() as response:
        return Answer(response.status, dict(response.headers), response.read())


def _ask(port: int, method: str, path: str, body: bytes, headers: Mapping[str, str]) -> Answer:
    connection = http.client.HTTPConnection(LOCALHOST, port, timeout=10)
    try:
        return _exchange(connection, method, path, body, headers)
    finally:
        connection.close()


async def ask(
    port: int, method: str, path: str, body: bytes = b"", headers: Mapping[str, str] | None = None
) -> Answer:
    return await asyncio.to_thread(_ask, port, method, path, body, headers or {})


async def test_the_ui_gets_its_payloads_decoded_with_cors_headers() -> None:
    [sealed] = await EncryptionCodec("k1", KEY).encode([CLEAR])

    async with serving() as port:
        answer = await ask(port, "POST", "/ordering-system/decode", body_of(sealed), {"Origin": UI})

    assert answer.status == 200
    assert answer.headers["Content-Type"] == "application/json"
    assert answer.headers["Access-Control-Allow-Origin"] == UI
    assert answer.payloads() == [CLEAR]


async def test_a_preflight_is_answered_for_an_allowed_origin_only() -> None:
    async with serving() as port:
        allowed = await ask(port, "OPTIONS", "/decode", headers={"Origin": UI})
        other = await ask(port, "OPTIONS", "/decode", headers={"Origin": "http://evil.example"})

    assert (allowed.status, other.status) == (204, 204)
    assert allowed.headers["Access-Control-Allow-Methods"] == "POST, OPTIONS"
    assert "Access-Control-Allow-Origin" not in other.headers


async def test_a_body_that_is_not_the_protocol_is_400_saying_why() -> None:
    async with serving() as port:
        answer = await ask(port, "POST", "/decode", b"not json")

    assert (answer.status, answer.body) == (400, b"the body is not JSON\n")


async def test_a_body_over_16_mib_is_413_and_one_at_the_limit_is_read() -> None:
    at_limit = b" " * (MAX_BODY_BYTES - len(body_of())) + body_of()

    async with serving() as port:
        refused = await ask(port, "POST", "/decode", at_limit + b" ")
        read = await ask(port, "POST", "/decode", at_limit)

    assert refused.status == 413
    assert (read.status, read.payloads()) == (200, [])


async def test_a_get_is_405_and_an_unknown_path_404() -> None:
    async with serving() as port:
        got = await ask(port, "GET", "/decode")
        unknown = await ask(port, "POST", "/admin")

    assert (got.status, got.body) == (405, b"POST only\n")
    assert (unknown.status, unknown.body) == (404, b"not found: /encode, /decode\n")


def _twice_on_one_connection(port: int) -> tuple[list[Answer], bool]:
    connection = http.client.HTTPConnection(LOCALHOST, port, timeout=10)
    try:
        answers, sockets = [], []
        for _ in range(2):
            answers.append(_exchange(connection, "POST", "/encode", body_of(CLEAR)))
            sockets.append(connection.sock)
        return answers, sockets[0] is not None and sockets[0] is sockets[1]
    finally:
        connection.close()


async def test_two_requests_are_answered_on_one_kept_alive_connection() -> None:
    async with serving() as port:
        answers, reused = await asyncio.to_thread(_twice_on_one_connection, port)

    assert [answer.status for answer in answers] == [200, 200]
    assert reused


async def test_a_body_that_comes_too_slowly_is_408() -> None:
    async with serving(read_timeout=0.2) as port:
        reader, writer = await asyncio.open_connection(LOCALHOST, port)
        try:
            writer.write(b"POST /decode HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{")
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout=5)
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()

    assert re.match(rb"HTTP/1\.1 408 ", head)


@pytest.fixture
def taken_port() -> Iterator[int]:
    with socket.socket() as listener:
        listener.bind((LOCALHOST, 0))
        listener.listen()
        yield int(listener.getsockname()[1])


async def test_a_taken_port_is_an_os_error(taken_port: int) -> None:
    service = CodecService(EncryptionCodec("k1", KEY), [])

    with pytest.raises(OSError, match="address already in use"):
        await codec_server.start(service, LOCALHOST, taken_port)
