"""`python -m tools.bench.seed_worker`: the seed-shaped workflow on the project's real activities.

Built as `python -m worker` builds its worker: the same settings, connections, activity
classes (`worker.activities`), status outbox and relay, interceptors and limits; only the
workflow differs (`tools.bench.seed_workflow`). The bench points it and the project's consumer
at a task queue of their own. A change to how the worker builds its activities shows here as a type
error, so the two stay alike.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import databases
from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError
from prometheus_client import REGISTRY
from temporalio.service import RPCError
from temporalio.worker import Worker

from db.catalogue import CatalogueRepository
from db.connection import connect_database
from db.errors import DatabaseUnavailableError
from db.inventory import InventoryRepository
from db.notifications import NotificationRepository
from db.orders import OrderRepository
from db.outbox import StatusOutbox
from db.payments import PaymentRepository
from runtime.exit import exit_now
from runtime.kafka.client import client_options as kafka_client_options
from runtime.process import run_service
from runtime.temporal.client import connect as connect_temporal
from tools.bench import seed_workflow
from tools.bench.seed_workflow import SeedOrderWorkflow
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
from worker.payments import MockPaymentGateway
from worker.publisher import StatusPublisher
from worker.relay_lifecycle import Relay, bounded, running, until_stopped
from worker.settings import WorkerSettings
from worker.wiring import status_relay


def activities(
    database: databases.Database, relay: Relay, metrics: WorkerMetrics
) -> list[Callable[..., Any]]:
    """The project's activities, wired as `worker/wiring.py` wires them."""
    statuses = OrderStatusActivities(OrderRepository(database), relay, metrics)
    catalogue = CatalogueActivities(statuses, CatalogueRepository(database))
    inventory = InventoryActivities(statuses, InventoryRepository(database))
    payments = PaymentActivities(statuses, PaymentRepository(database), MockPaymentGateway())
    notifications = NotificationActivities(statuses, NotificationRepository(database))
    return [
        statuses.update_status,
        catalogue.validate_order,
        inventory.reserve_stock,
        inventory.release_stock,
        payments.process_payment,
        payments.refund_payment,
        notifications.send_order_confirmation,
    ]


async def serve(settings: WorkerSettings, stop: asyncio.Event) -> None:
    metrics = WorkerMetrics(REGISTRY)
    client = await connect_temporal(settings)
    retention = timedelta(days=settings.temporal_namespace_retention_days)
    await ensure_namespace(client, settings.temporal_namespace, retention)
    database = await connect_database(settings)
    producer = AIOKafkaProducer(
        **kafka_client_options(settings), enable_idempotence=True, acks="all"
    )
    await producer.start()
    publisher = StatusPublisher(producer, settings.status_topic)
    relay = status_relay(settings, StatusOutbox(database), publisher, metrics)
    cache_bytecode(seed_workflow)  # as the project's worker does for its workflow module
    worker = Worker(
        client,
        task_queue=settings.ordering_task_queue,
        workflows=[SeedOrderWorkflow],
        activities=activities(database, relay, metrics),
        max_concurrent_activities=settings.max_concurrent_activities,
        max_concurrent_workflow_tasks=settings.max_concurrent_workflow_tasks,
        graceful_shutdown_timeout=timedelta(seconds=settings.graceful_shutdown_seconds),
        sticky_queue_schedule_to_start_timeout=timedelta(
            seconds=settings.sticky_queue_timeout_seconds
        ),
        interceptors=[CompactFailures(), ActivityTimer(metrics)],
    )
    try:
        async with running(relay) as relaying, worker:
            await until_stopped(stop, relaying)
    finally:
        await bounded("the Kafka producer's stop", producer.stop())
        await database.disconnect()


async def main() -> int:
    return await run_service(
        "seed-worker",
        WorkerSettings.load,
        serve,
        log_setup=lambda settings: (settings.log_level, settings.log_format),
        cannot_run=(
            OSError, RuntimeError, KafkaError, DatabaseUnavailableError, RPCError,
            WorkerCannotRunError,
        ),
    )  # fmt: skip


if __name__ == "__main__":
    exit_now(asyncio.run(main()))
