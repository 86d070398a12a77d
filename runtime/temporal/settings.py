"""The Temporal connection's settings, shared by every process's own settings class."""

from __future__ import annotations

from pydantic import Field, FilePath, SecretStr, ValidationInfo, field_validator
from pydantic_settings import BaseSettings

from runtime.crypto import decode_key


class TemporalSettings(BaseSettings):
    """Where Temporal is, how to reach it safely, and the key its payloads are encrypted with.

    TLS is on with `TEMPORAL_TLS=true`, an API key, or any TLS file; a client certificate and
    its key (mTLS) come together. Files are checked to exist when the settings are read.
    """

    temporal_address: str = "localhost:7233"
    temporal_namespace: str = "ordering-system"
    temporal_tls: bool = False
    temporal_tls_ca_file: FilePath | None = None
    temporal_tls_cert_file: FilePath | None = None
    temporal_tls_key_file: FilePath | None = Field(default=None, validate_default=True)
    temporal_tls_server_name: str | None = None
    temporal_api_key: SecretStr | None = None
    # Base64 of 32 random bytes; unset, payloads are stored as plain JSON.
    payload_encryption_key: SecretStr | None = None
    payload_encryption_key_id: str = Field(default="default", min_length=1)

    @field_validator("temporal_tls_key_file")
    @classmethod
    def _key_with_certificate(cls, value: FilePath | None, info: ValidationInfo) -> FilePath | None:
        if (value is None) != (info.data.get("temporal_tls_cert_file") is None):
            raise ValueError("TEMPORAL_TLS_CERT_FILE and TEMPORAL_TLS_KEY_FILE go together")
        return value

    @field_validator("payload_encryption_key")
    @classmethod
    def _aes_256_key(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None:
            decode_key(value.get_secret_value())
        return value

    @property
    def temporal_tls_on(self) -> bool:
        files = (self.temporal_tls_ca_file, self.temporal_tls_cert_file)
        return (
            self.temporal_tls
            or self.temporal_api_key is not None
            or any(file is not None for file in files)
        )
