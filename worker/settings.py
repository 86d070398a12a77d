"""The worker's configuration, read once from the environment (or a `.env` file)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from runtime.settings import ServiceSettings
from runtime.telemetry.exporters import MetricsPortNumber
from schemas.topics import STATUS_TOPIC
from schemas.workflow_io import TASK_QUEUE


class WorkerSettings(ServiceSettings):
    metrics_port: MetricsPortNumber = 8002
    temporal_metrics_port: MetricsPortNumber = 9002

    status_topic: str = STATUS_TOPIC
    temporal_namespace_retention_days: int = Field(default=7, ge=1)
    ordering_task_queue: str = TASK_QUEUE
    # Worker processes one `python -m worker` runs (worker/processes.py): one per core the
    # worker may use; one, where replicas of the container are how it scales.
    worker_processes: int = Field(default=1, ge=1, le=64)
    max_concurrent_activities: int = Field(default=100, ge=1)
    max_concurrent_workflow_tasks: int = Field(default=100, ge=1)
    # Workflows kept in memory between their tasks: at least this process's share of the
    # consumers' MAX_ORDERS_IN_PROGRESS plus the orders in their cancel window.
    max_cached_workflows: int = Field(default=1000, ge=1)
    graceful_shutdown_seconds: float = Field(default=30.0, ge=0)
    # How long a workflow task waits for the worker that last ran the workflow before any
    # worker may take it: after a worker dies, its open workflows resume this much later.
    sticky_queue_timeout_seconds: float = Field(default=10.0, gt=0)

    # Who sends the status outbox's rows to STATUS_TOPIC: `builtin`, the worker's relay; or
    # `external`, change data capture (Debezium's outbox event router) that the deployment
    # runs instead, the worker then only deleting rows older than the retention. Either way
    # every status's event is written to the outbox; nothing here can turn that off.
    status_relay: Literal["builtin", "external"] = "builtin"
    status_relay_batch_size: int = Field(default=500, ge=1, le=10_000)
    # How often the relay looks for rows other worker processes wrote; this process's own
    # wake it at once.
    status_relay_poll_seconds: float = Field(default=0.2, gt=0, le=60)
    # How long the relay lets events gather after a wake-up: one pass (one transaction, one
    # produce request) then carries many steps' events instead of one's.
    status_relay_linger_seconds: float = Field(default=0.05, ge=0, le=5)
    status_outbox_retention_seconds: float = Field(default=86_400.0, gt=0)
