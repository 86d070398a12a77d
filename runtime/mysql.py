"""How every process reaches MySQL: its URL, its pool and TLS, as settings, and the
`SSLContext` they give the driver.

A context rather than `?ssl=true` in the URL: only a context can name a private CA, and it
verifies the server's certificate and host name whatever the driver's defaults are.
"""

from __future__ import annotations

import ssl
from typing import Annotated

from pydantic import AfterValidator, Field, FilePath, SecretStr, ValidationInfo, field_validator
from pydantic_settings import BaseSettings

from runtime.tls import check_ca_file, check_key_pair

SCHEME = "mysql+asyncmy"


def _asyncmy_url(url: SecretStr) -> SecretStr:
    if not url.get_secret_value().startswith(f"{SCHEME}://"):
        # Never echo the URL: it carries the password.
        raise ValueError(f"must look like {SCHEME}://user:password@host:port/db")
    return url


DatabaseUrl = Annotated[SecretStr, AfterValidator(_asyncmy_url)]
"""A settings field for the database URL: a wrong one is a configuration error at start-up."""

# The key is unencrypted. Empty rather than none: with none, OpenSSL would ask for a password
# on the terminal.
NO_KEY_PASSWORD = ""


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
            check_ca_file(value, "DATABASE_TLS_CA_FILE")
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
            check_key_pair(
                certificate,
                value,
                NO_KEY_PASSWORD,
                refusal="DATABASE_TLS_CERT_FILE and DATABASE_TLS_KEY_FILE do not load together: "
                "not PEM, an encrypted key, or a key of another certificate",
            )
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
            context.load_cert_chain(
                self.database_tls_cert_file, self.database_tls_key_file, NO_KEY_PASSWORD
            )
        return context


class DatabaseSettings(DatabaseTlsSettings):
    """The database a service process works on, its pool and its TLS."""

    database_url: DatabaseUrl
    database_pool_size: int = Field(default=10, ge=1)
