"""The bench's load: orders published to Kafka, and their status events read back."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import uuid
from collections import defaultdict
from collections.abc import AsyncIterator, Collection
from datetime import datetime
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from tools.bench.report import Progress

STATUSES = 6  # PENDING … COMPLETED: the events of an order nobody stops


def new_refs(prefix: str, count: int) -> list[str]:
    return [f"{prefix}-{uuid.uuid4().hex[:10]}" for _ in range(count)]


def order_event(ref: str) -> bytes:
    return json.dumps({
        "event_id": str(uuid.uuid4()), "event_type": "OrderPlaced", "schema_version": 1,
        "occurred_at": datetime.now().astimezone().isoformat(),
        "order": {"order_ref": ref, "customer_id": 7, "customer_email": "bench@example.com",
                  "currency": "USD", "total_amount": "24.99",
                  "items": [{"product_id": 1, "quantity": 1, "unit_price": "19.99"},
                            {"product_id": 2, "quantity": 1, "unit_price": "5.00"}],
                  "payment": {"method": "card", "token": "tok_ok"}},
    }).encode()  # fmt: skip


async def publish(
    kafka: dict[str, Any],
    topic: str,
    refs: list[str],
    rate: float | None,
    progress: Progress | None = None,
) -> dict[str, float]:
    """Publish one order per ref, open-loop at `rate` per second (None: as fast as Kafka takes
    them); returns each ref's publish time (epoch seconds)."""
    producer = AIOKafkaProducer(**kafka, linger_ms=5)
    await producer.start()
    sent: dict[str, float] = {}
    acks = []
    began = time.monotonic()
    try:
        for n, ref in enumerate(refs):
            if rate is not None:
                await asyncio.sleep(max(began + n / rate - time.monotonic(), 0))
            sent[ref] = time.time()
            acks.append(await producer.send(topic, order_event(ref), key=ref.encode()))
            if progress is not None:
                progress.advance()
        await asyncio.gather(*acks)
    finally:
        await producer.stop()
    return sent


class StatusReader:
    """Every status event on the topic since it was made: which sequences each order's events
    carried, and when each order entered COMPLETED (its event's `occurred_at`)."""

    def __init__(self, consumer: AIOKafkaConsumer) -> None:
        self.sequences: dict[str, set[int]] = defaultdict(set)
        self.completed: dict[str, float] = {}
        self._arrived = asyncio.Event()
        self._reading = asyncio.create_task(self._read(consumer))

    async def wait_for(self, refs: Collection[str], progress: Progress | None = None) -> None:
        """Until every order of `refs` has completed (a caller bounds the wait)."""
        waiting = set(refs) - set(self.completed)
        while waiting:
            arrival = asyncio.ensure_future(self._arrived.wait())
            await asyncio.wait({arrival, self._reading}, return_when=asyncio.FIRST_COMPLETED)
            if self._reading.done():  # it never ends by itself: it failed
                arrival.cancel()
                self._reading.result()
            self._arrived.clear()
            done = {ref for ref in waiting if ref in self.completed}
            waiting -= done
            if progress is not None and done:
                progress.advance(len(done))

    def missing_events(self, refs: Collection[str]) -> list[str]:
        """The orders whose events are not exactly sequences 1 to 6."""
        return [ref for ref in refs if self.sequences[ref] != set(range(1, STATUSES + 1))]

    async def _read(self, consumer: AIOKafkaConsumer) -> None:
        while True:
            for records in (await consumer.getmany(timeout_ms=200)).values():
                for record in records:
                    event = json.loads(record.value)
                    ref = event["order_ref"]
                    self.sequences[ref].add(event["sequence"])
                    if event["status"] == "COMPLETED":
                        occurred = datetime.fromisoformat(event["occurred_at"]).timestamp()
                        self.completed.setdefault(ref, occurred)
                self._arrived.set()

    async def close(self) -> None:
        self._reading.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._reading


@contextlib.asynccontextmanager
async def status_reader(kafka: dict[str, Any], topic: str) -> AsyncIterator[StatusReader]:
    consumer = AIOKafkaConsumer(topic, **kafka, auto_offset_reset="earliest")
    await consumer.start()
    reader = StatusReader(consumer)
    try:
        yield reader
    finally:
        await reader.close()
        await consumer.stop()
