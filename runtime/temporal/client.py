"""One way to connect a Temporal client: address, namespace, TLS, API key and data converter."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path

from temporalio.client import Client, Interceptor
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.converter import DataConverter, DefaultFailureConverterWithEncodedAttributes
from temporalio.runtime import Runtime
from temporalio.service import TLSConfig

from runtime.crypto import decode_key
from runtime.temporal.encryption import EncryptionCodec
from runtime.temporal.settings import TemporalSettings


def data_converter(settings: TemporalSettings) -> DataConverter:
    """Pydantic JSON payloads, encrypted when a key is configured.

    With encryption, failure messages and stack traces are moved into an encrypted payload
    too: an error's text can quote the data it failed on.
    """
    codec = encryption_codec(settings)
    if codec is None:
        return pydantic_data_converter
    return dataclasses.replace(
        pydantic_data_converter,
        payload_codec=codec,
        failure_converter_class=DefaultFailureConverterWithEncodedAttributes,
    )


def encryption_codec(settings: TemporalSettings) -> EncryptionCodec | None:
    """The codec of the configured key; `None` when payloads are not encrypted."""
    key = settings.payload_encryption_key
    if key is None:
        return None
    return EncryptionCodec(settings.payload_encryption_key_id, decode_key(key.get_secret_value()))


def tls_config(settings: TemporalSettings) -> TLSConfig | bool:
    """`False` for plain TCP, `True` for TLS with the system's roots, or the files' config."""
    if not settings.temporal_tls_on:
        return False
    custom = (
        settings.temporal_tls_ca_file,
        settings.temporal_tls_cert_file,
        settings.temporal_tls_server_name,
    )
    if all(part is None for part in custom):
        return True
    return TLSConfig(
        server_root_ca_cert=_read(settings.temporal_tls_ca_file),
        domain=settings.temporal_tls_server_name,
        client_cert=_read(settings.temporal_tls_cert_file),
        client_private_key=_read(settings.temporal_tls_key_file),
    )


def _read(path: Path | None) -> bytes | None:
    return None if path is None else path.read_bytes()


async def connect(
    settings: TemporalSettings,
    *,
    runtime: Runtime | None = None,
    interceptors: Sequence[Interceptor] = (),
) -> Client:
    """A client of the configured namespace; `RuntimeError` when Temporal cannot be reached.

    Workers built on the client share its interceptors (tracing's, for one).
    """
    api_key = settings.temporal_api_key
    return await Client.connect(
        settings.temporal_address,
        namespace=settings.temporal_namespace,
        data_converter=data_converter(settings),
        tls=tls_config(settings),
        api_key=None if api_key is None else api_key.get_secret_value(),
        runtime=runtime,
        interceptors=interceptors,
    )
