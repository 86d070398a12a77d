"""One pipeline per test: its own topics, database, task queue and consumer group."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import databases
import pytest_asyncio
from aiokafka import AIOKafkaConsumer
from temporalio.client import Client

from tests.conftest import Topics
from tests.support.harness import Processes, Publisher, StatusEvents, process_env
from tests.support.services import Endpoints

CATALOGUE = [
    # id, sku, name, price, stock
    (1, "MUG-01", "Mug", "19.99", 1000),
    (2, "TEA-02", "Tea", "5.00", 1000),
    (7, "LAMP-07", "Lamp", "49.00", 10),
]


async def dead_letters(bootstrap: str, topic: str, expected: int, within: float = 60) -> list[Any]:
    """The records of a dead-letter topic, from its start, once `expected` are there."""
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest")
    await consumer.start()
    records: list[Any] = []
    try:
        async with asyncio.timeout(within):
            while len(records) < expected:
                batch = await consumer.getmany(timeout_ms=500)
                records += [r for part in batch.values() for r in part]
        # Anything beyond what was expected is a defect too: read a little longer.
        batch = await consumer.getmany(timeout_ms=1000)
        records += [r for part in batch.values() for r in part]
    finally:
        await consumer.stop()
    return records


@dataclass
class Pipeline:
    endpoints: Endpoints
    topics: Topics
    database: databases.Database
    temporal: Client
    processes: Processes
    statuses: StatusEvents
    publish: Publisher

    async def order_row(self, ref: str) -> dict[str, Any] | None:
        row = await self.database.fetch_one("SELECT * FROM orders WHERE order_ref = :r", {"r": ref})
        return dict(row._mapping) if row is not None else None

    async def count(self, sql: str, values: dict[str, Any] | None = None) -> int:
        return int(await self.database.fetch_val(sql, values or {}))

    async def stock(self, product_id: int) -> int:
        return await self.count(
            "SELECT stock_quantity FROM products WHERE id = :p", {"p": product_id}
        )

    async def dead_letters(self, expected: int, within: float = 60) -> list[Any]:
        return await dead_letters(self.endpoints.kafka_bootstrap, self.topics.dlq, expected, within)

    async def search(self, query: str, expected: int, within: float = 30) -> int:
        """How many workflows a Temporal UI search finds, once it finds `expected` or time is up
        (visibility is updated a moment after the workflow)."""
        found = -1
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(within):
                while True:
                    found = (await self.temporal.count_workflows(query)).count
                    if found == expected:
                        break
                    await asyncio.sleep(0.2)
        return found

    async def workflow_runs(self, workflow_id: str) -> int:
        count = 0
        async for _ in self.temporal.list_workflows(f"WorkflowId = '{workflow_id}'"):
            count += 1
        return count


@pytest_asyncio.fixture(loop_scope="session")
async def pipeline(
    endpoints: Endpoints,
    topics: Topics,
    migrated_database_url: str,
    temporal_client: Client,
    tmp_path: Path,
) -> AsyncIterator[Pipeline]:
    database = databases.Database(migrated_database_url)
    await database.connect()
    await database.execute_many(
        "INSERT INTO products (id, sku, name, price, stock_quantity) "
        "VALUES (:id, :sku, :name, :price, :stock)",
        [dict(zip(("id", "sku", "name", "price", "stock"), row, strict=True)) for row in CATALOGUE],
    )
    env = process_env(
        {},
        KAFKA_BOOTSTRAP_SERVERS=endpoints.kafka_bootstrap,
        DATABASE_URL=migrated_database_url,
        TEMPORAL_ADDRESS=endpoints.temporal_address,
        TEMPORAL_NAMESPACE=endpoints.namespace,
        ORDERS_TOPIC=topics.orders,
        STATUS_TOPIC=topics.status,
        DLQ_TOPIC=topics.dlq,
        ORDERING_TASK_QUEUE=f"e2e-{uuid.uuid4().hex[:10]}",
        KAFKA_CONSUMER_GROUP=f"e2e-{uuid.uuid4().hex[:10]}",
        ORDERING_ACTIVITY_INITIAL_INTERVAL_SECONDS="0.2",
        LOG_FORMAT="text",  # the tests read the processes' lines as a person would
        GRACEFUL_SHUTDOWN_SECONDS="10",
        STICKY_QUEUE_TIMEOUT_SECONDS="2",
        RETRY_INITIAL_SECONDS="0.2",
        RETRY_MAX_SECONDS="2",
    )
    statuses = StatusEvents()
    follower = asyncio.create_task(statuses.follow(endpoints.kafka_bootstrap, topics.status))
    publisher = Publisher(endpoints.kafka_bootstrap, topics.orders)
    await publisher.start()
    processes = Processes(env, tmp_path)
    try:
        yield Pipeline(endpoints, topics, database, temporal_client, processes, statuses, publisher)
    finally:
        processes.stop_all()
        await publisher.stop()
        follower.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await follower
        await database.disconnect()
