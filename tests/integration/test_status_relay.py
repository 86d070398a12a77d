"""The status relay on a real MariaDB and a real Kafka: the outbox's rows leave in order and are
deleted; of two relays on one database only one leads."""

from __future__ import annotations

import asyncio
import json
from collections import defaultdict
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

import databases
import pytest_asyncio
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from db.connection import database_for
from db.orders import OrderRepository
from db.outbox import OutboxRow, StatusOutbox
from tests.conftest import Topics
from tests.integration.test_db_orders import new_order
from tests.integration.test_db_outbox import TRACE, a_change
from tests.support.relay_fakes import FakeRelayMetrics
from tests.support.services import Endpoints
from worker.publisher import StatusPublisher
from worker.relay import RelayOptions, StatusRelay

ORDERS = 5
STATUSES = 3


@pytest_asyncio.fixture(loop_scope="session")
async def database(migrated_database_url: str) -> AsyncIterator[databases.Database]:
    database = database_for(migrated_database_url, min_size=4, max_size=4)
    await database.connect()
    yield database
    await database.disconnect()


@asynccontextmanager
async def publisher(endpoints: Endpoints, topic: str) -> AsyncIterator[StatusPublisher]:
    producer = AIOKafkaProducer(
        bootstrap_servers=endpoints.kafka_bootstrap, enable_idempotence=True, acks="all"
    )
    await producer.start()
    try:
        yield StatusPublisher(producer, topic)
    finally:
        await producer.stop()


async def write_statuses(database: databases.Database) -> list[str]:
    """Statuses 1..3 of five orders, interleaved as concurrent orders write them."""
    orders = OrderRepository(database)
    refs = [f"relay-{n}" for n in range(ORDERS)]
    ids = [(await orders.insert_order(new_order(ref))).order_id for ref in refs]
    for sequence in range(1, STATUSES + 1):
        for order_id, ref in zip(ids, refs, strict=True):
            await orders.record_status(a_change(order_id, ref, sequence), TRACE)
    return refs


async def read_topic(endpoints: Endpoints, topic: str, expected: int) -> list[Any]:
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=endpoints.kafka_bootstrap, auto_offset_reset="earliest"
    )
    await consumer.start()
    records: list[Any] = []
    try:
        async with asyncio.timeout(30):
            while len(records) < expected:
                batch = await consumer.getmany(timeout_ms=500)
                records += [r for part in sorted(batch) for r in batch[part]]
        # A duplicate would come after what was expected: read a little longer.
        batch = await consumer.getmany(timeout_ms=1000)
        records += [r for part in batch.values() for r in part]
    finally:
        await consumer.stop()
    return records


def sequences_by_ref(records: list[Any]) -> dict[str, list[int]]:
    """Each order's sequences in the order its partition holds them."""
    found: dict[str, list[int]] = defaultdict(list)
    for record in sorted(records, key=lambda r: (r.partition, r.offset)):
        found[record.key.decode()].append(json.loads(record.value)["sequence"])
    return found


async def outbox_count(database: databases.Database) -> int:
    return int(await database.fetch_val("SELECT COUNT(*) FROM status_outbox"))


async def test_the_relay_sends_the_outbox_in_order_with_its_headers_and_deletes_it(
    database: databases.Database, endpoints: Endpoints, topics: Topics
) -> None:
    refs = await write_statuses(database)
    [written] = await database.fetch_all(
        "SELECT payload FROM status_outbox WHERE message_key = 'relay-0' AND sequence = 1"
    )
    metrics = FakeRelayMetrics()

    async with publisher(endpoints, topics.status) as sender:
        relay = StatusRelay(StatusOutbox(database), sender, metrics, RelayOptions("host/1"))
        relayed = await relay.relay_once()
    records = await read_topic(endpoints, topics.status, ORDERS * STATUSES)

    assert relayed == ORDERS * STATUSES
    assert await outbox_count(database) == 0
    assert sequences_by_ref(records) == {ref: [1, 2, 3] for ref in refs}
    first = next(r for r in records if r.key == b"relay-0" and b'"sequence":1' in r.value)
    assert first.value == str(written._mapping["payload"]).encode()
    assert dict(first.headers) == {"traceparent": TRACE["traceparent"].encode()}
    assert (metrics.relayed, metrics.leading) == (ORDERS * STATUSES, True)


class HeldPublisher:
    """A relay's sender that holds its batch until released, as a slow broker would."""

    def __init__(self, inner: StatusPublisher) -> None:
        self._inner = inner
        self.holding = asyncio.Event()
        self.release = asyncio.Event()

    async def send_all(self, rows: Sequence[OutboxRow]) -> None:
        self.holding.set()
        await self.release.wait()
        await self._inner.send_all(rows)


async def test_of_two_relays_on_one_database_only_the_lease_holder_sends(
    database: databases.Database, endpoints: Endpoints, topics: Topics
) -> None:
    refs = await write_statuses(database)
    first_metrics, second_metrics = FakeRelayMetrics(), FakeRelayMetrics()

    async with (
        publisher(endpoints, topics.status) as first_sender,
        publisher(endpoints, topics.status) as second_sender,
    ):
        held = HeldPublisher(first_sender)
        first = StatusRelay(StatusOutbox(database), held, first_metrics, RelayOptions("host-a/1"))
        second = StatusRelay(
            StatusOutbox(database), second_sender, second_metrics, RelayOptions("host-b/2")
        )
        leading = asyncio.create_task(first.relay_once())
        await held.holding.wait()  # the first relay holds the lease, mid-send
        standing_by = await second.relay_once()
        standby = (second_metrics.leading, second_metrics.oldest)
        held.release.set()
        await leading
        after = await second.relay_once()
    records = await read_topic(endpoints, topics.status, ORDERS * STATUSES)
    holder = await database.fetch_val("SELECT holder FROM outbox_relay_lease")

    assert standing_by == 0
    assert standby[0] is False
    assert standby[1] is not None  # standing by, it still sees the events wait
    assert second_metrics.leading is True  # it leads once the first has committed
    assert after == 0  # nothing left: the first relay sent and deleted everything
    assert holder == "host-b/2"
    assert first_metrics.relayed == ORDERS * STATUSES
    assert len(records) == ORDERS * STATUSES  # each event once: the two never both sent
    assert sequences_by_ref(records) == {ref: [1, 2, 3] for ref in refs}
