"""How the consumer's parts are wired and run: its Kafka consumer in its group, the handler and
its ports, flow control, the sweeper, the dead letters, and the watchdog over the loop."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, fields
from typing import TypeVar

import databases
from prometheus_client import REGISTRY

from consumer.coalescing import CoalescedOrderStore
from consumer.dead_letters import DeadLetters
from consumer.flow import FlowControl
from consumer.handlers import OrderEventHandler, OrderStore, OrderWorkflows, WorkflowOptions
from consumer.metrics import ConsumerMetrics
from consumer.runner import Backoff, BatchGate, ConsumeLoop, RecordSource
from consumer.settings import ConsumerSettings
from consumer.sweeper import Sweeper, beside
from consumer.temporal import TemporalOrders
from consumer.watchdog import ProgressWatchdog, WatchedConsumer, run_watched, watch
from db.orders import OrderRepository
from runtime.kafka.client import client_options
from runtime.services import Services

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


def workflow_options(settings: ConsumerSettings) -> WorkflowOptions:
    """Each option from the setting of its name under `ordering_`: `cancel_window_seconds`
    from ORDERING_CANCEL_WINDOW_SECONDS, and so on."""
    return WorkflowOptions(
        **{
            option.name: getattr(settings, f"ordering_{option.name}")
            for option in fields(WorkflowOptions)
        }
    )


async def consume(
    settings: ConsumerSettings,
    services: Services,
    database: databases.Database,
    stop: asyncio.Event,
    wrappers: PortWrappers = UNWRAPPED,
) -> None:
    """Join the group and handle its records until `stop`, or until the watchdog finds the
    consumer stalled (`ConsumerStalledError`)."""
    metrics = ConsumerMetrics(REGISTRY)
    gate = BatchGate(timeout=settings.shutdown_timeout_seconds)
    # Its commits feed the watchdog, which ends a consumer left alive but stuck (aiokafka#1154).
    watchdog = ProgressWatchdog(settings.watchdog_stall_seconds)
    consumer = WatchedConsumer(
        watchdog,
        **client_options(settings),
        group_id=settings.kafka_consumer_group,
        enable_auto_commit=False,  # an offset is committed only once its work is durable
        auto_offset_reset="earliest",
        max_poll_interval_ms=settings.kafka_max_poll_interval_ms,
        max_partition_fetch_bytes=max(1024 * 1024, settings.max_message_bytes * 2),
    )
    consumer.subscribe([settings.orders_topic], listener=gate)
    await consumer.start()
    services.closing.push("the Kafka consumer", consumer.stop)
    orders = OrderRepository(database)
    options = workflow_options(settings)
    workflows = TemporalOrders(services.temporal, settings.ordering_task_queue)
    sealer = settings.secrets_sealer()
    handler = OrderEventHandler(
        # A batch's orders go to MySQL together: one transaction, not one per order.
        wrappers.store(CoalescedOrderStore(orders)),
        wrappers.workflows(workflows),
        options,
        settings.max_message_bytes,
        settings.accepted_currencies,
        sealer,
        metrics=metrics,
    )
    flow = FlowControl(
        orders,
        metrics,
        bound=settings.max_orders_in_progress,
        resume_at=settings.max_orders_in_progress // 2,
    )
    loop = ConsumeLoop(
        wrappers.consumer(consumer),
        handler.handle,
        DeadLetters(services.producer, settings.dlq_topic).publish,
        gate,
        max_records=settings.max_batch_records,
        concurrency=settings.max_concurrency,
        backoff=Backoff(settings.retry_initial_seconds, settings.retry_max_seconds),
        metrics=metrics,
        flow=flow,
    )
    sweeper = Sweeper(orders, workflows, options, sealer, metrics)
    # Kafka's check is a metadata request through the consumer's own client.
    services.ready_when(kafka=consumer.topics, mysql=lambda: database.fetch_val("SELECT 1"))
    log.info("consuming %s as group %s", settings.orders_topic, settings.kafka_consumer_group)
    await run_watched(
        beside(loop.run(stop), sweeper.run(stop)),
        watch(
            consumer,
            watchdog,
            batch_idle=gate.idle,
            # Waiting on purpose: records held back by flow control, or retried through an outage.
            held=lambda: flow.paused or loop.waiting_out_failures,
        ),
        stop,
        grace=settings.shutdown_timeout_seconds,
    )
