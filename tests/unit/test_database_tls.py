"""MySQL's TLS settings and the context they give the driver, without sockets."""

from __future__ import annotations

import os
import ssl
from pathlib import Path

import pytest
from pydantic import ValidationError

from runtime.mysql import DatabaseTlsSettings
from runtime.process import invalid_settings
from tools.devstack.tls import Certificates, ensure_certificates


@pytest.fixture(scope="module")
def certificates(tmp_path_factory: pytest.TempPathFactory) -> Certificates:
    return ensure_certificates(tmp_path_factory.mktemp("tls"))


@pytest.fixture(autouse=True)
def no_database_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in [n for n in os.environ if n.startswith("DATABASE_TLS")]:
        monkeypatch.delenv(name)


def settings(**values: object) -> DatabaseTlsSettings:
    return DatabaseTlsSettings.model_validate(values)


def test_without_tls_settings_the_connection_is_plain() -> None:
    assert settings().database_ssl_context() is None


def test_database_tls_alone_verifies_the_server_against_the_system_roots() -> None:
    context = settings(database_tls=True).database_ssl_context()
    assert context is not None
    assert context.verify_mode == ssl.CERT_REQUIRED
    assert context.check_hostname


def test_a_ca_file_turns_tls_on_and_is_what_the_server_is_verified_against(
    certificates: Certificates,
) -> None:
    context = settings(database_tls_ca_file=certificates.ca_file).database_ssl_context()
    assert context is not None
    assert context.verify_mode == ssl.CERT_REQUIRED
    [authority] = context.get_ca_certs()
    assert (("commonName", "ordering-system local stack CA"),) in authority["subject"]


def test_a_client_certificate_with_its_key_loads(certificates: Certificates) -> None:
    configured = settings(
        database_tls_ca_file=certificates.ca_file,
        database_tls_cert_file=certificates.client_cert_file,
        database_tls_key_file=certificates.client_key_file,
    )
    assert configured.database_ssl_context() is not None


def test_a_certificate_without_its_key_or_with_another_key_is_refused(
    certificates: Certificates,
) -> None:
    with pytest.raises(ValidationError) as alone:
        settings(database_tls_cert_file=certificates.client_cert_file)
    assert invalid_settings(alone.value) == (
        "database_tls_key_file (DATABASE_TLS_CERT_FILE and DATABASE_TLS_KEY_FILE go together)"
    )
    with pytest.raises(ValidationError) as mismatched:
        settings(
            database_tls_cert_file=certificates.client_cert_file,
            database_tls_key_file=certificates.server_key_file,
        )
    assert "do not load together" in invalid_settings(mismatched.value)


def test_a_ca_file_that_is_not_pem_is_refused(tmp_path: Path) -> None:
    not_pem = tmp_path / "ca.pem"
    not_pem.write_text("not a certificate")
    with pytest.raises(ValidationError) as refused:
        settings(database_tls_ca_file=not_pem)
    assert invalid_settings(refused.value) == (
        "database_tls_ca_file (DATABASE_TLS_CA_FILE holds no PEM certificate)"
    )
