"""`python -m consumer`: the composition root that wires Kafka, MySQL and Temporal together."""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import TypeVar

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError
from prometheus_client import REGISTRY
from temporalio.service import RPCError

from consumer.coalescing import CoalescedOrderStore
from consumer.dead_letters import DeadLetters
from consumer.errors import (
    ConsumerStalledError,
    DeadLetterTopicRefusedError,
    WorkflowIdTakenError,
)
from consumer.flow import FlowControl
from consumer.handlers import OrderEventHandler, OrderStore, OrderWorkflows, WorkflowOptions
from consumer.metrics import ConsumerMetrics
from consumer.runner import Backoff, BatchGate, ConsumeLoop, RecordSource
from consumer.settings import ConsumerSettings
from consumer.sweeper import Sweeper, beside
from consumer.temporal import TemporalOrders
from consumer.watchdog import (
    EXIT_STALLED,
    ProgressWatchdog,
    WatchedConsumer,
    run_watched,
    watch,
)
from db.connection import open_database
from db.errors import DatabaseUnavailableError
from db.orders import OrderRepository
from runtime.exit import exit_now
from runtime.kafka.access import check_access as check_kafka_access
from runtime.kafka.client import client_options as kafka_client_options
from runtime.kafka.topics import check_topics
from runtime.process import run_service
from runtime.telemetry.exporters import open_observability
from runtime.telemetry.readiness import Probe
from runtime.telemetry.tracing import start_tracing
from runtime.temporal.client import connect as connect_temporal

log = logging.getLogger("consumer")

Port = TypeVar("Port")


def unwrapped(port: Port) -> Port:
    return port


@dataclass(frozen=True)
class PortWrappers:
    """Decorators put around the ports of the handler and of the consume loop as they are
    wired. A deployment has none; the fault suite's entry point
    (`tests.support.faulty_consumer`) brings ones that crash or slow the consumer at a step."""

    store: Callable[[OrderStore], OrderStore] = unwrapped
    workflows: Callable[[OrderWorkflows], OrderWorkflows] = unwrapped
    consumer: Callable[[RecordSource], RecordSource] = unwrapped


UNWRAPPED = PortWrappers()


async def serve(
    settings: ConsumerSettings, stop: asyncio.Event, *, wrappers: PortWrappers = UNWRAPPED
) -> None:
    metrics = ConsumerMetrics(REGISTRY)
    # The ports first: one set on purpose but taken stops the consumer before it joins its
    # group (and makes the group rebalance twice for nothing).
    watched = await open_observability(settings, REGISTRY)
    database = await open_database(
        settings.database_url.get_secret_value(),
        max_size=settings.database_pool_size,
        tls=settings.database_ssl_context(),
    )
    tracing = start_tracing(settings, "consumer")
    client = await connect_temporal(
        settings, runtime=watched.runtime, interceptors=tracing.interceptors
    )
    await check_kafka_access(settings)  # a refusal's reason, before any client is made
    producer = AIOKafkaProducer(
        **kafka_client_options(settings), enable_idempotence=True, acks="all"
    )
    gate = BatchGate(timeout=settings.shutdown_timeout_seconds)
    # Its commits feed the watchdog, which ends a consumer left alive but stuck (aiokafka#1154).
    watchdog = ProgressWatchdog(settings.watchdog_stall_seconds)
    consumer = WatchedConsumer(
        watchdog,
        **kafka_client_options(settings),
        group_id=settings.kafka_consumer_group,
        enable_auto_commit=False,  # an offset is committed only once its work is durable
        auto_offset_reset="earliest",
        max_poll_interval_ms=settings.kafka_max_poll_interval_ms,
        max_partition_fetch_bytes=max(1024 * 1024, settings.max_message_bytes * 2),
    )
    consumer.subscribe([settings.orders_topic], listener=gate)
    await producer.start()
    await check_topics(
        producer.client, {"ORDERS_TOPIC": settings.orders_topic, "DLQ_TOPIC": settings.dlq_topic}
    )
    await consumer.start()
    options = WorkflowOptions(
        cancel_window_seconds=settings.ordering_cancel_window_seconds,
        activity_timeout_seconds=settings.ordering_activity_timeout_seconds,
        activity_max_attempts=settings.ordering_activity_max_attempts,
        outage_tolerance_hours=settings.ordering_outage_tolerance_hours,
        activity_initial_interval_seconds=settings.ordering_activity_initial_interval_seconds,
    )
    workflows = TemporalOrders(client, settings.ordering_task_queue)
    sealer = settings.secrets_sealer()
    handler = OrderEventHandler(
        # A batch's orders go to MySQL together: one transaction, not one per order.
        wrappers.store(CoalescedOrderStore(OrderRepository(database))),
        wrappers.workflows(workflows),
        options,
        settings.max_message_bytes,
        settings.accepted_currencies,
        sealer,
        metrics=metrics,
    )
    sweeper = Sweeper(OrderRepository(database), workflows, options, sealer, metrics)
    flow = FlowControl(
        OrderRepository(database),
        metrics,
        bound=settings.max_orders_in_progress,
        resume_at=settings.max_orders_in_progress // 2,
    )
    loop = ConsumeLoop(
        wrappers.consumer(consumer),
        handler.handle,
        DeadLetters(producer, settings.dlq_topic).publish,
        gate,
        max_records=settings.max_batch_records,
        concurrency=settings.max_concurrency,
        backoff=Backoff(settings.retry_initial_seconds, settings.retry_max_seconds),
        metrics=metrics,
        flow=flow,
    )
    watched.readiness.watch(
        [
            Probe("kafka", consumer.topics),  # a metadata request through the consumer's client
            Probe("mysql", lambda: database.fetch_val("SELECT 1")),
            Probe("temporal", client.service_client.check_health),
        ]
    )
    log.info("consuming %s as group %s", settings.orders_topic, settings.kafka_consumer_group)
    try:
        await run_watched(
            beside(loop.run(stop), sweeper.run(stop)),
            watch(consumer, watchdog, batch_idle=gate.idle, held=lambda: flow.paused),
            stop,
            grace=settings.shutdown_timeout_seconds,
        )
    finally:
        await watched.close()
        # stop() can hang while brokers are down (aiokafka#659): bound it.
        closings = (consumer.stop(), producer.stop(), database.disconnect(), tracing.close())
        for closing in closings:
            try:
                await asyncio.wait_for(closing, settings.shutdown_timeout_seconds)
            except Exception as error:
                log.warning("shutdown step failed: %r", error)
        log.info("consumer stopped")


async def main(*, wrappers: PortWrappers = UNWRAPPED) -> int:
    return await run_service(
        "consumer",
        # From the environment, `.env`, and the files of SECRETS_DIR (one per setting).
        lambda: ConsumerSettings(_secrets_dir=os.environ.get("SECRETS_DIR")),
        partial(serve, wrappers=wrappers),
        log_setup=lambda settings: (settings.log_level, settings.log_format),
        cannot_run=(
            OSError, RuntimeError, KafkaError, DatabaseUnavailableError, RPCError,
            WorkflowIdTakenError, DeadLetterTopicRefusedError,
        ),
        exit_codes={ConsumerStalledError: EXIT_STALLED},
    )  # fmt: skip


if __name__ == "__main__":
    exit_now(asyncio.run(main()))
