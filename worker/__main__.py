"""`python -m worker`: the composition root that runs the order workflow and its activities."""

from __future__ import annotations

import asyncio
import logging
import os
from datetime import timedelta

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError
from prometheus_client import REGISTRY
from temporalio.service import RPCError
from temporalio.worker import Worker

from db.catalogue import CatalogueRepository
from db.connection import open_database
from db.errors import DatabaseUnavailableError
from db.inventory import InventoryRepository
from db.notifications import NotificationRepository
from db.orders import OrderRepository
from db.payments import PaymentRepository
from kafka_connection.access import check_access as check_kafka_access
from kafka_connection.client import client_options as kafka_client_options
from observability.exit import exit_now
from observability.exporters import open_observability
from observability.process import run_service
from observability.readiness import Probe
from observability.tracing import start_tracing
from temporal_connection.client import connect as connect_temporal
from worker.activities import (
    CatalogueActivities,
    InventoryActivities,
    NotificationActivities,
    OrderStatusActivities,
    PaymentActivities,
)
from worker.activity_failures import CompactFailures
from worker.metrics import ActivityTimer, WorkerMetrics
from worker.namespace import ensure_namespace
from worker.payments import MockPaymentGateway
from worker.publisher import StatusPublisher
from worker.settings import WorkerSettings
from worker.workflows import OrderProcessingWorkflow

log = logging.getLogger("worker")


async def serve(settings: WorkerSettings, stop: asyncio.Event) -> None:
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
    producer = AIOKafkaProducer(
        **kafka_client_options(settings), enable_idempotence=True, acks="all"
    )
    await producer.start()
    publisher = StatusPublisher(producer, settings.status_topic)
    statuses = OrderStatusActivities(OrderRepository(database), publisher, metrics)
    catalogue = CatalogueActivities(statuses, CatalogueRepository(database))
    inventory = InventoryActivities(statuses, InventoryRepository(database))
    payments = PaymentActivities(statuses, PaymentRepository(database), MockPaymentGateway())
    notifications = NotificationActivities(statuses, NotificationRepository(database))
    worker = Worker(
        client,
        task_queue=settings.ordering_task_queue,
        workflows=[OrderProcessingWorkflow],
        activities=[
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
        # The default is 0: activities would be cancelled at once on shutdown.
        graceful_shutdown_timeout=timedelta(seconds=settings.graceful_shutdown_seconds),
        sticky_queue_schedule_to_start_timeout=timedelta(
            seconds=settings.sticky_queue_timeout_seconds
        ),
        interceptors=[CompactFailures(), ActivityTimer(metrics)],
    )
    watched.readiness.watch(
        [
            Probe("kafka", publisher.reachable),
            Probe("mysql", lambda: database.fetch_val("SELECT 1")),
            Probe("temporal", client.service_client.check_health),
        ]
    )
    log.info("worker polling %s in %s", settings.ordering_task_queue, settings.temporal_namespace)
    try:
        async with worker:
            await stop.wait()
            log.info("draining in-flight activities")
    finally:
        await watched.close()
        await producer.stop()
        await database.disconnect()
        await tracing.close()  # the last spans exported
        log.info("worker stopped")


async def main() -> int:
    return await run_service(
        "worker",
        # From the environment, `.env`, and the files of SECRETS_DIR (one per setting).
        lambda: WorkerSettings(_secrets_dir=os.environ.get("SECRETS_DIR")),
        serve,
        log_setup=lambda settings: (settings.log_level, settings.log_format),
        cannot_run=(OSError, RuntimeError, KafkaError, DatabaseUnavailableError, RPCError),
    )


if __name__ == "__main__":
    exit_now(asyncio.run(main()))
