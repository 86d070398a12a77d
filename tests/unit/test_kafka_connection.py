"""The Kafka connection's settings and the client options made from them, without sockets."""

from __future__ import annotations

import os
import ssl
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from pydantic import ValidationError

from consumer.settings import ConsumerSettings
from runtime.kafka.client import client_options
from runtime.kafka.settings import KafkaSettings
from runtime.process import invalid_settings
from tools.devstack.tls import Certificates, ensure_certificates
from tools.ops.settings import OpsSettings
from worker.settings import WorkerSettings

SASL = {
    "kafka_security_protocol": "SASL_SSL",
    "kafka_sasl_mechanism": "SCRAM-SHA-512",
    "kafka_sasl_username": "ordering",
    "kafka_sasl_password": "pw-never-shown",
}


@pytest.fixture(scope="module")
def certificates(tmp_path_factory: pytest.TempPathFactory) -> Certificates:
    return ensure_certificates(tmp_path_factory.mktemp("tls"))


@pytest.fixture(scope="module")
def encrypted_key(certificates: Certificates, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The client certificate's key, encrypted with the password `key-pw`."""
    key = serialization.load_pem_private_key(certificates.client_key_file.read_bytes(), None)
    path = tmp_path_factory.mktemp("encrypted") / "client-key.pem"
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(b"key-pw"),
        )
    )
    return path


@pytest.fixture(autouse=True)
def no_connection_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Only what a test passes counts, not the variables of whoever runs the tests."""
    for name in [n for n in os.environ if n.startswith(("KAFKA_", "DATABASE_", "TEMPORAL_"))]:
        monkeypatch.delenv(name)


def settings(**values: object) -> KafkaSettings:
    return KafkaSettings.model_validate(values)


def refusal(**values: object) -> str:
    with pytest.raises(ValidationError) as refused:
        settings(**values)
    return invalid_settings(refused.value)


def test_plaintext_is_the_default_and_its_options_are_the_bootstrap_servers_alone() -> None:
    options = client_options(settings(kafka_bootstrap_servers="k1:9092,k2:9092"))
    assert options == {"bootstrap_servers": "k1:9092,k2:9092", "security_protocol": "PLAINTEXT"}


def test_sasl_ssl_options_carry_the_mechanism_the_credentials_and_a_verifying_context(
    certificates: Certificates,
) -> None:
    options = client_options(settings(**SASL, kafka_ssl_ca_file=certificates.ca_file))

    assert options["security_protocol"] == "SASL_SSL"
    assert options["sasl_mechanism"] == "SCRAM-SHA-512"
    assert options["sasl_plain_username"] == "ordering"
    assert options["sasl_plain_password"] == "pw-never-shown"
    context = options["ssl_context"]
    assert isinstance(context, ssl.SSLContext)
    assert context.verify_mode == ssl.CERT_REQUIRED
    assert context.check_hostname
    [authority] = context.get_ca_certs()
    assert (("commonName", "ordering-system local stack CA"),) in authority["subject"]


def test_sasl_plaintext_options_have_no_tls_context() -> None:
    options = client_options(settings(**{**SASL, "kafka_security_protocol": "SASL_PLAINTEXT"}))
    assert options["sasl_mechanism"] == "SCRAM-SHA-512"
    assert "ssl_context" not in options


def test_ssl_without_a_ca_file_verifies_against_the_system_roots() -> None:
    context = client_options(settings(kafka_security_protocol="SSL"))["ssl_context"]
    assert context.verify_mode == ssl.CERT_REQUIRED
    assert "sasl_mechanism" not in client_options(settings(kafka_security_protocol="SSL"))


def test_a_client_certificate_with_its_encrypted_key_and_password_loads(
    certificates: Certificates, encrypted_key: Path
) -> None:
    configured = settings(
        kafka_security_protocol="SSL",
        kafka_ssl_cert_file=certificates.client_cert_file,
        kafka_ssl_key_file=encrypted_key,
        kafka_ssl_key_password="key-pw",
    )
    assert isinstance(client_options(configured)["ssl_context"], ssl.SSLContext)


@pytest.mark.parametrize("missing", ["kafka_sasl_mechanism", "kafka_sasl_username"])
def test_a_sasl_protocol_without_its_mechanism_or_username_is_refused_naming_it(
    missing: str,
) -> None:
    line = refusal(**{k: v for k, v in SASL.items() if k != missing})
    assert line == f"{missing} (KAFKA_SECURITY_PROTOCOL=SASL_SSL needs {missing.upper()})"


def test_a_blank_sasl_password_counts_as_none() -> None:
    line = refusal(**{**SASL, "kafka_sasl_password": " "})
    assert (
        line == "kafka_sasl_password (KAFKA_SECURITY_PROTOCOL=SASL_SSL needs KAFKA_SASL_PASSWORD)"
    )


def test_sasl_settings_without_a_sasl_protocol_are_refused_without_showing_the_password() -> None:
    line = refusal(kafka_sasl_username="ordering", kafka_sasl_password="pw-never-shown")
    assert "kafka_sasl_username (KAFKA_SASL_USERNAME needs KAFKA_SECURITY_PROTOCOL=" in line
    assert "kafka_sasl_password (KAFKA_SASL_PASSWORD needs KAFKA_SECURITY_PROTOCOL=" in line
    assert "pw-never-shown" not in line


def test_an_unknown_protocol_or_mechanism_is_refused_listing_the_known_ones() -> None:
    assert "'SASL_SSL'" in refusal(kafka_security_protocol="TLS")
    line = refusal(**{**SASL, "kafka_sasl_mechanism": "GSSAPI"})
    assert line.startswith("kafka_sasl_mechanism (Input should be 'PLAIN', 'SCRAM-SHA-256'")


def test_tls_files_without_a_tls_protocol_are_refused(certificates: Certificates) -> None:
    line = refusal(kafka_security_protocol="SASL_PLAINTEXT", **_sasl_credentials(),
                   kafka_ssl_ca_file=certificates.ca_file)  # fmt: skip
    assert (
        line
        == "kafka_ssl_ca_file (KAFKA_SSL_CA_FILE needs KAFKA_SECURITY_PROTOCOL=SSL or SASL_SSL)"
    )


def test_a_missing_or_unreadable_ca_file_is_refused(tmp_path: Path) -> None:
    assert refusal(kafka_security_protocol="SSL", kafka_ssl_ca_file=tmp_path / "none.pem") == (
        "kafka_ssl_ca_file (Path does not point to a file)"
    )
    not_pem = tmp_path / "ca.pem"
    not_pem.write_text("not a certificate")
    assert refusal(kafka_security_protocol="SSL", kafka_ssl_ca_file=not_pem) == (
        "kafka_ssl_ca_file (KAFKA_SSL_CA_FILE holds no PEM certificate)"
    )


def test_a_client_certificate_and_its_key_go_together(certificates: Certificates) -> None:
    alone = refusal(
        kafka_security_protocol="SSL", kafka_ssl_cert_file=certificates.client_cert_file
    )
    assert alone == "kafka_ssl_key_file (KAFKA_SSL_CERT_FILE and KAFKA_SSL_KEY_FILE go together)"
    key_alone = refusal(
        kafka_security_protocol="SSL", kafka_ssl_key_file=certificates.client_key_file
    )
    assert key_alone.startswith("kafka_ssl_key_file (KAFKA_SSL_CERT_FILE and KAFKA_SSL_KEY_FILE")


def test_a_key_of_another_certificate_or_a_wrong_key_password_is_refused(
    certificates: Certificates, encrypted_key: Path
) -> None:
    pair = {"kafka_security_protocol": "SSL", "kafka_ssl_cert_file": certificates.client_cert_file}
    mismatched = refusal(**pair, kafka_ssl_key_file=certificates.server_key_file)
    wrong_password = refusal(
        **pair, kafka_ssl_key_file=encrypted_key, kafka_ssl_key_password="not-key-pw"
    )
    no_password = refusal(**pair, kafka_ssl_key_file=encrypted_key)
    for line in (mismatched, wrong_password, no_password):
        assert line.startswith("kafka_ssl_key_file (KAFKA_SSL_CERT_FILE and KAFKA_SSL_KEY_FILE do")
    assert "not-key-pw" not in wrong_password


def test_a_key_password_without_a_key_is_refused() -> None:
    assert refusal(kafka_security_protocol="SSL", kafka_ssl_key_password="key-pw") == (
        "kafka_ssl_key_file (KAFKA_SSL_KEY_PASSWORD needs KAFKA_SSL_KEY_FILE)"
    )


@pytest.mark.parametrize("process_settings", [ConsumerSettings, WorkerSettings, OpsSettings])
def test_every_process_checks_the_kafka_database_and_temporal_rules_each(
    process_settings: type[KafkaSettings], certificates: Certificates
) -> None:
    cert = certificates.client_cert_file
    with pytest.raises(ValidationError) as refused:
        process_settings.model_validate(
            {
                "database_url": "mysql+asyncmy://u:p@h:1/d",
                "kafka_security_protocol": "SSL",
                "kafka_ssl_cert_file": cert,
                "database_tls_cert_file": cert,
                "temporal_tls_cert_file": cert,
            }
        )
    fields = {problem["loc"][0] for problem in refused.value.errors()}
    assert fields == {"kafka_ssl_key_file", "database_tls_key_file", "temporal_tls_key_file"}


def _sasl_credentials() -> dict[str, str]:
    return {k: v for k, v in SASL.items() if k != "kafka_security_protocol"}
