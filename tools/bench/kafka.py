"""The bench's own Kafka clients connect as the consumer's and the worker's do."""

from __future__ import annotations

from typing import Any

from runtime.kafka.client import client_options
from runtime.kafka.settings import KafkaSettings


def kafka_options(env: dict[str, str]) -> dict[str, Any]:
    """The client options of the Kafka settings named in `env` (the bench's environment, with
    the stack's bootstrap servers): its TLS and SASL too, when the processes have them."""
    named = {name: env[name.upper()] for name in KafkaSettings.model_fields if name.upper() in env}
    return client_options(KafkaSettings.model_validate(named))
