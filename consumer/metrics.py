"""The consumer's metrics: what became of each message, retries, lag, batches, start delay.

The consume loop, the handler, flow control and the sweeper each report through a port of
their own, which `ConsumerMetrics` implements.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from datetime import UTC, datetime

from aiokafka.errors import KafkaError
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from temporalio.service import RPCError

from consumer.handlers import Outcome
from db.errors import DatabaseUnavailableError

DEAD_LETTERED = "dead_lettered"
DEPENDENCIES = {DatabaseUnavailableError: "mysql", RPCError: "temporal", KafkaError: "kafka"}
START_DELAY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600)
BATCH_SIZE_BUCKETS = (1, 5, 10, 25, 50, 100, 250, 500, 1000)

Partition = tuple[str, int]  # topic, partition


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
            "Order workflows started (or found started, after a retry), the sweeper's too",
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
        self.workflows_started.inc(started)
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
