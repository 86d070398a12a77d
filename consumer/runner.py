"""The consume loop: fetch a batch, handle it concurrently in order per key, commit what finished.

Outcomes are explicit: a handled record is committed; a rejected one is dead-lettered, then
committed; a transient failure is retried with backoff and never committed before it succeeds;
anything else stops the consumer loudly.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable, Collection, Mapping
from typing import Any, Protocol

from aiokafka import ConsumerRebalanceListener, TopicPartition
from aiokafka.errors import CommitFailedError, KafkaError
from opentelemetry.trace import Span

from consumer.errors import EventRejected, TransientError
from consumer.flow import FlowControl, Unbounded
from consumer.offsets import PartitionProgress
from runtime.telemetry.tracing import consuming, mark_failed

log = logging.getLogger(__name__)

Handler = Callable[[bytes | None, bytes | None], Awaitable[object]]
DeadLetter = Callable[[Any, EventRejected], Awaitable[None]]
# How often a paused consumer asks again whether the orders in progress have come down.
PAUSED_POLL_MS = 250


class LoopMetrics(Protocol):
    """What the loop reports as it goes (`consumer.metrics.ConsumerMetrics`)."""

    def handled(self, outcome: str) -> None: ...
    def dead_lettered(self, reason: str) -> None: ...
    def retrying(self, error: BaseException) -> None: ...
    def batch_done(self, records: int, seconds: float) -> None: ...
    def partition_lag(
        self, lags: Mapping[tuple[str, int], int], assigned: Collection[tuple[str, int]]
    ) -> None: ...


Flow = FlowControl | Unbounded


class RecordSource(Protocol):
    """What the loop uses of its Kafka consumer (`AIOKafkaConsumer` has it)."""

    async def getmany(
        self, timeout_ms: int = 0, max_records: int | None = None
    ) -> dict[TopicPartition, list[Any]]: ...
    def assignment(self) -> set[TopicPartition]: ...
    def pause(self, *partitions: TopicPartition) -> None: ...
    def resume(self, *partitions: TopicPartition) -> None: ...
    def paused(self) -> set[TopicPartition]: ...
    def highwater(self, tp: TopicPartition) -> int | None: ...
    async def commit(self, offsets: dict[TopicPartition, int]) -> None: ...


class Unmeasured:
    """Metrics that go nowhere, for a loop nobody watches."""

    def handled(self, outcome: str) -> None:
        pass

    def dead_lettered(self, reason: str) -> None:
        pass

    def retrying(self, error: BaseException) -> None:
        pass

    def batch_done(self, records: int, seconds: float) -> None:
        pass

    def partition_lag(
        self, lags: Mapping[tuple[str, int], int], assigned: Collection[tuple[str, int]]
    ) -> None:
        pass


class Backoff:
    def __init__(self, initial: float, maximum: float) -> None:
        self.initial, self.maximum = initial, maximum

    def delays(self) -> Any:
        delay = self.initial
        while True:
            yield delay
            delay = min(delay * 2, self.maximum)


class BatchGate(ConsumerRebalanceListener):  # type: ignore[misc]
    """Holds a rebalance until the batch in flight has finished and committed its offsets."""

    def __init__(self, timeout: float) -> None:
        self.idle = asyncio.Event()
        self.idle.set()
        self._timeout = timeout

    async def on_partitions_revoked(self, revoked: Any) -> None:
        try:
            await asyncio.wait_for(self.idle.wait(), self._timeout)
        except TimeoutError:
            log.warning("rebalance went ahead with a batch in flight; it will be redelivered")

    async def on_partitions_assigned(self, assigned: Any) -> None:
        log.info("partitions assigned: %s", sorted(f"{tp.topic}:{tp.partition}" for tp in assigned))


class ConsumeLoop:
    def __init__(
        self,
        consumer: RecordSource,
        handle: Handler,
        dead_letter: DeadLetter,
        gate: BatchGate,
        *,
        max_records: int,
        concurrency: int,
        backoff: Backoff,
        metrics: LoopMetrics | None = None,
        flow: Flow | None = None,
    ) -> None:
        self._consumer = consumer
        self._handle = handle
        self._dead_letter = dead_letter
        self._gate = gate
        self._max_records = max_records
        self._slots = asyncio.Semaphore(concurrency)
        self._backoff = backoff
        self._metrics: LoopMetrics = metrics or Unmeasured()
        self._flow: Flow = flow or Unbounded()
        self._failing = 0  # records retried through a transient failure right now

    @property
    def waiting_out_failures(self) -> bool:
        """Whether a record is being retried until MySQL or Temporal is back: the loop waits on
        purpose, and its watchdog must not take that for a stall (`consumer.watchdog.watch`)."""
        return self._failing > 0

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            batch = await self._fetch()
            if not batch:
                continue
            self._gate.idle.clear()
            started = time.monotonic()
            try:
                await self._process(batch, stop)
            finally:
                self._gate.idle.set()
            records = sum(len(part) for part in batch.values())
            self._metrics.batch_done(records, time.monotonic() - started)
            self._report_lag(batch)

    async def _fetch(self) -> dict[TopicPartition, list[Any]]:
        """The next batch, as large as flow control allows. Paused, the fetch still polls (it
        returns nothing from paused partitions), so the consumer stays in its group."""
        room = await self._flow.room()
        if room == 0:
            # The whole assignment, each time: a rebalance may have brought new partitions.
            self._consumer.pause(*self._consumer.assignment())
            batch: dict[TopicPartition, list[Any]] = await self._consumer.getmany(
                timeout_ms=PAUSED_POLL_MS
            )
            return batch
        if paused := self._consumer.paused():
            self._consumer.resume(*paused)
        records = min(self._max_records, room)
        batch = await self._consumer.getmany(timeout_ms=500, max_records=records)
        return batch

    def _report_lag(self, batch: dict[TopicPartition, list[Any]]) -> None:
        """Records left in each partition after the batch: its end as of the last fetch, less
        the batch's last offset. Read from what the consumer knows, so it costs no request."""
        assigned = self._consumer.assignment()
        lags = {
            (tp.topic, tp.partition): max(end - records[-1].offset - 1, 0)
            for tp, records in batch.items()
            if tp in assigned and (end := self._consumer.highwater(tp)) is not None
        }
        self._metrics.partition_lag(lags, [(tp.topic, tp.partition) for tp in assigned])

    async def _process(self, batch: dict[TopicPartition, list[Any]], stop: asyncio.Event) -> None:
        progress = {
            tp: PartitionProgress([r.offset for r in records]) for tp, records in batch.items()
        }
        chains: dict[tuple[TopicPartition, bytes | None], list[Any]] = defaultdict(list)
        for tp, records in batch.items():
            for record in records:
                chains[(tp, record.key)].append(record)
        try:
            async with asyncio.TaskGroup() as group:
                for (tp, _), records in chains.items():
                    group.create_task(self._run_chain(records, progress[tp], stop))
        except ExceptionGroup as failed:
            # An error no retry mends (a workflow id another order holds, the dead-letter topic
            # refusing) ends the consumer as itself, said in one line, not inside a group.
            raise failed.exceptions[0] from None
        finally:
            await self._commit(progress)

    async def _run_chain(
        self, records: list[Any], progress: PartitionProgress, stop: asyncio.Event
    ) -> None:
        """One key's records, strictly in order: a later one never runs before an earlier one."""
        for record in records:
            async with self._slots:
                if not await self._until_done(record, stop):
                    return  # abandoned on shutdown: left uncommitted for redelivery
            progress.finish(record.offset)

    async def _until_done(self, record: Any, stop: asyncio.Event) -> bool:
        """Handle the record until it is done (True) or the consumer stops first (False), in
        one span that continues the trace its producer began."""
        with consuming(record) as span:
            return await self._attempts(record, span, stop)

    async def _attempts(self, record: Any, span: Span, stop: asyncio.Event) -> bool:
        delays = self._backoff.delays()
        failing = False
        try:
            while True:
                try:
                    await self._attempt(record, span)
                    return True
                except TransientError as error:
                    if not failing:
                        failing, self._failing = True, self._failing + 1
                    self._metrics.retrying(error)
                    span.add_event("retrying", {"error": str(error)})
                    delay = next(delays)
                    log.warning(
                        "transient failure at %s:%s@%s, retrying in %.1fs: %s",
                        record.topic, record.partition, record.offset, delay, error,
                    )  # fmt: skip
                    if stop.is_set() or await _stopped_within(stop, delay):
                        return False
        finally:
            if failing:
                self._failing -= 1

    async def _attempt(self, record: Any, span: Span) -> None:
        """Handle the record once, or dead-letter it; `TransientError` to try again."""
        try:
            outcome = await self._handle(record.key, record.value)
        except EventRejected as rejection:
            log.warning(
                "dead-lettering %s:%s@%s: %s (%s)", record.topic, record.partition,
                record.offset, rejection.reason, rejection.message,
            )  # fmt: skip
            await self._dead_letter(record, rejection)
            self._metrics.dead_lettered(rejection.reason)
            mark_failed(span, f"dead-lettered: {rejection.reason}")
            return
        self._metrics.handled(str(outcome))
        span.set_attribute("ordering.outcome", str(outcome))

    async def _commit(self, progress: dict[TopicPartition, PartitionProgress]) -> None:
        owned = self._consumer.assignment()
        offsets = {
            tp: offset
            for tp, p in progress.items()
            if (offset := p.committable()) is not None and tp in owned
        }
        if not offsets:
            return
        try:
            await self._consumer.commit(offsets)
            log.debug(
                "committed %s", {f"{tp.topic}:{tp.partition}": o for tp, o in offsets.items()}
            )
        except (CommitFailedError, KafkaError) as error:
            # The partitions moved to another member, which reads from the last commit;
            # handling is idempotent, so the redelivery is harmless.
            log.warning("offset commit failed (%s); the records will be redelivered", error)


async def _stopped_within(stop: asyncio.Event, seconds: float) -> bool:
    try:
        await asyncio.wait_for(stop.wait(), seconds)
    except TimeoutError:
        return False
    return True
