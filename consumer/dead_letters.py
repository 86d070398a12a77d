"""The dead-letter topic: the original bytes, untouched, with headers that say why.

A record the dead-letter topic cannot take must not hold its partition for ever. One too large
to copy (the broker took it upstream, up to its own limit, over the producer's) is
dead-lettered without its value, its size in `dlq.value_omitted`: the headers still say why and
where the original lies. A topic that refuses every record (not authorised, an invalid name)
stops the consumer with a message that names the topic and the setting: retrying could only
loop. Anything else from Kafka is an outage, retried.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from aiokafka import AIOKafkaProducer
from aiokafka.errors import (
    InvalidTopicError,
    KafkaError,
    MessageSizeTooLargeError,
    RecordListTooLargeError,
    RecordTooLargeError,
    TopicAuthorizationFailedError,
)

from consumer.errors import DeadLetterTopicRefusedError, EventRejected, TransientError
from runtime.telemetry.tracing import trace_headers
from schemas.topics import (
    HEADER_FAILED_AT,
    HEADER_MESSAGE,
    HEADER_REASON,
    HEADER_SOURCE_OFFSET,
    HEADER_SOURCE_PARTITION,
    HEADER_SOURCE_TOPIC,
    HEADER_VALUE_OMITTED,
)

_TOO_LARGE = (MessageSizeTooLargeError, RecordTooLargeError, RecordListTooLargeError)
_REFUSED = (TopicAuthorizationFailedError, InvalidTopicError)


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
        headers = dead_letter_headers(record, rejection)
        try:
            await self._send(record.key, record.value, headers)
        except _TOO_LARGE:
            omitted = (HEADER_VALUE_OMITTED, str(len(record.value or b"")).encode())
            try:
                await self._send(record.key, None, [*headers, omitted])
            except _TOO_LARGE as error:
                raise self._refused(error, "even without its value") from error

    async def _send(self, key: bytes | None, value: bytes | None, headers: Any) -> None:
        try:
            await self._producer.send_and_wait(self._topic, value=value, key=key, headers=headers)
        except _TOO_LARGE:
            raise
        except _REFUSED as error:
            raise self._refused(error, "") from error
        except KafkaError as error:
            raise TransientError(f"dead-letter publish failed: {type(error).__name__}") from error

    def _refused(self, error: KafkaError, how: str) -> DeadLetterTopicRefusedError:
        return DeadLetterTopicRefusedError(
            f"the dead-letter topic {self._topic} refuses a record{' ' + how if how else ''}"
            f" ({type(error).__name__}): check DLQ_TOPIC and this consumer's rights to write"
            " to it"
        )
