"""What the consumer and the worker both read from their environment: how they reach Kafka,
Temporal and MySQL, how they are watched and how they log. Each process's settings add its own.
"""

from __future__ import annotations

import os
from typing import Literal, Self

from pydantic_settings import SettingsConfigDict

from runtime.kafka.settings import KafkaSettings
from runtime.mysql import DatabaseSettings
from runtime.telemetry.exporters import MetricsSettings
from runtime.telemetry.tracing import TracingSettings
from runtime.temporal.settings import TemporalSettings


class ServiceSettings(
    TemporalSettings, KafkaSettings, DatabaseSettings, TracingSettings, MetricsSettings
):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore")

    log_level: str = "INFO"
    log_format: Literal["text", "json"] = "json"

    @classmethod
    def load(cls) -> Self:
        """From the environment, `.env`, and the files of SECRETS_DIR (one per setting, as
        Docker and Kubernetes mount secrets); a variable set in the environment wins."""
        return cls(_secrets_dir=os.environ.get("SECRETS_DIR"))
