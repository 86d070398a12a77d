"""The operator tools' configuration: the same environment variables the processes read."""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import NoDecode, SettingsConfigDict

from runtime.kafka.settings import KafkaSettings
from runtime.mysql import DatabaseTlsSettings
from runtime.temporal.settings import TemporalSettings
from schemas.topics import DLQ_TOPIC, ORDERS_TOPIC
from tools.ops.codec_access import HostName

# The Temporal UI of `temporal server start-dev`, of the local stack, and of docker compose.
UI_ORIGINS = ["http://localhost:8233", "http://localhost:18233", "http://localhost:8081"]


class OpsSettings(TemporalSettings, KafkaSettings, DatabaseTlsSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore")

    # Optional here: the dead-letter commands need only Kafka.
    database_url: SecretStr | None = None
    orders_topic: str = ORDERS_TOPIC
    dlq_topic: str = DLQ_TOPIC
    # How long one call may wait: a query no worker answers, a topic read to its end.
    ops_timeout_seconds: float = Field(default=10.0, gt=0)
    # The libraries' logs stay quiet unless asked for: the tool prints its own lines.
    ops_log_level: str = "CRITICAL"
    # The pages allowed to call the codec server from a browser: comma-separated origins.
    codec_cors_origins: Annotated[list[str], NoDecode] = UI_ORIGINS
    # The names the codec server answers to, `name` or `name:port`, comma-separated; empty:
    # localhost and 127.0.0.1 (and --host) with --port.
    codec_allowed_hosts: Annotated[tuple[HostName, ...], NoDecode] = ()
    # Set, the codec server answers only requests with `Authorization: Bearer <token>`.
    codec_auth_token: SecretStr | None = None

    @field_validator("codec_cors_origins", mode="before")
    @classmethod
    def _comma_separated(cls, value: object) -> object:
        if isinstance(value, str):
            return [origin.strip() for origin in value.split(",") if origin.strip()]
        return value

    @field_validator("codec_allowed_hosts", mode="before")
    @classmethod
    def _host_names(cls, value: object) -> object:
        if isinstance(value, str):
            return [HostName.parse(name) for name in value.split(",") if name.strip()]
        return value

    @field_validator("codec_auth_token", mode="before")
    @classmethod
    def _token(cls, value: object) -> object:
        text = value.get_secret_value() if isinstance(value, SecretStr) else value
        if isinstance(text, str) and not text.strip():
            return None  # set but empty, as compose passes an unset variable: no token
        if isinstance(text, str) and not re.fullmatch(r"[\x21-\x7e]{16,}", text):
            raise ValueError(
                "must be 16 or more printable ASCII characters without spaces; make one with"
                " python -c 'import secrets; print(secrets.token_urlsafe(32))'"
            )
        return value
