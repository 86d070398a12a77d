"""The aiokafka options of the configured connection, for every client a process makes."""

from __future__ import annotations

import ssl
from typing import Any

from aiokafka.helpers import create_ssl_context

from runtime.kafka.settings import KafkaSettings


def client_options(settings: KafkaSettings) -> dict[str, Any]:
    """Where Kafka is and how to talk to it, as keyword arguments of `AIOKafkaProducer`,
    `AIOKafkaConsumer` and `AIOKafkaAdminClient` alike:
    `AIOKafkaProducer(**client_options(settings), acks="all")`."""
    options: dict[str, Any] = {
        "bootstrap_servers": settings.kafka_bootstrap_servers,
        "security_protocol": settings.kafka_security_protocol,
    }
    if settings.kafka_sasl_on:
        password = settings.kafka_sasl_password
        options |= {
            "sasl_mechanism": settings.kafka_sasl_mechanism,
            "sasl_plain_username": settings.kafka_sasl_username,
            "sasl_plain_password": None if password is None else password.get_secret_value(),
        }
    if settings.kafka_tls_on:
        options["ssl_context"] = ssl_context(settings)
    return options


def ssl_context(settings: KafkaSettings) -> ssl.SSLContext:
    """A context that verifies the brokers' certificates and host names, against the CA file
    or the system's roots, and presents the client certificate when one is configured."""
    key_password = settings.kafka_ssl_key_password
    context: ssl.SSLContext = create_ssl_context(
        cafile=settings.kafka_ssl_ca_file,
        certfile=settings.kafka_ssl_cert_file,
        keyfile=settings.kafka_ssl_key_file,
        # Empty rather than none: with none, OpenSSL asks for an encrypted key's password on
        # the terminal.
        password="" if key_password is None else key_password.get_secret_value(),
    )
    return context
