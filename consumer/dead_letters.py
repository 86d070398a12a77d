"""The dead-letter topic: the original bytes, untouched, with headers that say why."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError

from consumer.errors import EventRejected, TransientError
from observability.tracing import trace_headers
from schemas.topics import (
    HEADER_FAILED_AT,
    HEADER_MESSAGE,
    HEADER_REASON,
    HEADER_SOURCE_OFFSET,
    HEADER_SOURCE_PARTITION,
    HEADER_SOURCE_TOPIC,
)


def dead_letter_headers(record: Any, rejection: EventRejected) -> list[tuple[str, bytes]]:
    return [
        (HEADER_REASON, rejection.reason.encode()),
        (HEADER_MESSAGE, rejection.message.encode()),
        (HEADER_SOURCE_TOPIC, str(record.topic).encode()),
        (HEADER_SOURCE_PARTITION, str(record.partition).encode()),
        (HEADER_SOURCE_OFFSET, str(record.offset).encode()),
        (HEADER_FAILED_AT, datetime.now(UTC).isoformat().encode()),
        *trace_headers(),  # the trace of the record's processing, when tracing is on
    ]


class DeadLetters:
    def __init__(self, producer: AIOKafkaProducer, topic: str) -> None:
        self._producer = producer
        self._topic = topic

    async def publish(self, record: Any, rejection: EventRejected) -> None:
        """Publish and wait for the broker's ack: the source offset is committed only after."""
        try:
            await self._producer.send_and_wait(
                self._topic,
                value=record.value,
                key=record.key,
                headers=dead_letter_headers(record, rejection),
            )
        except KafkaError as error:
            raise TransientError(f"dead-letter publish failed: {type(error).__name__}") from error
