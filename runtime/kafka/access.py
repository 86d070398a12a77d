"""Whether Kafka lets this process in, asked once before any client starts, and why not.

aiokafka's clients report a broker that refuses them as "Unable to bootstrap", the reason (a
wrong password, a certificate that does not verify) only in a log line of their own, and leave
the clients a process made before them unclosed. One connection of the same kind, opened
first, fails with the reason in hand.
"""

from __future__ import annotations

import asyncio
import ssl

from aiokafka.conn import collect_hosts, create_conn
from aiokafka.errors import (
    IllegalSaslStateError,
    KafkaConnectionError,
    KafkaError,
    SaslAuthenticationFailed,
    UnsupportedSaslMechanismError,
)

from runtime.kafka.client import client_options
from runtime.kafka.settings import KafkaSettings


class KafkaAccessError(KafkaConnectionError):  # type: ignore[misc]
    """No bootstrap server could be reached, or each refused this process; the message says
    which and why, never with a secret in it. A `KafkaError`, as aiokafka's own."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else "Kafka cannot be reached"


async def check_access(settings: KafkaSettings, *, timeout_seconds: float = 30.0) -> None:
    """Connect and authenticate to a bootstrap server as the process's clients will;
    `KafkaAccessError` when none lets this process in."""
    options = client_options(settings)
    del options["bootstrap_servers"]
    refusals: list[str] = []
    for host, port, _ in collect_hosts(settings.kafka_bootstrap_servers, randomize=False):
        try:
            connection = await create_conn(
                host, port, request_timeout_ms=int(timeout_seconds * 1000), **options
            )
        except (OSError, KafkaError, TimeoutError, ValueError) as error:
            refusals.append(f"{host}:{port} {why_refused(error, settings)}")
            continue
        connection.close()
        return
    raise KafkaAccessError(f"Kafka at {'; '.join(refusals)}")


def why_refused(error: BaseException, settings: KafkaSettings) -> str:
    """The reason in words, naming the settings to look at."""
    mechanism = settings.kafka_sasl_mechanism
    if isinstance(error, SaslAuthenticationFailed):
        return (
            f"refused the credentials of KAFKA_SASL_USERNAME={settings.kafka_sasl_username} "
            f"({mechanism}): check KAFKA_SASL_PASSWORD"
        )
    if isinstance(error, UnsupportedSaslMechanismError):
        return f"does not offer KAFKA_SASL_MECHANISM={mechanism} on this listener"
    if isinstance(error, ssl.SSLCertVerificationError):
        return (
            f"presented a certificate that does not verify ({error.verify_message}): "
            "check KAFKA_SSL_CA_FILE and the host name in KAFKA_BOOTSTRAP_SERVERS"
        )
    if isinstance(error, ssl.SSLError):
        return f"failed the TLS handshake ({error.reason}): is it a TLS listener?"
    if isinstance(error, TimeoutError):
        return f"did not answer in time: {_protocol_hint(settings)}"
    if isinstance(error, ConnectionRefusedError):
        return f"cannot be reached: {error.strerror or error}"
    if isinstance(error, ConnectionError | asyncio.IncompleteReadError | KafkaConnectionError):
        return f"closed the connection ({type(error).__name__}): {_protocol_hint(settings)}"
    if isinstance(error, IllegalSaslStateError):
        return f"does not speak SASL there: {_protocol_hint(settings)}"
    if isinstance(error, OSError):
        return f"cannot be reached: {error.strerror or error}"
    return f"refused this process: {error}"


def _protocol_hint(settings: KafkaSettings) -> str:
    return f"does that listener speak KAFKA_SECURITY_PROTOCOL={settings.kafka_security_protocol}?"
