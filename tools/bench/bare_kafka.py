"""`python -m tools.bench.bare_kafka <count>`: the floor's Kafka part, one order's records, bare.

Each order's `OrderPlaced` record and its six `OrderStatusChanged` events produced once (with
the processes' producer settings: idempotent, every replica's ack) and consumed once, keyed
by order as the processes key them; records of real size, built before the measured part.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from datetime import UTC, datetime
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from runtime.exit import exit_now
from schemas.order import OrderStatus
from tools.bench.bare import WARM_UP, say, wait_for_release
from tools.bench.kafka import kafka_options
from tools.bench.orders import STATUSES, order_event

Records = list[tuple[str, bytes, bytes]]  # (topic, key, value)


def status_event(ref: str, sequence: int) -> bytes:
    statuses = list(OrderStatus)
    return json.dumps({
        "event_id": f"order-1:{sequence}", "event_type": "OrderStatusChanged",
        "schema_version": 1, "occurred_at": datetime.now(UTC).isoformat(), "order_id": 1,
        "order_ref": ref, "workflow_id": "order-1", "sequence": sequence,
        "previous_status": statuses[sequence - 2].value if sequence > 1 else None,
        "status": statuses[sequence - 1].value, "reason": None,
    }).encode()  # fmt: skip


def records(prefix: str, count: int, env: dict[str, str]) -> Records:
    made: Records = []
    for n in range(count):
        ref = f"{prefix}-{n}"
        made.append((env["ORDERS_TOPIC"], ref.encode(), order_event(ref)))
        for sequence in range(1, STATUSES + 1):
            made.append((env["STATUS_TOPIC"], ref.encode(), status_event(ref, sequence)))
    return made


class Bare:
    """One producer and one consumer reading back both topics from their start."""

    def __init__(self, producer: AIOKafkaProducer, consumer: AIOKafkaConsumer) -> None:
        self._producer = producer
        self._consumer = consumer
        self._consumed = 0

    async def produce_and_consume(self, batch: Records) -> None:
        """Send every record (batched, as a busy producer's are), then read them all back."""
        acks = [await self._producer.send(topic, value, key=key) for topic, key, value in batch]
        await asyncio.gather(*acks)
        target = self._consumed + len(batch)
        while self._consumed < target:
            for partition in (await self._consumer.getmany(timeout_ms=200)).values():
                self._consumed += len(partition)


async def main(count: int) -> int:
    env = dict(os.environ)
    kafka: dict[str, Any] = kafka_options(env)
    warm, measured = records("warm", WARM_UP, env), records("bare", count, env)
    producer = AIOKafkaProducer(**kafka, enable_idempotence=True, acks="all")
    consumer = AIOKafkaConsumer(
        env["ORDERS_TOPIC"], env["STATUS_TOPIC"], **kafka, auto_offset_reset="earliest"
    )
    await producer.start()
    await consumer.start()
    bare = Bare(producer, consumer)
    await bare.produce_and_consume(warm)
    say("ready")
    await bare.produce_and_consume(measured)
    say("done")
    await consumer.stop()
    await producer.stop()
    wait_for_release()
    return 0


if __name__ == "__main__":
    exit_now(asyncio.run(main(int(sys.argv[1]))))
