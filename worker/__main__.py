"""`python -m worker`: the composition root that runs the order workflow and its activities."""

from __future__ import annotations

import asyncio
import functools
import logging
import os
import socket
from datetime import timedelta

import databases
from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError
from prometheus_client import REGISTRY
from temporalio.client import Client
from temporalio.service import RPCError
from temporalio.worker import Worker

from db.catalogue import CatalogueRepository
from db.connection import open_database
from db.errors import DatabaseUnavailableError
from db.inventory import InventoryRepository
from db.notifications import NotificationRepository
from db.order_steps import OrderSteps
from db.orders import OrderRepository
from db.outbox import StatusOutbox
from db.payments import PaymentRepository
from runtime.exit import exit_now
from runtime.kafka.access import check_access as check_kafka_access
from runtime.kafka.client import client_options as kafka_client_options
from runtime.kafka.topics import check_topics
from runtime.process import run_service
from runtime.telemetry.exporters import open_observability
from runtime.telemetry.readiness import Probe
from runtime.telemetry.tracing import start_tracing
from runtime.temporal.client import connect as connect_temporal
from worker import workflows
from worker.activities import (
    CatalogueActivities,
    InventoryActivities,
    NotificationActivities,
    OrderStatusActivities,
    PaymentActivities,
)
from worker.activity_failures import CompactFailures
from worker.bytecode import cache_bytecode
from worker.errors import WorkerCannotRunError
from worker.metrics import ActivityTimer, WorkerMetrics
from worker.namespace import ensure_namespace
from worker.outbox_pruner import OutboxPruner
from worker.payments import MockPaymentGateway
from worker.port_wrappers import UNWRAPPED, PortWrappers
from worker.processes import run_processes
from worker.publisher import StatusPublisher
from worker.relay import RelayOptions, StatusRelay
from worker.relay_lifecycle import Relay, bounded, running, until_stopped
from worker.settings import WorkerSettings
from worker.steps import OrderStepActivities
from worker.workflows import OrderProcessingWorkflow

log = logging.getLogger("worker")


async def serve(
    settings: WorkerSettings, stop: asyncio.Event, *, wrappers: PortWrappers = UNWRAPPED
) -> None:
    if settings.worker_processes > 1:
        await run_processes(settings, stop)
        return
    metrics = WorkerMetrics(REGISTRY)
    # The ports first: one set on purpose but taken stops the worker before it polls.
    watched = await open_observability(settings, REGISTRY)
    tracing = start_tracing(settings, "worker")
    client = await connect_temporal(
        settings, runtime=watched.runtime, interceptors=tracing.interceptors
    )
    await ensure_namespace(
        client,
        settings.temporal_namespace,
        timedelta(days=settings.temporal_namespace_retention_days),
    )
    database = await open_database(
        settings.database_url.get_secret_value(),
        max_size=settings.database_pool_size,
        tls=settings.database_ssl_context(),
    )
    await check_kafka_access(settings)  # a refusal's reason, before any client is made
    # The relay's producer, its only one: idempotent, so its retries never reorder or repeat.
    producer = AIOKafkaProducer(
        **kafka_client_options(settings), enable_idempotence=True, acks="all"
    )
    await producer.start()
    if settings.status_relay == "builtin":
        await check_topics(producer.client, {"STATUS_TOPIC": settings.status_topic})
    publisher = StatusPublisher(producer, settings.status_topic)
    relay = status_relay(settings, StatusOutbox(database), publisher, metrics, wrappers=wrappers)
    cache_bytecode(workflows)  # the sandbox imports it for every new workflow run
    worker = order_worker(settings, client, database, relay, metrics, wrappers=wrappers)
    watched.readiness.watch(
        [
            Probe("kafka", publisher.reachable),
            Probe("mysql", lambda: database.fetch_val("SELECT 1")),
            Probe("temporal", client.service_client.check_health),
        ]
    )
    log.info("worker polling %s in %s", settings.ordering_task_queue, settings.temporal_namespace)
    try:
        # Exited in reverse: the activities drain first, then the relay sends what they wrote.
        async with running(relay) as relaying, worker:
            await until_stopped(stop, relaying)
            log.info("draining in-flight activities")
    finally:
        await watched.close()
        # stop() can hang while brokers are down (aiokafka#659): bound it.
        await bounded("the Kafka producer's stop", producer.stop())
        await database.disconnect()
        await tracing.close()  # the last spans exported
        log.info("worker stopped")


def status_relay(
    settings: WorkerSettings,
    outbox: StatusOutbox,
    publisher: StatusPublisher,
    metrics: WorkerMetrics,
    *,
    wrappers: PortWrappers = UNWRAPPED,
) -> Relay:
    """The worker's relay, or with STATUS_RELAY=external the pruner of rows that change data
    capture has sent."""
    if settings.status_relay == "external":
        return OutboxPruner(
            outbox,
            retention_seconds=settings.status_outbox_retention_seconds,
            batch_size=settings.status_relay_batch_size,
        )
    options = RelayOptions(
        holder=f"{socket.gethostname()}/{os.getpid()}",
        batch_size=settings.status_relay_batch_size,
        poll_seconds=settings.status_relay_poll_seconds,
        linger_seconds=settings.status_relay_linger_seconds,
    )
    return StatusRelay(outbox, wrappers.event_sender(publisher), metrics, options)


def order_worker(
    settings: WorkerSettings,
    client: Client,
    database: databases.Database,
    relay: Relay,
    metrics: WorkerMetrics,
    *,
    wrappers: PortWrappers = UNWRAPPED,
) -> Worker:
    """The Temporal worker of the order workflow and its activities."""
    statuses = OrderStatusActivities(
        wrappers.status_store(OrderRepository(database)), relay, metrics
    )
    catalogue = CatalogueActivities(statuses, CatalogueRepository(database))
    inventory = InventoryActivities(statuses, wrappers.inventory(InventoryRepository(database)))
    gateway = wrappers.payment_gateway(MockPaymentGateway())
    payments = PaymentActivities(statuses, wrappers.payments(PaymentRepository(database)), gateway)
    notifications = NotificationActivities(
        statuses, wrappers.notifications(NotificationRepository(database))
    )
    steps = OrderStepActivities(wrappers.step_store(OrderSteps(database)), gateway, relay, metrics)
    return Worker(
        client,
        task_queue=settings.ordering_task_queue,
        workflows=[OrderProcessingWorkflow],
        activities=[
            steps.advance_order,
            steps.stop_order,
            steps.complete_order,
            # The steps one by one, of orders started before they ran in one activity.
            steps.validate_order,
            steps.reserve_stock,
            steps.process_payment,
            # The steps of orders started before MySQL decided them, until those have ended.
            statuses.update_status,
            catalogue.validate_order,
            inventory.reserve_stock,
            inventory.release_stock,
            payments.process_payment,
            payments.refund_payment,
            notifications.send_order_confirmation,
        ],
        max_concurrent_activities=settings.max_concurrent_activities,
        max_concurrent_workflow_tasks=settings.max_concurrent_workflow_tasks,
        max_cached_workflows=settings.max_cached_workflows,
        # The default is 0: activities would be cancelled at once on shutdown.
        graceful_shutdown_timeout=timedelta(seconds=settings.graceful_shutdown_seconds),
        sticky_queue_schedule_to_start_timeout=timedelta(
            seconds=settings.sticky_queue_timeout_seconds
        ),
        interceptors=[CompactFailures(), ActivityTimer(metrics)],
    )


async def main(*, wrappers: PortWrappers = UNWRAPPED) -> int:
    """Run the worker until SIGTERM; `wrappers` go around its ports as they are wired. They
    reach this process only: with WORKER_PROCESSES above 1, each is a plain `python -m worker`."""
    return await run_service(
        "worker",
        # From the environment, `.env`, and the files of SECRETS_DIR (one per setting).
        lambda: WorkerSettings(_secrets_dir=os.environ.get("SECRETS_DIR")),
        functools.partial(serve, wrappers=wrappers),
        log_setup=lambda settings: (settings.log_level, settings.log_format),
        cannot_run=(
            OSError, RuntimeError, KafkaError, DatabaseUnavailableError, RPCError,
            WorkerCannotRunError,
        ),
    )  # fmt: skip


if __name__ == "__main__":
    exit_now(asyncio.run(main()))
