"""MySQL over TLS against the local stack's MariaDB: the server verified against the stack's CA,
the session encrypted, an untrusted server refused in one clear error, migrations over TLS."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from db.connection import open_database
from db.errors import DatabaseUnavailableError
from runtime.mysql import DatabaseTlsSettings
from tests.support.harness import process_env
from tests.support.services import PROJECT_ROOT, SecuredEndpoints
from tools.devstack.tls import Authority, certificate_pem


def tls(**values: object) -> DatabaseTlsSettings:
    return DatabaseTlsSettings.model_validate(values)


def as_tls_only_user(secured: SecuredEndpoints, database_url: str) -> str:
    """`database_url`'s database, reached as the user that may connect over TLS only."""
    return f"{secured.tls_only_database_url.rsplit('/', 1)[0]}/{database_url.rsplit('/', 1)[1]}"


async def session_cipher(url: str, settings: DatabaseTlsSettings) -> str:
    database = await open_database(url, max_size=1, tls=settings.database_ssl_context())
    try:
        row = await database.fetch_one("SHOW SESSION STATUS LIKE 'Ssl_cipher'")
    finally:
        await database.disconnect()
    assert row is not None
    return str(row._mapping["Value"])


async def test_a_connection_verified_against_the_stacks_ca_is_encrypted(
    secured: SecuredEndpoints, database_url: str
) -> None:
    assert await session_cipher(database_url, tls(database_tls_ca_file=secured.ca_file)) != ""
    # The same server in the clear, so the check above can tell the difference.
    assert await session_cipher(database_url, tls()) == ""


async def test_a_client_certificate_of_the_ca_is_accepted(
    secured: SecuredEndpoints, database_url: str
) -> None:
    settings = tls(
        database_tls_ca_file=secured.ca_file,
        database_tls_cert_file=secured.client_cert_file,
        database_tls_key_file=secured.client_key_file,
    )
    assert await session_cipher(database_url, settings) != ""


async def test_the_tls_only_user_gets_in_over_tls_and_is_refused_in_the_clear(
    secured: SecuredEndpoints, database_url: str
) -> None:
    url = as_tls_only_user(secured, database_url)
    assert await session_cipher(url, tls(database_tls_ca_file=secured.ca_file)) != ""
    with pytest.raises(DatabaseUnavailableError, match="Access denied"):
        await session_cipher(url, tls())


async def test_a_server_whose_certificate_another_ca_signed_is_refused_clearly(
    secured: SecuredEndpoints, database_url: str, tmp_path: Path
) -> None:
    other_ca = tmp_path / "other-ca.pem"
    other_ca.write_bytes(certificate_pem(Authority.create("some other CA").certificate))

    with pytest.raises(DatabaseUnavailableError) as refused:
        await session_cipher(database_url, tls(database_tls_ca_file=other_ca))

    assert "certificate verify failed" in str(refused.value)
    assert "\n" not in str(refused.value)


def test_migrations_run_over_tls_as_the_tls_only_user(
    secured: SecuredEndpoints, database_url: str
) -> None:
    env = process_env(
        {},
        DATABASE_URL=as_tls_only_user(secured, database_url),
        DATABASE_TLS_CA_FILE=secured.ca_file,
    )
    migrate = [sys.executable, "-m", "db", "migrate"]
    over_tls = subprocess.run(
        migrate, cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=60, check=False
    )
    in_the_clear = subprocess.run(
        migrate, cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=60, check=False,
        env={k: v for k, v in env.items() if k != "DATABASE_TLS_CA_FILE"},
    )  # fmt: skip

    assert over_tls.returncode == 0, over_tls.stderr
    assert "applied 0001_" in over_tls.stdout
    assert in_the_clear.returncode == 2
    assert "Access denied" in in_the_clear.stderr
