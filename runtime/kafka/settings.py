"""The Kafka connection's settings, shared by every process's own settings class."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, FilePath, SecretStr, ValidationInfo, field_validator
from pydantic_settings import BaseSettings

from runtime.tls import check_ca_file, check_key_pair

SecurityProtocol = Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"]
SaslMechanism = Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"]

SASL_PROTOCOLS = frozenset({"SASL_PLAINTEXT", "SASL_SSL"})
TLS_PROTOCOLS = frozenset({"SSL", "SASL_SSL"})


class KafkaSettings(BaseSettings):
    """Where Kafka is, and how to reach it safely: TLS, SASL, or both.

    A SASL protocol needs a mechanism, a username and a password, and the SASL settings mean
    nothing without one; the TLS files only go with a TLS protocol, and a client certificate
    with its key. Each rule is checked on the setting it names, so a wrong configuration
    stops the process naming what to fix. Files are checked to exist when the settings are read.
    """

    kafka_bootstrap_servers: str = "localhost:9092"
    kafka_security_protocol: SecurityProtocol = "PLAINTEXT"
    kafka_sasl_mechanism: SaslMechanism | None = Field(default=None, validate_default=True)
    kafka_sasl_username: str | None = Field(default=None, validate_default=True)
    kafka_sasl_password: SecretStr | None = Field(default=None, validate_default=True)
    # Unset with TLS on, the system's roots verify the brokers.
    kafka_ssl_ca_file: FilePath | None = None
    kafka_ssl_cert_file: FilePath | None = None
    kafka_ssl_key_password: SecretStr | None = None
    # Last: its check loads the certificate, the key and the key's password together.
    kafka_ssl_key_file: FilePath | None = Field(default=None, validate_default=True)

    @field_validator("kafka_sasl_mechanism", "kafka_sasl_username", "kafka_sasl_password")
    @classmethod
    def _kafka_sasl_with_a_sasl_protocol(cls, value: Any, info: ValidationInfo) -> Any:
        protocol = info.data.get("kafka_security_protocol")
        name = (info.field_name or "").upper()
        if protocol in SASL_PROTOCOLS and value is None:
            raise ValueError(f"KAFKA_SECURITY_PROTOCOL={protocol} needs {name}")
        if protocol not in SASL_PROTOCOLS and protocol is not None and value is not None:
            raise ValueError(f"{name} needs KAFKA_SECURITY_PROTOCOL=SASL_SSL or SASL_PLAINTEXT")
        return value

    @field_validator(
        "kafka_sasl_mechanism", "kafka_sasl_username", "kafka_sasl_password", mode="before"
    )
    @classmethod
    def _kafka_blank_is_unset(cls, value: Any) -> Any:
        # `KAFKA_SASL_USERNAME=` in a compose file or a `.env` means "not given".
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("kafka_ssl_ca_file", "kafka_ssl_cert_file")
    @classmethod
    def _kafka_files_with_tls(cls, value: FilePath | None, info: ValidationInfo) -> FilePath | None:
        protocol = info.data.get("kafka_security_protocol")
        if value is not None and protocol is not None and protocol not in TLS_PROTOCOLS:
            name = (info.field_name or "").upper()
            raise ValueError(f"{name} needs KAFKA_SECURITY_PROTOCOL=SSL or SASL_SSL")
        return value

    @field_validator("kafka_ssl_ca_file")
    @classmethod
    def _kafka_ca_loads(cls, value: FilePath | None) -> FilePath | None:
        if value is not None:
            check_ca_file(value, "KAFKA_SSL_CA_FILE")
        return value

    @field_validator("kafka_ssl_key_file")
    @classmethod
    def _kafka_key_with_certificate(
        cls, value: FilePath | None, info: ValidationInfo
    ) -> FilePath | None:
        if "kafka_ssl_cert_file" not in info.data or "kafka_ssl_key_password" not in info.data:
            return value  # already refused for itself
        certificate, password = (
            info.data["kafka_ssl_cert_file"],
            info.data["kafka_ssl_key_password"],
        )
        if (value is None) != (certificate is None):
            raise ValueError("KAFKA_SSL_CERT_FILE and KAFKA_SSL_KEY_FILE go together")
        if value is None and password is not None:
            raise ValueError("KAFKA_SSL_KEY_PASSWORD needs KAFKA_SSL_KEY_FILE")
        if value is not None:
            check_key_pair(
                certificate,
                value,
                "" if password is None else password.get_secret_value(),
                refusal="KAFKA_SSL_CERT_FILE and KAFKA_SSL_KEY_FILE do not load together: not "
                "PEM, a key of another certificate, or a wrong or missing KAFKA_SSL_KEY_PASSWORD",
            )
        return value

    @property
    def kafka_tls_on(self) -> bool:
        return self.kafka_security_protocol in TLS_PROTOCOLS

    @property
    def kafka_sasl_on(self) -> bool:
        return self.kafka_security_protocol in SASL_PROTOCOLS
