"""Ingest: how fast the consumer alone turns a backlog into started workflows, no worker running,
against Temporal's bare start rate at the consumer's concurrency."""

from __future__ import annotations

import asyncio
import time
import uuid
from pathlib import Path

import databases
from temporalio.client import Client

from bench.ceiling import order_input
from bench.kafka import kafka_options
from bench.pipeline import fresh_setup, publish, start, stop
from bench.report import Progress
from bench.temporal import terminate_running
from consumer.settings import ConsumerSettings
from consumer.temporal import TemporalOrders

STARTED = "SELECT COUNT(*) FROM orders WHERE temporal_workflow_id IS NOT NULL"


def consumer_concurrency(env: dict[str, str]) -> int:
    """The consumer's `MAX_CONCURRENCY`: how many records it handles at once."""
    default = ConsumerSettings.model_fields["max_concurrency"].default
    return int(env.get("MAX_CONCURRENCY", default))


async def bare_starts_per_second(client: Client, count: int, in_flight: int) -> float:
    """The consumer's own start call (its adapter, its options), `in_flight` at once, straight
    to Temporal: no Kafka, no MySQL, no worker."""
    task_queue = f"bench-bare-{uuid.uuid4().hex[:8]}"
    orders = TemporalOrders(client, task_queue)
    first_id = time.time_ns() // 1000  # ids unused by any earlier run, as in fresh_setup
    progress = Progress("ingest: bare starts", count)
    slots = asyncio.Semaphore(in_flight)

    async def one(n: int) -> None:
        async with slots:
            await orders.start_order(order_input(first_id + n), new=True)
            progress.advance()

    began = time.monotonic()
    try:
        await asyncio.gather(*(one(n) for n in range(count)))
        return count / (time.monotonic() - began)
    finally:
        await terminate_running(client, task_queue)


async def consumer_starts_per_second(base: dict[str, str], count: int, logs: Path) -> float:
    """Publish `count` orders, then start the consumer alone and watch its rows get their
    workflow id: the rate from its first start to its last, leaving out its own start-up."""
    async with fresh_setup(base, stock=count * 2 + 10) as setup:
        refs = [f"i-{uuid.uuid4().hex[:10]}" for _ in range(count)]
        kafka = kafka_options(base)
        await publish(kafka, setup.orders_topic, refs, None, Progress("ingest: backlog", count))
        database = databases.Database(setup.env["DATABASE_URL"])
        await database.connect()
        consumer = start("consumer", setup.env, logs)
        try:
            first, last = await _watch_starts(database, count, within=60 + count / 5)
        finally:
            stop([consumer])
            await database.disconnect()
    (t0, started0), (t1, started1) = first, last
    return (started1 - started0) / (t1 - t0)


async def _watch_starts(
    database: databases.Database, count: int, within: float
) -> tuple[tuple[float, int], tuple[float, int]]:
    """Poll the started count; return the first sample above zero and the one reaching `count`."""
    progress = Progress("ingest: consumer starts", count)
    first: tuple[float, int] | None = None
    async with asyncio.timeout(within):
        while True:
            started = int(await database.fetch_val(STARTED))
            now = time.monotonic()
            progress.advance(started - progress.done)
            if started and first is None:
                first = (now, started)
            if started >= count and first is not None:
                return first, (now, started)
            await asyncio.sleep(0.2)
