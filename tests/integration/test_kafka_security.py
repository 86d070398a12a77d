"""Kafka over SASL_SSL and SASL_PLAINTEXT through the project's own client options, against
the local stack's listeners: PLAIN and SCRAM get in; a wrong password, an untrusted CA or the
wrong protocol is refused, with one line saying which."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.errors import KafkaConnectionError

from runtime.kafka.access import KafkaAccessError, check_access
from runtime.kafka.client import client_options
from runtime.kafka.settings import KafkaSettings
from tests.conftest import Topics
from tests.support.harness import process_env, run_ops
from tests.support.services import SecuredEndpoints
from tools.devstack.tls import Authority, certificate_pem


def kafka_settings(
    secured: SecuredEndpoints,
    protocol: str = "SASL_SSL",
    mechanism: str = "SCRAM-SHA-256",
    **overrides: object,
) -> KafkaSettings:
    bootstrap = secured.kafka_sasl_ssl if protocol == "SASL_SSL" else secured.kafka_sasl_plaintext
    values: dict[str, object] = {
        "kafka_bootstrap_servers": bootstrap,
        "kafka_security_protocol": protocol,
        "kafka_sasl_mechanism": mechanism,
        "kafka_sasl_username": secured.kafka_username,
        "kafka_sasl_password": secured.kafka_password,
    }
    if protocol == "SASL_SSL":
        values["kafka_ssl_ca_file"] = secured.ca_file
    return KafkaSettings.model_validate({**values, **overrides})


@pytest.fixture
def untrusted_ca(tmp_path: Path) -> Path:
    """A CA the stack's certificates do not come from."""
    path = tmp_path / "other-ca.pem"
    path.write_bytes(certificate_pem(Authority.create("some other CA").certificate))
    return path


async def round_trip(settings: KafkaSettings, topic: str, value: bytes) -> bytes:
    """Produce `value` and read it back, both through clients made from `settings`."""
    producer = AIOKafkaProducer(**client_options(settings), acks="all")
    await producer.start()
    try:
        sent = await producer.send_and_wait(topic, value, key=b"secured")
    finally:
        await producer.stop()
    consumer = AIOKafkaConsumer(
        **client_options(settings), group_id=None, auto_offset_reset="earliest"
    )
    await consumer.start()
    try:
        consumer.subscribe([topic])
        async with asyncio.timeout(30):
            while True:
                batch = await consumer.getmany(timeout_ms=500)
                for record in (r for records in batch.values() for r in records):
                    if (record.partition, record.offset) == (sent.partition, sent.offset):
                        return bytes(record.value)
    finally:
        await consumer.stop()


@pytest.mark.parametrize(
    ("protocol", "mechanism"),
    [
        ("SASL_SSL", "PLAIN"),
        ("SASL_SSL", "SCRAM-SHA-256"),
        ("SASL_SSL", "SCRAM-SHA-512"),
        ("SASL_PLAINTEXT", "SCRAM-SHA-512"),
    ],
)
async def test_a_record_goes_through_a_secured_listener_and_back(
    secured: SecuredEndpoints, topics: Topics, protocol: str, mechanism: str
) -> None:
    settings = kafka_settings(secured, protocol, mechanism)
    await check_access(settings)
    value = f"{protocol} {mechanism}".encode()
    assert await round_trip(settings, topics.orders, value) == value


async def test_a_client_certificate_signed_by_the_ca_is_accepted_beside_sasl(
    secured: SecuredEndpoints, topics: Topics
) -> None:
    settings = kafka_settings(
        secured,
        kafka_ssl_cert_file=secured.client_cert_file,
        kafka_ssl_key_file=secured.client_key_file,
    )
    assert await round_trip(settings, topics.orders, b"mutual") == b"mutual"


async def test_a_wrong_password_is_refused_saying_so_without_the_password(
    secured: SecuredEndpoints,
) -> None:
    settings = kafka_settings(secured, kafka_sasl_password="not-the-password-4711")

    with pytest.raises(KafkaAccessError) as refused:
        await check_access(settings, timeout_seconds=10)

    assert str(refused.value) == (
        f"Kafka at {secured.kafka_sasl_ssl} refused the credentials of "
        f"KAFKA_SASL_USERNAME={secured.kafka_username} (SCRAM-SHA-256): check KAFKA_SASL_PASSWORD"
    )
    # The broker refuses the clients themselves, not just the check.
    await assert_client_refused(settings)


async def test_a_client_that_does_not_trust_the_stacks_ca_is_refused(
    secured: SecuredEndpoints, untrusted_ca: Path
) -> None:
    settings = kafka_settings(secured, "SASL_SSL", "PLAIN", kafka_ssl_ca_file=untrusted_ca)

    with pytest.raises(KafkaAccessError) as refused:
        await check_access(settings, timeout_seconds=10)

    assert str(refused.value).startswith(
        f"Kafka at {secured.kafka_sasl_ssl} presented a certificate that does not verify"
    )
    assert "check KAFKA_SSL_CA_FILE" in str(refused.value)
    await assert_client_refused(settings)


async def test_a_plaintext_client_on_the_sasl_ssl_listener_is_told_to_check_the_protocol(
    secured: SecuredEndpoints,
) -> None:
    plaintext = KafkaSettings.model_validate({"kafka_bootstrap_servers": secured.kafka_sasl_ssl})
    with pytest.raises(KafkaAccessError, match="KAFKA_SECURITY_PROTOCOL=PLAINTEXT"):
        await check_access(plaintext, timeout_seconds=10)


async def assert_client_refused(settings: KafkaSettings) -> None:
    producer = AIOKafkaProducer(**client_options(settings), request_timeout_ms=10_000)
    try:
        with pytest.raises(KafkaConnectionError):
            await producer.start()
    finally:
        await producer.stop()


async def test_ops_reads_dead_letters_over_sasl_ssl_and_says_why_a_password_is_refused(
    secured: SecuredEndpoints, topics: Topics
) -> None:
    env = process_env(
        {},
        KAFKA_BOOTSTRAP_SERVERS=secured.kafka_sasl_ssl,
        KAFKA_SECURITY_PROTOCOL="SASL_SSL",
        KAFKA_SASL_MECHANISM="SCRAM-SHA-512",
        KAFKA_SASL_USERNAME=secured.kafka_username,
        KAFKA_SASL_PASSWORD=secured.kafka_password,
        KAFKA_SSL_CA_FILE=secured.ca_file,
        DLQ_TOPIC=topics.dlq,
    )
    listed = await run_ops(env, "dead-letters", "list")
    wrong = {**env, "KAFKA_SASL_PASSWORD": "not-the-password-4711"}
    refused = await run_ops(wrong, "dead-letters", "list")

    assert (listed.code, listed.out.strip()) == (0, f"{topics.dlq}: 0 dead letter(s)")
    assert refused.code == 2
    assert refused.err == (
        f"ops: Kafka at {secured.kafka_sasl_ssl} refused the credentials of "
        f"KAFKA_SASL_USERNAME={secured.kafka_username} (SCRAM-SHA-512): "
        "check KAFKA_SASL_PASSWORD\n"
    )
