"""The payload codec, the Temporal connection's settings, and the codec server's protocol,
without sockets."""

from __future__ import annotations

import base64
import json
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
from google.protobuf import json_format
from pydantic import ValidationError
from temporalio.api.common.v1 import Payload
from temporalio.service import TLSConfig

from runtime.crypto import KeyUnknownError, TamperedError
from runtime.temporal.client import data_converter, tls_config
from runtime.temporal.encryption import EncryptionCodec
from runtime.temporal.settings import TemporalSettings
from tools.ops.codec_access import HostName
from tools.ops.codec_server import CodecService
from tools.ops.settings import OpsSettings

KEY = bytes(range(32))
KEY_TEXT = base64.b64encode(KEY).decode()
UI = "http://localhost:8233"
HOST = "localhost:8888"
CLEAR = Payload(metadata={"encoding": b"json/plain"}, data=b'{"email":"ada@example.com"}')


def settings(**values: object) -> TemporalSettings:
    return TemporalSettings.model_validate(values)


async def test_an_encrypted_payload_decrypts_to_the_original() -> None:
    codec = EncryptionCodec("k1", KEY)
    [sealed] = await codec.encode([CLEAR])
    assert sealed.metadata["encoding"] == b"binary/encrypted"
    assert sealed.metadata["encryption-key-id"] == b"k1"
    assert b"ada@example.com" not in sealed.SerializeToString()
    assert await codec.decode([sealed]) == [CLEAR]


async def test_a_payload_that_was_never_encrypted_decodes_unchanged() -> None:
    assert await EncryptionCodec("k1", KEY).decode([CLEAR]) == [CLEAR]


async def test_a_tampered_payload_fails_to_decode() -> None:
    codec = EncryptionCodec("k1", KEY)
    [sealed] = await codec.encode([CLEAR])
    flipped = bytes([sealed.data[-1] ^ 1])
    tampered = Payload(metadata=sealed.metadata, data=sealed.data[:-1] + flipped)
    with pytest.raises(TamperedError):
        await codec.decode([tampered])


async def test_a_payload_under_another_key_id_fails_to_decode_naming_it() -> None:
    [sealed] = await EncryptionCodec("old", KEY).encode([CLEAR])
    with pytest.raises(KeyUnknownError, match="'old'"):
        await EncryptionCodec("new", KEY).decode([sealed])


async def test_a_payload_under_another_key_with_the_same_id_fails_to_decode() -> None:
    [sealed] = await EncryptionCodec("k1", KEY).encode([CLEAR])
    with pytest.raises(TamperedError):
        await EncryptionCodec("k1", bytes(32)).decode([sealed])


def test_the_converter_encrypts_only_when_a_key_is_configured() -> None:
    assert data_converter(settings()).payload_codec is None
    with_key = data_converter(settings(payload_encryption_key=KEY_TEXT))
    assert isinstance(with_key.payload_codec, EncryptionCodec)


@pytest.mark.parametrize("key", ["not base64!", base64.b64encode(bytes(16)).decode()])
def test_a_key_that_is_not_32_bytes_of_base64_is_invalid_configuration(key: str) -> None:
    with pytest.raises(ValidationError) as raised:
        settings(payload_encryption_key=key)
    assert [e["loc"] for e in raised.value.errors()] == [("payload_encryption_key",)]


def test_a_missing_certificate_file_is_invalid_configuration_naming_its_variable() -> None:
    with pytest.raises(ValidationError) as raised:
        settings(temporal_tls_cert_file="no-such-cert.pem", temporal_tls_key_file="no-such.key")
    locations = {e["loc"] for e in raised.value.errors()}
    assert ("temporal_tls_cert_file",) in locations


def test_a_client_certificate_without_its_key_is_invalid_configuration(tmp_path: Path) -> None:
    cert = tmp_path / "client.pem"
    cert.write_bytes(b"cert")
    with pytest.raises(ValidationError) as raised:
        settings(temporal_tls_cert_file=cert)
    assert [e["loc"] for e in raised.value.errors()] == [("temporal_tls_key_file",)]


def test_tls_is_off_unless_asked_for_and_on_with_an_api_key() -> None:
    assert tls_config(settings()) is False
    assert tls_config(settings(temporal_tls=True)) is True
    assert tls_config(settings(temporal_api_key="secret")) is True


def test_mtls_reads_the_ca_certificate_and_key_files(tmp_path: Path) -> None:
    files = {name: tmp_path / name for name in ("ca.pem", "client.pem", "client.key")}
    for path in files.values():
        path.write_bytes(path.name.encode())
    config = tls_config(
        settings(
            temporal_tls_ca_file=files["ca.pem"],
            temporal_tls_cert_file=files["client.pem"],
            temporal_tls_key_file=files["client.key"],
            temporal_tls_server_name="temporal.internal",
        )
    )
    assert config == TLSConfig(
        server_root_ca_cert=b"ca.pem",
        domain="temporal.internal",
        client_cert=b"client.pem",
        client_private_key=b"client.key",
    )


def test_codec_cors_origins_are_read_comma_separated(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CODEC_CORS_ORIGINS", "http://ui.example:8080, http://localhost:8233")
    origins = OpsSettings(_env_file=None).codec_cors_origins
    assert origins == ["http://ui.example:8080", "http://localhost:8233"]


def _body(*payloads: Payload) -> bytes:
    return json.dumps({"payloads": [json_format.MessageToDict(p) for p in payloads]}).encode()


def _payloads(body: bytes) -> list[Payload]:
    return [json_format.ParseDict(p, Payload()) for p in json.loads(body)["payloads"]]


def service_of(codec: EncryptionCodec) -> CodecService:
    return CodecService(codec, [UI], hosts=[HostName.parse(HOST)])


def reading(body: bytes) -> Callable[[], Awaitable[bytes]]:
    async def read() -> bytes:
        return body

    return read


async def test_the_codec_server_decodes_for_the_ui_with_cors_headers() -> None:
    codec = EncryptionCodec("k1", KEY)
    [sealed] = await codec.encode([CLEAR])
    service = service_of(codec)
    response = await service.respond(
        "POST", "/ordering-system/decode", {"origin": UI, "host": HOST}, reading(_body(sealed))
    )
    assert response.status == 200
    assert _payloads(response.body) == [CLEAR]
    assert ("Access-Control-Allow-Origin", UI) in response.headers


async def test_the_codec_server_encodes_what_the_ui_sends() -> None:
    codec = EncryptionCodec("k1", KEY)
    response = await service_of(codec).respond(
        "POST", "/encode", {"host": HOST}, reading(_body(CLEAR))
    )
    [sealed] = _payloads(response.body)
    assert sealed.metadata["encoding"] == b"binary/encrypted"
    assert await codec.decode([sealed]) == [CLEAR]


async def test_the_codec_server_answers_a_preflight_only_for_allowed_origins() -> None:
    service = service_of(EncryptionCodec("k1", KEY))
    allowed = await service.respond(
        "OPTIONS", "/decode", {"origin": UI, "host": HOST}, reading(b"")
    )
    other = await service.respond(
        "OPTIONS", "/decode", {"origin": "http://evil.example", "host": HOST}, reading(b"")
    )
    assert allowed.status == 204
    assert ("Access-Control-Allow-Headers", "Content-Type, X-Namespace, Authorization") in (
        allowed.headers
    )
    assert other.headers == ()


async def test_the_codec_server_refuses_a_payload_it_cannot_decrypt() -> None:
    [sealed] = await EncryptionCodec("old", KEY).encode([CLEAR])
    service = service_of(EncryptionCodec("k1", KEY))
    response = await service.respond("POST", "/decode", {"host": HOST}, reading(_body(sealed)))
    assert response.status == 400
    assert b"'old'" in response.body


async def test_the_codec_server_refuses_a_body_that_is_not_the_protocol() -> None:
    service = service_of(EncryptionCodec("k1", KEY))
    response = await service.respond("POST", "/decode", {"host": HOST}, reading(b'{"nope": 1}'))
    assert response.status == 400
