"""The worker's metrics: orders reaching a terminal status, and how long activities take.

The Temporal SDK's own metrics (task latencies, slots, polls) are exported separately by its
runtime (`observability.exporters.temporal_runtime`).
"""

from __future__ import annotations

import time
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram
from temporalio import activity
from temporalio.worker import ActivityInboundInterceptor, ExecuteActivityInput, Interceptor

from schemas.order import OrderStatus

ACTIVITY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)


class WorkerMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.orders_finished = Counter(
            "ordering_orders_finished",
            "Orders that reached a terminal status, by status and reason code (at least once: "
            "an update_status retried after it completed counts again)",
            ["status", "reason"],
            registry=registry,
        )
        self.activity_duration = Histogram(
            "ordering_activity_duration_seconds",
            "Time of one activity attempt, by activity and outcome (completed or failed)",
            ["activity", "outcome"],
            buckets=ACTIVITY_BUCKETS,
            registry=registry,
        )
        # Present at 0 from the start, so a rate over it is defined before the first order.
        self.orders_finished.labels(OrderStatus.COMPLETED.value, "")

    def order_finished(self, status: OrderStatus, reason: str | None) -> None:
        self.orders_finished.labels(status.value, reason_code(reason)).inc()

    def activity_done(self, name: str, outcome: str, seconds: float) -> None:
        self.activity_duration.labels(name, outcome).observe(seconds)


def reason_code(reason: str | None) -> str:
    """The reason without its details (`insufficient_stock:product=7` → `insufficient_stock`):
    a label per product would make a series per product."""
    return (reason or "").split(":", 1)[0]


class ActivityTimer(Interceptor):
    """Times every activity attempt of the worker it is given to."""

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
