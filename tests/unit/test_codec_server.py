"""The codec server over HTTP on an ephemeral local port, asked as the Temporal UI and CLI ask
it: CORS, the names it answers to, its token, the body limit, slow clients and kept-alive
connections."""

from __future__ import annotations

import asyncio
import contextlib
import http.client
import json
import re
import socket
from collections.abc import AsyncIterator, Collection, Iterator, Mapping
from dataclasses import dataclass

import pytest
from google.protobuf import json_format
from pydantic import ValidationError
from temporalio.api.common.v1 import Payload

from runtime.process import invalid_settings
from runtime.telemetry.http import bound_port
from runtime.temporal.encryption import EncryptionCodec
from tools.ops import codec_server
from tools.ops.codec_access import HostName, local_names
from tools.ops.codec_server import MAX_BODY_BYTES, CodecService
from tools.ops.settings import OpsSettings

LOCALHOST = "127.0.0.1"
KEY = bytes(range(32))
UI = "http://localhost:8233"
CLEAR = Payload(metadata={"encoding": b"json/plain"}, data=b'{"email":"ada@example.com"}')
TOKEN = "t0ken-of-the-codec-server"
# What `http.client` sends as `Host` to 127.0.0.1, whatever the port.
ON_ANY_PORT = (HostName(LOCALHOST),)


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
async def serving(
    *,
    port: int = 0,
    hosts: Collection[HostName] = ON_ANY_PORT,
    token: str | None = None,
    read_timeout: float = 10.0,
) -> AsyncIterator[int]:
    service = CodecService(EncryptionCodec("k1", KEY), [UI], hosts=hosts, token=token)
    runner = await codec_server.start(service, LOCALHOST, port, read_timeout=read_timeout)
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
            writer.write(
                b"POST /decode HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 100\r\n\r\n{"
            )
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
    service = CodecService(EncryptionCodec("k1", KEY), [], hosts=ON_ANY_PORT)

    with pytest.raises(OSError, match="address already in use"):
        await codec_server.start(service, LOCALHOST, taken_port)


# The names it answers to, against DNS rebinding


@pytest.fixture
def free_port() -> int:
    """A port no one listened on a moment ago."""
    with socket.socket() as probe:
        probe.bind((LOCALHOST, 0))
        return int(probe.getsockname()[1])


async def test_by_default_it_answers_to_localhost_and_127_0_0_1_on_its_own_port_only(
    free_port: int,
) -> None:
    [sealed] = await EncryptionCodec("k1", KEY).encode([CLEAR])
    asked = {
        "localhost": f"localhost:{free_port}",
        "127.0.0.1": f"127.0.0.1:{free_port}",
        "another port": f"localhost:{free_port + 1}",
        "a rebound name": f"attacker.example:{free_port}",
        "no name": "",
    }

    async with serving(port=free_port, hosts=local_names(LOCALHOST, free_port)) as port:
        answers = {
            case: await ask(port, "POST", "/decode", body_of(sealed), {"Host": host})
            for case, host in asked.items()
        }

    assert {case: answer.status for case, answer in answers.items()} == {
        "localhost": 200,
        "127.0.0.1": 200,
        "another port": 403,
        "a rebound name": 403,
        "no name": 403,
    }
    assert answers["localhost"].payloads() == [CLEAR]
    assert (
        answers["a rebound name"].body
        == (
            f"this codec server does not answer to Host 'attacker.example:{free_port}', only to"
            f" localhost:{free_port}, 127.0.0.1:{free_port}: add the name to CODEC_ALLOWED_HOSTS if"
            " it is this server's\n"
        ).encode()
    )


async def test_a_rebound_page_gets_403_for_its_preflight_too() -> None:
    async with serving(hosts=[HostName("localhost")]) as port:
        answer = await ask(port, "OPTIONS", "/decode", headers={"Host": f"evil.example:{port}"})

    assert answer.status == 403
    assert "Access-Control-Allow-Origin" not in answer.headers


def test_the_default_names_follow_the_address_it_listens_on() -> None:
    assert [str(name) for name in local_names("0.0.0.0", 8888)] == [
        "localhost:8888",
        "127.0.0.1:8888",
    ]
    assert [str(name) for name in local_names("::1", 8888)] == [
        "localhost:8888",
        "127.0.0.1:8888",
        "[::1]:8888",
    ]
    assert [str(name) for name in local_names("10.0.0.5", 80)][-1] == "10.0.0.5:80"


def test_codec_allowed_hosts_are_names_with_or_without_a_port(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("CODEC_ALLOWED_HOSTS", "codec.example.com, Localhost:8888,[::1]:8888")
    hosts = OpsSettings(_env_file=None).codec_allowed_hosts
    monkeypatch.setenv("CODEC_ALLOWED_HOSTS", "localhost:http")

    with pytest.raises(ValidationError, match="codec_allowed_hosts"):
        OpsSettings(_env_file=None)
    assert hosts == (
        HostName("codec.example.com"),
        HostName("localhost", 8888),
        HostName("[::1]", 8888),
    )


# Its token


async def test_with_a_token_a_request_without_it_or_with_another_is_401() -> None:
    async with serving(token=TOKEN) as port:
        without = await ask(port, "POST", "/decode", body_of(), {"Origin": UI})
        another = await ask(
            port, "POST", "/decode", body_of(), {"Authorization": f"Bearer {TOKEN}x"}
        )
        basic = await ask(port, "POST", "/decode", body_of(), {"Authorization": f"Basic {TOKEN}"})

    assert [answer.status for answer in (without, another, basic)] == [401, 401, 401]
    assert without.body == (
        b"this codec server needs its token: send Authorization: Bearer <CODEC_AUTH_TOKEN>\n"
    )
    assert without.headers["WWW-Authenticate"] == 'Bearer realm="codec-server"'
    assert without.headers["Access-Control-Allow-Origin"] == UI  # the page may read why


async def test_with_a_token_a_request_bearing_it_is_answered_and_a_preflight_needs_none() -> None:
    [sealed] = await EncryptionCodec("k1", KEY).encode([CLEAR])

    async with serving(token=TOKEN) as port:
        preflight = await ask(port, "OPTIONS", "/decode", headers={"Origin": UI})
        answer = await ask(
            port,
            "POST",
            "/ordering-system/decode",
            body_of(sealed),
            {"Origin": UI, "Authorization": f"Bearer {TOKEN}"},
        )

    assert (preflight.status, preflight.headers["Access-Control-Allow-Origin"]) == (204, UI)
    assert "Authorization" in preflight.headers["Access-Control-Allow-Headers"]
    assert (answer.status, answer.payloads()) == (200, [CLEAR])


async def test_a_request_without_the_token_is_refused_before_its_body_is_read() -> None:
    async with serving(token=TOKEN, read_timeout=30) as port:
        reader, writer = await asyncio.open_connection(LOCALHOST, port)
        try:
            writer.write(
                b"POST /decode HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 100\r\n\r\n{"
            )
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout=5)
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()

    assert re.match(rb"HTTP/1\.1 401 ", head)


def test_codec_auth_token_is_a_secret_of_16_or_more_characters_and_empty_means_none(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("CODEC_AUTH_TOKEN", TOKEN)
    token = OpsSettings(_env_file=None).codec_auth_token
    monkeypatch.setenv("CODEC_AUTH_TOKEN", "")
    empty = OpsSettings(_env_file=None).codec_auth_token
    monkeypatch.setenv("CODEC_AUTH_TOKEN", "tiny-s3cret")

    with pytest.raises(ValidationError) as refused:
        OpsSettings(_env_file=None)
    assert token is not None
    assert (token.get_secret_value(), str(token), empty) == (TOKEN, "**********", None)
    said = invalid_settings(refused.value)  # what `ops` prints
    assert said.startswith("codec_auth_token (must be 16 or more printable ASCII characters")
    assert "tiny-s3cret" not in said
