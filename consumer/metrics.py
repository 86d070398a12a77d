"""The consumer's metrics: what became of each message, retries, lag, batches, start delay.

The consume loop reports through its `LoopMetrics` port, which `ConsumerMetrics` implements;
the handlers stay free of metrics. The delay from an order's `occurred_at` to its workflow's
start is taken by wrapping the handler's two ports: the store notes the event's time for the
task handling it, and the workflows port reads it back once the start has succeeded.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from contextvars import ContextVar
from datetime import UTC, datetime

from aiokafka.errors import KafkaError
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from temporalio.service import RPCError

from consumer.handlers import OrderStore, OrderWorkflows, Outcome
from db.errors import DatabaseUnavailableError
from db.order_rows import NewOrder, OrderInsertResult, OrderRow
from schemas.workflow_io import OrderWorkflowInput

DEAD_LETTERED = "dead_lettered"
DEPENDENCIES = {DatabaseUnavailableError: "mysql", RPCError: "temporal", KafkaError: "kafka"}
START_DELAY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600)
BATCH_SIZE_BUCKETS = (1, 5, 10, 25, 50, 100, 250, 500, 1000)

Partition = tuple[str, int]  # topic, partition

# When the event of the order that this task is handling occurred (see `TimedStore`).
_occurred_at: ContextVar[datetime | None] = ContextVar("occurred_at", default=None)


class ConsumerMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.messages = Counter(
            "ordering_messages_consumed",
            "Input messages handled, by outcome; dead-lettered ones by reason",
            ["outcome", "reason"],
            registry=registry,
        )
        self.retries = Counter(
            "ordering_transient_retries",
            "Messages put back for a retry because a dependency failed, by dependency",
            ["dependency"],
            registry=registry,
        )
        self.lag = Gauge(
            "ordering_consumer_lag",
            "Records behind the partition's end once the last batch from it was handled",
            ["topic", "partition"],
            registry=registry,
        )
        self.workflows_started = Counter(
            "ordering_workflows_started",
            "Order workflows started (or found started, after a retry)",
            registry=registry,
        )
        self.start_delay = Histogram(
            "ordering_order_start_delay_seconds",
            "From an OrderPlaced event's occurred_at to its workflow's start",
            buckets=START_DELAY_BUCKETS,
            registry=registry,
        )
        self.batch_size = Histogram(
            "ordering_consumer_batch_records",
            "Records per fetched batch",
            buckets=BATCH_SIZE_BUCKETS,
            registry=registry,
        )
        self.in_progress = Gauge(
            "ordering_orders_in_progress",
            "Orders stored and not yet confirmed or ended, as flow control last counted them",
            registry=registry,
        )
        self.paused = Gauge(
            "ordering_consumer_paused",
            "1 while flow control holds the partitions paused (the bound of orders in progress"
            " reached), else 0",
            registry=registry,
        )
        self.swept = Counter(
            "ordering_orders_swept",
            "Orders stored but not started that the sweeper started without their record",
            registry=registry,
        )
        self.unstartable = Gauge(
            "ordering_orders_unstartable",
            "PENDING orders without a workflow that the sweeper cannot start (no sealed"
            " secrets, or none it can open), as its last pass found them",
            registry=registry,
        )
        self.batch_duration = Histogram(
            "ordering_consumer_batch_duration_seconds",
            "Time to handle a batch and commit what finished",
            registry=registry,
        )
        # Present at 0 from the start, so a rate over them is defined before the first event.
        for outcome in Outcome:
            self.messages.labels(outcome.value, "")
        for dependency in [*DEPENDENCIES.values(), "other"]:
            self.retries.labels(dependency)
        self._partitions: set[Partition] = set()

    def handled(self, outcome: str) -> None:
        self.messages.labels(outcome, "").inc()

    def dead_lettered(self, reason: str) -> None:
        self.messages.labels(DEAD_LETTERED, reason).inc()

    def retrying(self, error: BaseException) -> None:
        self.retries.labels(dependency_of(error)).inc()

    def batch_done(self, records: int, seconds: float) -> None:
        self.batch_size.observe(records)
        self.batch_duration.observe(seconds)

    def flow(self, in_progress: int, paused: bool) -> None:
        self.in_progress.set(in_progress)
        self.paused.set(int(paused))

    def sweep_done(self, started: int, unstartable: int) -> None:
        self.swept.inc(started)
        self.unstartable.set(unstartable)

    def partition_lag(self, lags: Mapping[Partition, int], assigned: Collection[Partition]) -> None:
        """Set the lag of the partitions just handled; drop those no longer assigned."""
        for topic, partition in self._partitions - set(assigned):
            self.lag.remove(topic, str(partition))
        self._partitions &= set(assigned)
        for (topic, partition), lag in lags.items():
            self.lag.labels(topic, str(partition)).set(lag)
            self._partitions.add((topic, partition))

    def workflow_started(self, occurred_at: datetime | None) -> None:
        self.workflows_started.inc()
        if occurred_at is not None:
            delay = (datetime.now(UTC) - occurred_at).total_seconds()
            self.start_delay.observe(max(delay, 0.0))  # a producer's clock may run ahead


def dependency_of(error: BaseException) -> str:
    """The dependency whose failure a `TransientError` was translated from."""
    cause: BaseException | None = error
    while cause is not None:
        for kind, name in DEPENDENCIES.items():
            if isinstance(cause, kind):
                return name
        cause = cause.__cause__
    return "other"


class TimedStore:
    """An `OrderStore` noting, for the task handling the order, when its event occurred."""

    def __init__(self, inner: OrderStore) -> None:
        self._inner = inner

    async def insert_order(self, new: NewOrder) -> OrderInsertResult:
        _occurred_at.set(new.order_date)
        return await self._inner.insert_order(new)

    async def set_workflow_id(self, order_id: int, workflow_id: str) -> None:
        await self._inner.set_workflow_id(order_id, workflow_id)

    async def find_by_ref(self, order_ref: str) -> OrderRow | None:
        return await self._inner.find_by_ref(order_ref)

    async def record_cancellation(self, order_id: int, reason: str) -> bool:
        return await self._inner.record_cancellation(order_id, reason)


class CountedWorkflows:
    """An `OrderWorkflows` counting the starts that succeeded and timing them (`TimedStore`)."""

    def __init__(self, inner: OrderWorkflows, metrics: ConsumerMetrics) -> None:
        self._inner = inner
        self._metrics = metrics

    async def start_order(self, workflow_input: OrderWorkflowInput, *, new: bool) -> None:
        await self._inner.start_order(workflow_input, new=new)
        self._metrics.workflow_started(_occurred_at.get())

    async def cancel_order(self, workflow_id: str, reason: str) -> bool:
        return await self._inner.cancel_order(workflow_id, reason)
