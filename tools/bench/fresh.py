"""A database, topics, task queue and consumer group of a stage's own, gone after it."""

from __future__ import annotations

import contextlib
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass

import databases
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from db.migrate import apply_migrations
from tools.bench.kafka import kafka_options
from tools.bench.temporal import connect, terminate_running

# The catalogue every bench order buys from: one of each, 24.99 in all.
PRODUCTS = [(1, "BENCH-1", "Bench mug", "19.99"), (2, "BENCH-2", "Bench tea", "5.00")]


@dataclass(frozen=True)
class Setup:
    env: dict[str, str]  # the processes' environment, naming this stage's own resources
    orders_topic: str
    status_topic: str

    @property
    def database_url(self) -> str:
        return self.env["DATABASE_URL"]

    @property
    def task_queue(self) -> str:
        return self.env["ORDERING_TASK_QUEUE"]


@contextlib.asynccontextmanager
async def fresh_setup(base: dict[str, str], stock: int) -> AsyncIterator[Setup]:
    run = uuid.uuid4().hex[:8]
    server_url = base["DATABASE_URL"]
    server = databases.Database(server_url)
    await server.connect()
    await server.execute(f"CREATE DATABASE bench_{run}")
    url = f"{server_url.rsplit('/', 1)[0]}/bench_{run}"
    await _prepare(url, stock)
    topics = {name: f"bench{run}.{name}" for name in ("orders", "status", "dlq")}
    admin = AIOKafkaAdminClient(**kafka_options(base))
    await admin.start()
    await admin.create_topics([NewTopic(t, 3, 1) for t in topics.values()])
    env = base | {
        "DATABASE_URL": url,
        "ORDERS_TOPIC": topics["orders"],
        "STATUS_TOPIC": topics["status"],
        "DLQ_TOPIC": topics["dlq"],
        "ORDERING_TASK_QUEUE": f"bench-{run}",
        "KAFKA_CONSUMER_GROUP": f"bench-{run}",
    }

    async def clean_up() -> None:
        await terminate_running(await connect(env), env["ORDERING_TASK_QUEUE"])
        await admin.delete_topics(list(topics.values()))
        await admin.close()
        await server.execute(f"DROP DATABASE bench_{run}")
        await server.disconnect()

    try:
        yield Setup(env, topics["orders"], topics["status"])
    except BaseException:
        # The stage's own error is the one to report: a dead server fails the clean-up too.
        with contextlib.suppress(Exception):
            await clean_up()
        raise
    await clean_up()


async def _prepare(url: str, stock: int) -> None:
    database = databases.Database(url)
    await database.connect()
    try:
        await apply_migrations(database)
        # Ids unused by any earlier run, so `order-<id>` never meets an old workflow.
        await database.execute(f"ALTER TABLE orders AUTO_INCREMENT = {time.time_ns() // 1000}")
        await database.execute_many(
            "INSERT INTO products (id, sku, name, price, stock_quantity)"
            " VALUES (:i, :s, :n, :p, :q)",
            [{"i": i, "s": s, "n": n, "p": p, "q": stock} for i, s, n, p in PRODUCTS],
        )
    finally:
        await database.disconnect()
