"""How the worker's parts are wired and run: the status relay (or the outbox pruner), the
activities on their ports, and the Temporal worker of the order workflow."""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import sys
from datetime import timedelta

import databases
from prometheus_client import REGISTRY
from temporalio.client import Client
from temporalio.worker import Worker

from db.catalogue import CatalogueRepository
from db.inventory import InventoryRepository
from db.notifications import NotificationRepository
from db.order_steps import OrderSteps
from db.orders import OrderRepository
from db.outbox import StatusOutbox
from db.payments import PaymentRepository
from runtime.services import Services
from worker.activities import (
    CatalogueActivities,
    InventoryActivities,
    NotificationActivities,
    OrderStatusActivities,
    PaymentActivities,
)
from worker.activity_failures import CompactFailures
from worker.bytecode import cache_bytecode
from worker.metrics import ActivityTimer, WorkerMetrics
from worker.namespace import ensure_namespace
from worker.outbox_pruner import OutboxPruner
from worker.payments import MockPaymentGateway
from worker.port_wrappers import UNWRAPPED, PortWrappers
from worker.publisher import StatusPublisher
from worker.relay import RelayOptions, StatusRelay
from worker.relay_lifecycle import Relay, running, until_stopped
from worker.settings import WorkerSettings
from worker.steps import OrderStepActivities
from worker.workflows import OrderProcessingWorkflow

log = logging.getLogger("worker")


async def work(
    settings: WorkerSettings,
    services: Services,
    database: databases.Database,
    stop: asyncio.Event,
    wrappers: PortWrappers = UNWRAPPED,
    *,
    workflow: type = OrderProcessingWorkflow,
) -> None:
    """Run the order workflow and its activities, and relay their status events, until `stop`;
    then let the activities in flight finish and the relay send what they wrote. The bench
    runs the seed design's `workflow` on the same parts."""
    await ensure_namespace(
        services.temporal,
        settings.temporal_namespace,
        timedelta(days=settings.temporal_namespace_retention_days),
    )
    metrics = WorkerMetrics(REGISTRY)
    publisher = StatusPublisher(services.producer, settings.status_topic)
    relay = status_relay(settings, StatusOutbox(database), publisher, metrics, wrappers=wrappers)
    cache_bytecode(sys.modules[workflow.__module__])  # the sandbox imports it for every new run
    worker = order_worker(
        settings, services.temporal, database, relay, metrics, wrappers=wrappers, workflow=workflow
    )
    services.ready_when(kafka=publisher.reachable, mysql=lambda: database.fetch_val("SELECT 1"))
    log.info("worker polling %s in %s", settings.ordering_task_queue, settings.temporal_namespace)
    # Exited in reverse: the activities drain first, then the relay sends what they wrote.
    async with running(relay) as relaying, worker:
        await until_stopped(stop, relaying)
        log.info("draining in-flight activities")


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
    workflow: type = OrderProcessingWorkflow,
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
        workflows=[workflow],
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
