"""TLS to MySQL: the settings every process shares, and the `SSLContext` they give the driver.

A context rather than `?ssl=true` in the URL: only a context can name a private CA, and it
verifies the server's certificate and host name whatever the driver's defaults are.
"""

from __future__ import annotations

import ssl
from pathlib import Path

from pydantic import Field, FilePath, ValidationInfo, field_validator
from pydantic_settings import BaseSettings


class DatabaseTlsSettings(BaseSettings):
    """TLS is on with `DATABASE_TLS=true` or any of its files; the server is then verified
    against `DATABASE_TLS_CA_FILE`, or the system's roots without one. A client certificate
    and its key come together. Files are checked to exist, and to load, when read."""

    database_tls: bool = False
    database_tls_ca_file: FilePath | None = None
    database_tls_cert_file: FilePath | None = None
    database_tls_key_file: FilePath | None = Field(default=None, validate_default=True)

    @field_validator("database_tls_ca_file")
    @classmethod
    def _database_ca_loads(cls, value: FilePath | None) -> FilePath | None:
        if value is not None:
            try:
                ssl.create_default_context(cafile=value)
            except ssl.SSLError:
                raise ValueError("DATABASE_TLS_CA_FILE holds no PEM certificate") from None
        return value

    @field_validator("database_tls_key_file")
    @classmethod
    def _database_key_with_certificate(
        cls, value: FilePath | None, info: ValidationInfo
    ) -> FilePath | None:
        if "database_tls_cert_file" not in info.data:
            return value  # refused for itself already
        certificate = info.data["database_tls_cert_file"]
        if (value is None) != (certificate is None):
            raise ValueError("DATABASE_TLS_CERT_FILE and DATABASE_TLS_KEY_FILE go together")
        if certificate is not None and value is not None:
            try:
                _load_client_certificate(ssl.create_default_context(), certificate, value)
            except ssl.SSLError:
                raise ValueError(
                    "DATABASE_TLS_CERT_FILE and DATABASE_TLS_KEY_FILE do not load together: "
                    "not PEM, an encrypted key, or a key of another certificate"
                ) from None
        return value

    @property
    def database_tls_on(self) -> bool:
        files = (self.database_tls_ca_file, self.database_tls_cert_file)
        return self.database_tls or any(file is not None for file in files)

    def database_ssl_context(self) -> ssl.SSLContext | None:
        """`None` for a plain connection, else a context verifying the server."""
        if not self.database_tls_on:
            return None
        context = ssl.create_default_context(cafile=self.database_tls_ca_file)
        if self.database_tls_cert_file is not None and self.database_tls_key_file is not None:
            _load_client_certificate(
                context, self.database_tls_cert_file, self.database_tls_key_file
            )
        return context


def _load_client_certificate(context: ssl.SSLContext, certificate: Path, key: Path) -> None:
    # An empty password rather than none: with none, OpenSSL would ask for an encrypted
    # key's password on the terminal.
    context.load_cert_chain(certificate, key, password="")
