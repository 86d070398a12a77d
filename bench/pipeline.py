"""Orders through the whole pipeline: Kafka in, the real consumer and worker, status events out."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import databases
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from bench.cpu import PROJECT_ROOT, CpuCost, CpuMeter, machine_processes
from bench.kafka import kafka_options
from bench.report import Progress
from bench.temporal import connect, terminate_running
from db.migrate import apply_migrations

PRODUCTS = [(1, "BENCH-1", "Bench mug", "19.99"), (2, "BENCH-2", "Bench tea", "5.00")]


@dataclass(frozen=True)
class PipelineRun:
    orders_per_second: float
    latencies_ms: list[float]
    published: list[float]  # epoch seconds, one per order
    completed: list[float]
    cpu: CpuCost  # consumer, worker, the bench, and the local servers


@dataclass(frozen=True)
class Setup:
    env: dict[str, str]
    status_topic: str
    orders_topic: str


@contextlib.asynccontextmanager
async def fresh_setup(base: dict[str, str], stock: int) -> AsyncIterator[Setup]:
    """A database, topics, task queue and consumer group of this run's own."""
    run = uuid.uuid4().hex[:8]
    server_url = base["DATABASE_URL"]
    url = f"{server_url.rsplit('/', 1)[0]}/bench_{run}"
    server = databases.Database(server_url)
    await server.connect()
    await server.execute(f"CREATE DATABASE bench_{run}")
    database = databases.Database(url)
    await database.connect()
    await apply_migrations(database)
    # Ids unused by any earlier run, so `order-<id>` never meets an old workflow.
    await database.execute(f"ALTER TABLE orders AUTO_INCREMENT = {time.time_ns() // 1000}")
    await database.execute_many(
        "INSERT INTO products (id, sku, name, price, stock_quantity) VALUES (:i, :s, :n, :p, :q)",
        [{"i": i, "s": s, "n": n, "p": p, "q": stock} for i, s, n, p in PRODUCTS],
    )
    await database.disconnect()
    topics = {name: f"bench{run}.{name}" for name in ("orders", "status", "dlq")}
    admin = AIOKafkaAdminClient(**kafka_options(base))
    await admin.start()
    await admin.create_topics([NewTopic(t, 3, 1) for t in topics.values()])
    env = {
        **base,
        "DATABASE_URL": url,
        "ORDERS_TOPIC": topics["orders"],
        "STATUS_TOPIC": topics["status"],
        "DLQ_TOPIC": topics["dlq"],
        "ORDERING_TASK_QUEUE": f"bench-{run}",
        "KAFKA_CONSUMER_GROUP": f"bench-{run}",
        "LOG_LEVEL": "WARNING",
        "METRICS_PORT": "0",
        "TEMPORAL_METRICS_PORT": "0",
    }
    try:
        yield Setup(env, topics["status"], topics["orders"])
    finally:
        await terminate_running(await connect(env), env["ORDERING_TASK_QUEUE"])
        await admin.delete_topics(list(topics.values()))
        await admin.close()
        await server.execute(f"DROP DATABASE bench_{run}")
        await server.disconnect()


def start(module: str, env: dict[str, str], logs: Path, *args: str) -> subprocess.Popen[bytes]:
    with (logs / f"{module}.log").open("ab") as log:
        return subprocess.Popen(
            [sys.executable, "-m", module, *args],
            cwd=PROJECT_ROOT, env=env, stdout=log, stderr=log,
        )  # fmt: skip


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


async def completed_times(
    kafka: dict[str, Any], topic: str, refs: set[str], progress: Progress, within: float
) -> dict[str, float]:
    """When each order entered COMPLETED, from its event's `occurred_at`: all of them, or
    those that did within `within` seconds."""
    consumer = AIOKafkaConsumer(topic, **kafka, auto_offset_reset="earliest")
    await consumer.start()
    done: dict[str, float] = {}
    try:
        async with asyncio.timeout(within):
            while len(done) < len(refs):
                for records in (await consumer.getmany(timeout_ms=500)).values():
                    for record in records:
                        event = json.loads(record.value)
                        ref = event["order_ref"]
                        if event["status"] == "COMPLETED" and ref in refs and ref not in done:
                            done[ref] = datetime.fromisoformat(event["occurred_at"]).timestamp()
                            progress.advance()
    except TimeoutError:
        progress.close()
    finally:
        await consumer.stop()
    return done


async def run_pipeline(
    base: dict[str, str], count: int, rate: float | None, stage: str, logs: Path
) -> PipelineRun:
    async with fresh_setup(base, stock=count * 2 + 10) as setup:
        processes = {m: start(m, setup.env, logs) for m in ("worker", "consumer")}
        meter = CpuMeter(machine_processes(processes))
        try:
            refs = [f"b-{uuid.uuid4().hex[:10]}" for _ in range(count)]
            progress = Progress(stage, count)
            watcher = asyncio.create_task(
                completed_times(
                    kafka_options(base), setup.status_topic, set(refs), progress,
                    within=60 + count / 2,
                )
            )  # fmt: skip
            sent = await publish(kafka_options(base), setup.orders_topic, refs, rate)
            done = await watcher
            cpu = meter.cost(count)
        finally:
            stop(list(processes.values()))
    if len(done) < count:
        raise RuntimeError(f"{stage}: {count - len(done)} of {count} orders never completed")
    published, completed = [sent[ref] for ref in refs], [done[ref] for ref in refs]
    latencies = [(end - begin) * 1000 for begin, end in zip(published, completed, strict=True)]
    return PipelineRun(
        count / (max(completed) - min(published)), latencies, published, completed, cpu
    )


def stop(processes: list[subprocess.Popen[bytes]]) -> None:
    for process in processes:
        process.terminate()
    for process in processes:
        process.wait(timeout=60)


def stack_env() -> dict[str, str]:
    names = ("KAFKA_BOOTSTRAP_SERVERS", "DATABASE_URL", "TEMPORAL_ADDRESS", "TEMPORAL_NAMESPACE")
    missing = [name for name in names[:3] if not os.environ.get(name)]
    if missing:
        raise SystemExit(f"bench: {', '.join(missing)} not set; run it with `make bench`")
    return {**os.environ, **{n: os.environ[n] for n in names if n in os.environ}}
