"""The tools' door to Kafka: a topic read to its end without a consumer group, and a producer."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError

from runtime.kafka.access import KafkaAccessError, check_access
from runtime.kafka.client import client_options
from runtime.kafka.settings import KafkaSettings
from tools.ops.errors import NotFoundError, ServiceUnavailableError


@dataclass(frozen=True)
class TopicRecord:
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: tuple[tuple[str, bytes], ...]
    timestamp_ms: int


@contextmanager
def kafka_errors() -> Iterator[None]:
    try:
        yield
    except KafkaAccessError as error:  # its message names Kafka, and says why
        raise ServiceUnavailableError(str(error)) from error
    except KafkaError as error:
        raise ServiceUnavailableError(f"Kafka: {error or type(error).__name__}") from error


async def read_topic(
    connection: KafkaSettings, topic: str, timeout_seconds: float
) -> list[TopicRecord]:
    """Every record of `topic` up to its end now, by partition and offset.

    No consumer group: partitions are assigned, not subscribed, so reading commits nothing
    and moves no one's offsets.
    """
    with kafka_errors():
        await check_access(connection, timeout_seconds=timeout_seconds)
        partitions = [TopicPartition(topic, p) for p in await _partitions(connection, topic)]
        consumer = AIOKafkaConsumer(
            **client_options(connection),
            group_id=None,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
        )
        await consumer.start()
        try:
            consumer.assign(partitions)
            ends = await consumer.end_offsets(partitions)
            await consumer.seek_to_beginning(*partitions)
            records: list[TopicRecord] = []
            async with asyncio.timeout(timeout_seconds):
                while [tp for tp in partitions if await consumer.position(tp) < ends[tp]]:
                    batch = await consumer.getmany(*partitions, timeout_ms=200)
                    for tp, part in batch.items():
                        records += [_record(r) for r in part if r.offset < ends[tp]]
        except TimeoutError:
            raise ServiceUnavailableError(
                f"Kafka: {topic} could not be read to its end within {timeout_seconds:g}s"
            ) from None
        finally:
            await consumer.stop()
    return sorted(records, key=lambda r: (r.partition, r.offset))


@asynccontextmanager
async def producer(connection: KafkaSettings) -> AsyncIterator[AIOKafkaProducer]:
    with kafka_errors():
        await check_access(connection)
        started = AIOKafkaProducer(
            **client_options(connection), acks="all", enable_idempotence=True
        )
        await started.start()
        try:
            yield started
        finally:
            await started.stop()


async def _partitions(connection: KafkaSettings, topic: str) -> list[int]:
    # All topics' metadata: asking for one by name could create it where the broker
    # auto-creates topics.
    admin = AIOKafkaAdminClient(**client_options(connection))
    await admin.start()
    try:
        described = await admin.describe_topics()
    finally:
        await admin.close()
    for found in described:
        if found["topic"] == topic and found["error_code"] == 0:
            return sorted(int(p["partition"]) for p in found["partitions"])
    raise NotFoundError(f"Kafka has no topic {topic}")


def _record(record: Any) -> TopicRecord:  # aiokafka's ConsumerRecord
    return TopicRecord(
        partition=int(record.partition),
        offset=int(record.offset),
        key=record.key,
        value=record.value,
        headers=tuple(record.headers or ()),
        timestamp_ms=int(record.timestamp),
    )
