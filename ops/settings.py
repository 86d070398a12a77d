"""The operator tools' configuration: the same environment variables the processes read."""

from __future__ import annotations

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from schemas.topics import DLQ_TOPIC, ORDERS_TOPIC


class OpsSettings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore")

    # Optional here: the dead-letter commands need only Kafka.
    database_url: SecretStr | None = None
    temporal_address: str = "localhost:7233"
    temporal_namespace: str = "ordering-system"
    kafka_bootstrap_servers: str = "localhost:9092"
    orders_topic: str = ORDERS_TOPIC
    dlq_topic: str = DLQ_TOPIC
    # How long one call may wait: a query no worker answers, a topic read to its end.
    ops_timeout_seconds: float = Field(default=10.0, gt=0)
    # The libraries' logs stay quiet unless asked for: the tool prints its own lines.
    ops_log_level: str = "CRITICAL"
