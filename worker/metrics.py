"""The worker's metrics: orders reaching a terminal status, how long activities take, and how
the status relay keeps up with the outbox.

The Temporal SDK's own metrics (task latencies, slots, polls) are exported separately by its
runtime (`runtime.telemetry.exporters.temporal_runtime`).
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from temporalio import activity
from temporalio.worker import ActivityInboundInterceptor, ExecuteActivityInput, Interceptor

from schemas.order import OrderStatus

ACTIVITY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)


class WorkerMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.orders_finished = Counter(
            "ordering_orders_finished",
            "Orders that reached a terminal status, by status and reason code (at least once: "
            "a step run again after its workflow task was lost counts again)",
            ["status", "reason"],
            registry=registry,
        )
        self.activity_duration = Histogram(
            "ordering_activity_duration_seconds",
            "Time of one activity attempt, local activities (the order's steps) included, by "
            "activity and outcome (completed or failed)",
            ["activity", "outcome"],
            buckets=ACTIVITY_BUCKETS,
            registry=registry,
        )
        # Present at 0 from the start, so a rate over it is defined before the first order.
        self.orders_finished.labels(OrderStatus.COMPLETED.value, "")
        self.status_events_relayed = Counter(
            "ordering_status_events_relayed",
            "Status events the relay sent from the outbox and Kafka acknowledged (at least "
            "once: a batch sent again after a failure before its rows were deleted counts again)",
            registry=registry,
        )
        self.status_relay_lag = Gauge(
            "ordering_status_relay_lag_seconds",
            "Age of the oldest status event waiting in the outbox, as the relay last saw it "
            "(growing while Kafka holds its batch up); 0 when none waits",
            registry=registry,
        )
        self._oldest_waiting: datetime | None = None
        self.status_relay_lag.set_function(self._relay_lag)
        self.status_relay_leader = Gauge(
            "ordering_status_relay_leader",
            "1 while this process's relay holds the outbox's lease, else 0 (it stands by)",
            registry=registry,
        )

    def order_finished(self, status: OrderStatus, reason: str | None) -> None:
        self.orders_finished.labels(status.value, reason_code(reason)).inc()

    def activity_done(self, name: str, outcome: str, seconds: float) -> None:
        self.activity_duration.labels(name, outcome).observe(seconds)

    def events_relayed(self, count: int) -> None:
        self.status_events_relayed.inc(count)

    def oldest_waiting(self, written_at: datetime | None) -> None:
        self._oldest_waiting = written_at

    def _relay_lag(self) -> float:
        oldest = self._oldest_waiting
        return 0.0 if oldest is None else max((datetime.now(UTC) - oldest).total_seconds(), 0.0)

    def relay_leading(self, leading: bool) -> None:
        self.status_relay_leader.set(1 if leading else 0)


def reason_code(reason: str | None) -> str:
    """The reason without its details (`insufficient_stock:product=7` → `insufficient_stock`):
    a label per product would make a series per product."""
    return (reason or "").split(":", 1)[0]


class ActivityTimer(Interceptor):
    """Times every activity attempt of the worker it is given to: local activities, the
    order's steps, run through the same interceptors as regular ones."""

    def __init__(self, metrics: WorkerMetrics) -> None:
        self._metrics = metrics

    def intercept_activity(self, next: ActivityInboundInterceptor) -> ActivityInboundInterceptor:
        return _TimedActivity(next, self._metrics)


class _TimedActivity(ActivityInboundInterceptor):
    def __init__(self, next: ActivityInboundInterceptor, metrics: WorkerMetrics) -> None:
        super().__init__(next)
        self._metrics = metrics

    async def execute_activity(self, input: ExecuteActivityInput) -> Any:
        started, outcome = time.monotonic(), "failed"
        try:
            result = await self.next.execute_activity(input)
            outcome = "completed"
            return result
        finally:
            name = activity.info().activity_type
            self._metrics.activity_done(name, outcome, time.monotonic() - started)
