"""The consumer's configuration, read once from the environment (or a `.env` file)."""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import Field, field_validator
from pydantic_settings import NoDecode

from db.sealing import Sealer
from runtime.crypto import decode_key
from runtime.settings import ServiceSettings
from runtime.telemetry.exporters import MetricsPortNumber
from schemas.topics import DLQ_TOPIC, ORDERS_TOPIC
from schemas.workflow_io import TASK_QUEUE


class ConsumerSettings(ServiceSettings):
    metrics_port: MetricsPortNumber = 8001
    temporal_metrics_port: MetricsPortNumber = 9001

    kafka_consumer_group: str = "ordering-consumer"
    orders_topic: str = ORDERS_TOPIC
    dlq_topic: str = DLQ_TOPIC
    ordering_task_queue: str = TASK_QUEUE

    max_message_bytes: int = Field(default=64 * 1024, ge=1024)
    # ISO 4217 codes, comma-separated; orders in any other currency are dead-lettered.
    accepted_currencies: Annotated[frozenset[str], NoDecode] = frozenset({"USD"})
    max_batch_records: int = Field(default=500, ge=1)
    # Flow control (consumer/flow.py): at this many orders in progress (stored, not yet
    # CONFIRMED or ended, counted in MySQL across every consumer) the consumer pauses its
    # partitions, and resumes once they are down to half. The default keeps one worker
    # process busy with room to spare; see the README on sizing it.
    max_orders_in_progress: int = Field(default=200, ge=2)
    max_concurrency: int = Field(default=32, ge=1)
    retry_initial_seconds: float = Field(default=0.5, gt=0)
    retry_max_seconds: float = Field(default=30.0, gt=0)
    shutdown_timeout_seconds: float = Field(default=20.0, gt=0)
    # With records pending and nothing committed for this long, the consumer exits (code 3)
    # for its supervisor to restart it: a broker restart can leave it alive but stuck.
    watchdog_stall_seconds: float = Field(default=120.0, gt=0)
    # A batch slower than this makes the consumer leave its group (aiokafka's default).
    kafka_max_poll_interval_ms: int = Field(default=300_000, ge=1000)

    # Carried into each workflow's input, so they are part of its recorded history.
    ordering_cancel_window_seconds: float = Field(default=0.0, ge=0)
    ordering_activity_timeout_seconds: float = Field(default=30.0, gt=0)
    ordering_activity_max_attempts: int = Field(default=3, ge=1)
    ordering_outage_tolerance_hours: float = Field(default=24.0, gt=0)
    ordering_activity_initial_interval_seconds: float = Field(default=1.0, gt=0)

    @field_validator("accepted_currencies", mode="before")
    @classmethod
    def _currency_codes(cls, value: object) -> object:
        if not isinstance(value, str):
            return value
        codes = frozenset(code.strip() for code in value.split(",") if code.strip())
        if not codes or any(re.fullmatch(r"[A-Z]{3}", code) is None for code in codes):
            raise ValueError("must be comma-separated three-letter ISO 4217 codes, such as USD,EUR")
        return codes

    def secrets_sealer(self) -> Sealer | None:
        """What seals each order's email and payment token in MySQL: the payload key."""
        key = self.payload_encryption_key
        if key is None:
            return None
        return Sealer(self.payload_encryption_key_id, decode_key(key.get_secret_value()))
